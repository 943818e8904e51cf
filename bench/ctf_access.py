"""Benchmark: what a self-contained CTF costs, by reference against `--access transport` (the default of `ctf:`).

For release 1473.0 (sample artefacts, or `--artefacts DIR`), rounds interleaved, each into a fresh path:

- `publish --to ctf:….tgz --access reference` (the small CTF, which OCM's tools cannot resolve from inside);
- `publish --to ctf:….tgz --access value` (files as local blobs, manifests still by reference);
- `publish --to ctf:….tgz` (transport: every resource a local blob, OCI artefacts as artifact sets);
- the reference: `skopeo copy --all --preserve-digests` of the release index from an OCI layout of the same release
  into a fresh `oci-archive:` (one archive of the release index's graph: what any OCI tool pays to pack it), and
  `tar -czf` of that layout (the physical cost of gzipping the same bytes).

Reports wall time (median and spread over the rounds), the ratio transport / reference and each against skopeo,
and the CTF sizes.

    .venv/bin/python bench/ctf_access.py [--rounds 5] [--artefacts DIR | --rootfs-gib SCALE] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from support.release import COMPONENTS, VERSION, publish_args  # noqa: E402


def _timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, timeout=1800)
    return time.monotonic() - started


def _gl_ocm(*args: str) -> list[str]:
    return [sys.executable, "-m", "gardenlinux_ocm", *args]


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--artefacts", type=Path, help="build output of 1473.0 [default: sample artefacts]")
    parser.add_argument("--rootfs-gib", type=float, metavar="SCALE",
                        help="1473.0 with one flavor's rootfs of SCALE GiB (random bytes: gzip gains nothing)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gl-ocm-ctf-bench-") as tmp:
        work = Path(tmp)
        artefacts = args.artefacts
        if args.rootfs_gib:
            from _release_gen import prepare_gib

            artefacts = prepare_gib(work, args.rootfs_gib).artefacts
        elif artefacts is None:
            artefacts = work / "artefacts"
            subprocess.run(_gl_ocm("sample-artefacts", VERSION, "-c", str(COMPONENTS), "-o", str(artefacts)),
                           check=True, capture_output=True)
        layout = work / "layout"
        subprocess.run(_gl_ocm(*publish_args(artefacts, f"oci-layout:{layout}"), "--no-digest-cache"), check=True,
                       capture_output=True)
        times: dict[str, list[float]] = {"reference": [], "value": [], "transport": [], "skopeo": [], "tar_czf": []}
        sizes: dict[str, int] = {}
        for number in range(args.rounds):
            order = list(times)
            order = order[number % len(order):] + order[:number % len(order)]  # interleaved, rotating
            for kind in order:
                out = work / f"{kind}-{number}"
                out.mkdir()
                if kind in ("reference", "value", "transport"):
                    path = out / "gardenlinux-1473.0.tgz"
                    mode = [] if kind == "transport" else ["--access", kind]
                    argv = _gl_ocm(*publish_args(artefacts, f"ctf:{path}"), *mode, "--no-digest-cache")
                elif kind == "skopeo":
                    path = out / "release.tar"
                    argv = ["skopeo", "copy", "--all", "--preserve-digests", f"oci:{layout / 'gardenlinux'}:{VERSION}",
                            f"oci-archive:{path}:{VERSION}"]
                else:
                    path = out / "layout.tgz"
                    argv = ["tar", "-czf", str(path), "-C", str(layout), "."]
                times[kind].append(_timed(argv))
                sizes[kind] = path.stat().st_size
                shutil.rmtree(out)
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "seconds": {k: _spread(v) for k, v in times.items()},
        "bytes": sizes,
        "ratios": {
            "transport/reference time": statistics.median(times["transport"]) / statistics.median(times["reference"]),
            "transport/skopeo time": statistics.median(times["transport"]) / statistics.median(times["skopeo"]),
            "reference/skopeo time": statistics.median(times["reference"]) / statistics.median(times["skopeo"]),
            "transport/reference bytes": sizes["transport"] / sizes["reference"],
            "value/reference bytes": sizes["value"] / sizes["reference"],
        },
        "by_round": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for kind, spread in report["seconds"].items():
        print(f"{kind:>10}: {spread['median']:.2f} s (min {spread['min']:.2f}, max {spread['max']:.2f}), "
              f"{sizes[kind] / 1024:.0f} KiB")
    for name, value in report["ratios"].items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
