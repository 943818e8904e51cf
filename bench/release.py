"""Benchmark: publishing at release scale, beside `skopeo copy --all` of the same release index, from one run.

Two releases (`--only` picks one):

- `release`: a generated release of 38 flavors (1473.0's 26 and six more cnames, both architectures) at realistic
  size ratios of the rootfs (disk images 1.3×, kernel 1/40, initrd 1/8, text files as sampled), about 4 GB in all
  (`--scale` takes a fraction of it), random bytes;
- `gib`: release 1473.0's sample artefacts with the rootfs of aws-gardener_prod-amd64 replaced by 1 GiB (× `--scale`).

Both are generated once into `--workdir` (kept for the next run, with the gl-ocm `oci-layout:` copy that skopeo reads).
Each round runs, in an order that rotates from round to round, every command as its own process, each against a fresh
Debian docker-registry whose storage is on the work directory's file system:

- skopeo: `skopeo copy --all --preserve-digests` of the release index from the layout (the release repository only:
  the same flavor manifests, blobs and containers; no component versions, no per-flavor tags);
- publish: `gl-ocm publish --to 127.0.0.1:PORT`, then the same command again on the same registry (second publish),
  and once more with gl-ocm's digest cache empty (every file hashed again);
- fan-out: eight concurrent `gl-ocm publish --flavor ...` jobs, each a share of the flavors, and a `--containers` job
  beside them, then `gl-ocm assemble` (as tools/release-workflow.sh does);
- plan: `gl-ocm render`, which scans and hashes the build output and renders the descriptors (publish's work before
  its first request), without a registry.

Each gl-ocm command starts with an empty digest cache (`GL_OCM_CACHE_DIR`, under the work directory), as after a
build; only the second publish has its first publish's. Every registry command must leave the layout's release
index digest on the registry. Reported: medians, min–max, ratios to the skopeo median, the peak RSS of each process
(GNU time). Then one counted run per release through the fault proxy of the tests (no faults): requests by class for
skopeo, publish and the second publish, and the manifest bytes sent (the manifests PUT, each read back by its
reference) against the bytes of the distinct manifests stored.

    .venv/bin/python bench/release.py [--rounds 5] [--scale 1] [--only release|gib] [--jobs N] [--workdir DIR] [--json]

A quick check: `--scale 0.05 --rounds 2`. Needs docker-registry, skopeo and GNU time (Debian packages
docker-registry, skopeo, time). At full scale the work directory keeps about 10 GB (the two releases and their
layouts) and holds up to 4 GB more during a run (one registry's storage at a time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the registry fixture and the fault proxy of the tests
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _release_gen import Case, prepare_gib, prepare_release  # noqa: E402
from _release_runs import FANOUT_JOBS, GNU_TIME, Bench, Run  # noqa: E402

KINDS = ("skopeo", "publish", "fanout", "plan")
ROWS = {
    "skopeo": "skopeo copy --all",
    "publish": "gl-ocm publish",
    "fanout": f"fan-out ({FANOUT_JOBS} jobs + containers, assemble)",
    "fanout_jobs": "  the concurrent jobs",
    "assemble": "  assemble",
    "republish": "second publish",
    "republish_cold": "  the same, digest cache empty",
    "plan": "plan only (gl-ocm render)",
}
GL_OCM_ROWS = ("publish", "fanout", "republish", "republish_cold", "plan")
GOAL_RATIO = 0.8  # publish / skopeo
GOAL_RSS_MIB = 50.0
GOAL_REPUBLISH = 0.05  # second publish / first


def _index_digest(case: Case) -> str:
    index = json.loads((case.layout / "gardenlinux" / "index.json").read_text())
    return str(next(m["digest"] for m in index["manifests"]
                    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == case.version))


def _round(bench: Bench, case: Case, number: int, runs: dict[str, list[Run]]) -> None:
    """One round of a case, the kinds in the order of the round; every registry one against a fresh registry."""
    expected = _index_digest(case)
    for kind in KINDS[number % len(KINDS):] + KINDS[: number % len(KINDS)]:
        if kind == "plan":
            runs["plan"].append(bench.plan(case))
            continue
        with bench.registry() as server:
            if kind == "skopeo":
                runs["skopeo"].append(bench.skopeo(case, server.host))
            elif kind == "publish":
                with bench.digest_cache() as cache:  # empty for the first publish, its digests for the second
                    runs["publish"].append(bench.publish(case, server.host, cache))
                    bench.check(case, server, expected)
                    runs["republish"].append(bench.publish(case, server.host, cache))
                runs["republish_cold"].append(bench.publish(case, server.host))
            else:
                jobs, assemble = bench.fanout(case, server.host)
                runs["fanout_jobs"].append(jobs)
                runs["assemble"].append(assemble)
                runs["fanout"].append(Run(seconds=jobs.seconds + assemble.seconds,
                                          rss_mib=max(jobs.rss_mib, assemble.rss_mib)))
            bench.check(case, server, expected)


def _summary(runs: list[Run], skopeo: list[Run]) -> dict[str, Any]:
    """Median and spread; the ratio of the medians, and the median of the ratios of each round (the same round's
    skopeo run: steadier on a machine whose load changes)."""
    seconds = [r.seconds for r in runs]
    median = statistics.median(seconds)
    paired = statistics.median(r.seconds / s.seconds for r, s in zip(runs, skopeo, strict=True))
    return {
        "seconds": [round(s, 2) for s in seconds],
        "median_s": round(median, 2),
        "min_s": round(min(seconds), 2),
        "max_s": round(max(seconds), 2),
        "vs_skopeo": round(median / statistics.median(s.seconds for s in skopeo), 3),
        "vs_skopeo_by_round": round(paired, 3),
        "peak_rss_mib": round(max(r.rss_mib for r in runs), 1),
    }


def _report(case: Case, runs: dict[str, list[Run]], counted: dict[str, Any]) -> dict[str, Any]:
    rows = {kind: _summary(runs[kind], runs["skopeo"]) for kind in ROWS}
    publish = counted["publish"]
    return {
        "flavors": len(case.flavors),
        "bytes": case.total_bytes,
        "layout_publish_s": case.layout_seconds,
        "rows": rows,
        "republish_vs_publish": round(rows["republish"]["median_s"] / rows["publish"]["median_s"], 3),
        "manifest_bytes_sent_vs_stored": round(publish["manifest_bytes_sent"] / publish["manifest_bytes_stored"], 3),
        "counted": counted,
    }


def _goals(cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each goal of the issue: the value found and whether it holds."""
    out: dict[str, dict[str, Any]] = {}
    for name, r in cases.items():
        ratio = r["rows"]["publish"]["vs_skopeo"]
        out[f"{name}: publish / skopeo <= {GOAL_RATIO}"] = {"value": ratio, "ok": ratio <= GOAL_RATIO}
        again = r["republish_vs_publish"]
        out[f"{name}: second publish / first <= {GOAL_REPUBLISH}"] = {"value": again, "ok": again <= GOAL_REPUBLISH}
        sent = r["manifest_bytes_sent_vs_stored"]
        out[f"{name}: manifest bytes sent / stored = 1"] = {"value": sent, "ok": sent == 1.0}
    rss = max(r["rows"][k]["peak_rss_mib"] for r in cases.values() for k in GL_OCM_ROWS)
    out[f"peak RSS of any gl-ocm process <= {GOAL_RSS_MIB:g} MiB"] = {"value": rss, "ok": rss <= GOAL_RSS_MIB}
    return out


