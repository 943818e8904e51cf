"""Benchmark: `gl-ocm publish` of release 1473.0 through a fault-injecting proxy, per fault rate and kind.

Each run starts a fresh registry and a fresh proxy, and publishes the sample artefacts with the CLI in its own process
(default retry policy, `--jobs 4`). The proxy gives each request a fault with the given probability, drawn from the
chosen kinds: 500, 503, 429 with Retry-After, connection resets, truncated answers. A run is complete when the CLI
exits 0 and every tag resolves, directly on the registry, to the digest of the plan. Per row: runs, complete,
median and max wall time, the median against the clean median, and the faults injected.

    .venv/bin/python bench/registry_faults.py [--runs 6] [--rates 0,0.05,0.2,0.4] [--kinds all,no-truncate]
        [--retry-after 1] [--timeout 900] [--json]

Kinds: all, no-truncate, truncate-only, no-429.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the registry fixture and the fault proxy of the tests

from gardenlinux_ocm import api  # noqa: E402
from gardenlinux_ocm.oci.registry import RegistryTarget  # noqa: E402
from gardenlinux_ocm.plan.model import ReleasePlan  # noqa: E402
from gardenlinux_ocm.targets import addressing_for  # noqa: E402
from support.fault_proxy import Fault, FaultKind, FaultProxy, chaos_faults  # noqa: E402
from support.registry import RegistryServer  # noqa: E402
from support.release import COMPONENTS, VERSION, publish_args  # noqa: E402


def _kinds(name: str, retry_after: int) -> tuple[Fault, ...]:
    every = chaos_faults(retry_after)
    if name == "all":
        return every
    if name == "no-truncate":
        return tuple(f for f in every if f.kind is not FaultKind.TRUNCATE)
    if name == "truncate-only":
        return tuple(f for f in every if f.kind is FaultKind.TRUNCATE)
    if name == "no-429":
        return tuple(f for f in every if f.status != 429 or f.kind is not FaultKind.ERROR)
    raise SystemExit(f"unknown kinds {name!r}: all, no-truncate, truncate-only, no-429")


def _complete(host: str, plan: ReleasePlan) -> bool:
    target = RegistryTarget(base=f"{host}/bench", credentials=lambda h: None)
    try:
        return all(target.resolve(r.repository, t).digest == r.descriptor.digest for r in plan.roots for t in r.tags)
    except Exception:  # noqa: BLE001 - anything missing or unreadable means incomplete
        return False
    finally:
        target.close()


def _run(artefacts: Path, rate: float, kinds: tuple[Fault, ...], seed: int, timeout: float) -> dict[str, Any]:
    with RegistryServer() as registry, FaultProxy(registry.url) as proxy:
        proxy.set_chaos(rate, kinds, seed=seed)
        # the proxy is only the way in: the descriptors name the registry itself
        base = f"{registry.host}/bench"
        _, plan = api.plan_release(COMPONENTS, VERSION, artefacts, addressing_for(base))
        command = [sys.executable, "-m", "gardenlinux_ocm",
                   *publish_args(artefacts, f"{proxy.host}/bench", "--reference-base", base)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GL_OCM_REGISTRY_")}
        started = time.monotonic()
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
            code, tail = proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            code, tail = -1, f"timed out after {timeout:.0f} s"
        elapsed = time.monotonic() - started
        injected = len(proxy.injected)
        requests = proxy.count()
        complete = code == 0 and _complete(registry.host, plan)
    return {
        "seconds": elapsed,
        "exit": code,
        "complete": complete,
        "injected": injected,
        "requests": requests,
        "last_line": "" if code == 0 else tail[:200],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--rates", default="0,0.05,0.2,0.4")
    parser.add_argument("--kinds", default="all", help="comma-separated: all, no-truncate, truncate-only, no-429")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of injected 429s (seconds)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a run counts as hung")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    artefacts = Path(tempfile.mkdtemp(prefix="gl-ocm-bench-")) / VERSION
    api.sample_artefacts(COMPONENTS, VERSION, artefacts)
    rows: list[dict[str, Any]] = []
    clean: float | None = None
    for kinds_name in args.kinds.split(","):
        kinds = _kinds(kinds_name, args.retry_after)
        for rate in (float(r) for r in args.rates.split(",")):
            if rate == 0 and rows and any(r["rate"] == 0 for r in rows):
                continue
            runs = [_run(artefacts, rate, kinds, seed, args.timeout) for seed in range(args.runs)]
            times = [r["seconds"] for r in runs if r["complete"]]
            median = statistics.median(times) if times else None
            if rate == 0 and median is not None:
                clean = median
            row = {
                "kinds": "none" if rate == 0 else kinds_name,
                "rate": rate,
                "retry_after": args.retry_after,
                "runs": len(runs),
                "complete": sum(r["complete"] for r in runs),
                "median_s": median,
                "max_s": max(times) if times else None,
                "vs_clean": (median / clean) if median is not None and clean else None,
                "faults_median": statistics.median(r["injected"] for r in runs),
                "requests_median": statistics.median(r["requests"] for r in runs),
                "failures": [r["last_line"] for r in runs if not r["complete"]],
            }
            rows.append(row)
            if not args.json:
                ratio = f"{row['vs_clean']:.2f}x" if row["vs_clean"] else "-"
                shown = f"{median:.1f} s (max {row['max_s']:.1f})" if median is not None else "-"
                print(
                    f"{row['kinds']:>13} {rate:5.0%}  {row['complete']}/{row['runs']} complete  median {shown}  "
                    f"{ratio} clean  ~{row['faults_median']:.0f} faults in ~{row['requests_median']:.0f} requests",
                    flush=True,
                )
                for failure in row["failures"]:
                    print(f"{'':>21}failed: {failure}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
