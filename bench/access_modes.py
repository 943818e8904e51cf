"""Measurement: what the OCM repository holds by reference and by value, artefacts and component versions apart.

Publishes release 1473.0 (sample artefacts, or `--artefacts DIR`) with the CLI, in its own process, to two fresh
registries (Debian's docker-registry): the OCI artefacts to the first, the component versions to the second
(`--ocm-repository`), once with `--access reference` and once with `--access value`. Per mode: wall time, the bytes
each registry stores on disk, and the size of the three component version manifests. Then a `gl-ocm copy` of the
OCM repository to a third registry, which re-points nothing (the accesses name the artefact registry).

    .venv/bin/python bench/access_modes.py [--artefacts DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the registry fixture of the tests

from gardenlinux_ocm import api  # noqa: E402
from gardenlinux_ocm.ocm.fetch import fetch_component  # noqa: E402
from gardenlinux_ocm.targets import open_source  # noqa: E402
from support.registry import RegistryServer  # noqa: E402
from support.release import COMPONENTS, VERSION, publish_args  # noqa: E402

COMPONENT_NAMES = ("github.com/gardenlinux/gardenlinux", "github.com/gardenlinux/gardenlinux/cloud-images",
                   "github.com/gardenlinux/gardenlinux/container-images")


def _stored(registry: RegistryServer) -> int:
    return sum(p.stat().st_size for p in registry.storage.rglob("*") if p.is_file())


def _gl_ocm(*args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "gardenlinux_ocm", *args], check=True, capture_output=True, timeout=900)
    return time.monotonic() - started


def _mode(artefacts: Path, mode: str) -> dict[str, Any]:
    with RegistryServer() as art, RegistryServer() as ocm, RegistryServer() as mirror:
        seconds = _gl_ocm(*publish_args(artefacts, f"{art.host}/gardenlinux", "--ocm-repository",
                                        f"{ocm.host}/releases", "--access", mode))
        target = open_source(f"{ocm.host}/releases")
        layers = {name: fetch_component(target, name, VERSION).layers for name in COMPONENT_NAMES}
        copy_seconds = _gl_ocm("copy", f"{ocm.host}/releases", f"{mirror.host}/releases")
        return {
            "mode": mode,
            "publish_s": seconds,
            "artefact_registry_bytes": _stored(art),
            "ocm_registry_bytes": _stored(ocm),
            "local_blob_layers": sum(len(v) for v in layers.values()),
            "local_blob_bytes": sum(d.size for v in layers.values() for d in v),
            "copy_ocm_repository_s": copy_seconds,
            "mirror_bytes": _stored(mirror),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artefacts", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    artefacts = args.artefacts
    if artefacts is None:
        artefacts = Path(tempfile.mkdtemp(prefix="gl-ocm-bench-")) / VERSION
        api.sample_artefacts(COMPONENTS, VERSION, artefacts)
    rows = [_mode(artefacts, mode) for mode in ("reference", "value")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['mode']:>9}: publish {r['publish_s']:.1f} s; artefact registry {r['artefact_registry_bytes']:,} B, "
              f"OCM registry {r['ocm_registry_bytes']:,} B ({r['local_blob_layers']} local blobs, "
              f"{r['local_blob_bytes']:,} B); copy of the OCM repository {r['copy_ocm_repository_s']:.1f} s, "
              f"{r['mirror_bytes']:,} B")


if __name__ == "__main__":
    main()