def _print(report: dict[str, Any]) -> None:
    print(f"{report['rounds']} interleaved rounds, scale {report['scale']:g}, gl-ocm {report['jobs']}")
    for name, r in report["cases"].items():
        print(f"\n{name}: {r['flavors']} flavors, {r['bytes'] / 1e9:.2f} GB; "
              f"publish to oci-layout (once, skopeo's source) {r['layout_publish_s']:.1f} s")
        print(f"{'command':44} {'median':>8} {'min–max':>15} {'÷ skopeo':>9} {'by round':>9} {'peak RSS':>10}")
        for kind, label in ROWS.items():
            row = r["rows"][kind]
            spread = f"{row['min_s']:.2f}–{row['max_s']:.2f}"
            print(f"{label:44} {row['median_s']:7.2f}s {spread:>15} {row['vs_skopeo']:9.3f} "
                  f"{row['vs_skopeo_by_round']:9.3f} {row['peak_rss_mib']:6.1f} MiB")
        for what, c in r["counted"].items():
            requests = ", ".join(f"{k} {n}" for k, n in c["requests"].items())
            print(f"  requests, {what}: {requests}")
            print(f"    manifests PUT {c['manifest_puts']} ({c['manifest_bytes_sent']:,} B) for "
                  f"{c['manifests_stored']} stored ({c['manifest_bytes_stored']:,} B)")
            for refs in c["repeated"]:
                print(f"    PUT more than once: {refs}")
            if c["stats"]:
                print("    " + ", ".join(f"{k} {v}" for k, v in c["stats"].items()))
    print("\ngoals:")
    for goal, g in report["goals"].items():
        print(f"  {'ok  ' if g['ok'] else 'MISS'} {goal}: {g['value']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size (4 GB, 1 GiB)")
    parser.add_argument("--only", choices=("release", "gib"), default=None)
    parser.add_argument("--jobs", type=int, default=None, help="gl-ocm --jobs (default: gl-ocm's default)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "gl-ocm-bench-release")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for tool in ("docker-registry", "skopeo", GNU_TIME):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH (Debian packages docker-registry, skopeo, time)")
    if not 0 < args.scale <= 4 or args.rounds < 1:
        raise SystemExit("--scale must be within (0, 4] and --rounds at least 1")
    workdir = args.workdir.resolve()
    prepare = {"release": prepare_release, "gib": prepare_gib}
    cases = [prepare[n](workdir, args.scale) for n in prepare if args.only in (None, n)]
    bench = Bench(workdir, args.jobs)
    runs: dict[str, dict[str, list[Run]]] = {c.name: {kind: [] for kind in ROWS} for c in cases}
    for number in range(args.rounds):
        for case in cases[number % len(cases):] + cases[: number % len(cases)]:
            _round(bench, case, number, runs[case.name])
    counted = {c.name: {k: dataclasses.asdict(v) for k, v in bench.counted(c, _index_digest(c)).items()}
               for c in cases}
    reports = {c.name: _report(c, runs[c.name], counted[c.name]) for c in cases}
    report = {"rounds": args.rounds, "scale": args.scale,
              "jobs": f"--jobs {args.jobs}" if args.jobs else "default --jobs",
              "cases": reports, "goals": _goals(reports)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)


if __name__ == "__main__":
    main()
