"""Benchmark: publish a 1 GiB artefact to a local registry, beside skopeo and curl, from one run.

Each measured command runs as its own process against a fresh registry (so nothing is mounted or skipped), and its
wall time and peak RSS come from os.wait4. Rounds are interleaved; the medians and the ratios are printed, as JSON
with --json. Then release 1473.0's sample artefacts are published twice to one registry: the second run must send
0 bytes.

    .venv/bin/python bench/publish_blob.py [--size-mib 1024] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_GNU_TIME = "/usr/bin/time"
sys.path.insert(0, str(REPO / "tests"))  # the registry fixture of the tests: one way to start docker-registry

from gardenlinux_ocm.artefacts.archive import FileRange  # noqa: E402
from gardenlinux_ocm.artefacts.inventory import file_digest  # noqa: E402
from gardenlinux_ocm.oci.model import MediaType, canonical_json, descriptor_for  # noqa: E402
from gardenlinux_ocm.plan.model import Content, ReleasePlan, Root, RootKind  # noqa: E402
from support.registry import RegistryServer  # noqa: E402


def _image(blob: Path, digest: str, size: int) -> tuple[bytes, bytes]:
    config = canonical_json(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest]}}
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": descriptor_for(config, MediaType.OCI_CONFIG).to_dict(),
            "layers": [{"mediaType": MediaType.OCI_LAYER_TAR, "digest": digest, "size": size}],
        }
    )
    return config, manifest


def child_ours(blob: Path, host: str) -> None:
    """What `gl-ocm publish` does for one artefact: hash it (one streaming pass), stream it up, manifest, tag."""
    from gardenlinux_ocm import api
    from gardenlinux_ocm.targets import open_target

    digest, size = file_digest(blob)
    config, manifest = _image(blob, digest, size)
    mdesc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    plan = ReleasePlan(
        version="1",
        contents={
            digest: Content(range=FileRange(path=blob, offset=0, size=size)),
            descriptor_for(config, "").digest: Content(data=config),
            mdesc.digest: Content(data=manifest),
        },
        roots=(Root(repository="bench/ours", descriptor=mdesc, tags=("1",), kind=RootKind.FLAVOR, label="blob"),),
        components=(),
    )
    result = api.publish(plan, open_target(host))
    assert result.stats.bytes_pushed >= size


def _measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of one command. GNU time reports the RSS of the command itself; a child forked
    from this Python process would otherwise start with (and report) this process's resident pages."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(
            [_GNU_TIME, "-f", "%M", "-o", rss.name, *cmd],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
        return wall, int(Path(rss.name).read_text().split()[-1]) / 1024  # KiB -> MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child-ours", nargs=2, metavar=("BLOB", "HOST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ours:
        child_ours(Path(args.child_ours[0]), args.child_ours[1])
        return
    for tool in ("docker-registry", "skopeo", "curl", _GNU_TIME):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH (Debian packages docker-registry, skopeo, curl, time)")

    with tempfile.TemporaryDirectory(prefix="gl-ocm-bench-") as tmp:
        work = Path(tmp)
        blob = work / "blob.bin"
        with blob.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        digest, size = file_digest(blob)
        config, manifest = _image(blob, digest, size)
        layout = work / "layout"
        (layout / "blobs" / "sha256").mkdir(parents=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        for data in (config, manifest):
            (layout / "blobs" / "sha256" / descriptor_for(data, "").hex).write_bytes(data)
        os.link(blob, layout / "blobs" / "sha256" / digest.split(":")[1])
        mdesc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
        (layout / "index.json").write_bytes(
            canonical_json(
                {
                    "schemaVersion": 2,
                    "manifests": [mdesc.with_annotations({"org.opencontainers.image.ref.name": "1"}).to_dict()],
                }
            )
        )
        curl_script = (
            'loc=$(curl -fsS -X POST -D - -o /dev/null "http://$1/v2/bench/curl/blobs/uploads/" '
            "| tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); "
            'case "$loc" in http*) ;; *) loc="http://$1$loc";; esac; '
            'curl -fsS -T "$2" -H "Content-Type: application/octet-stream" "$loc&digest=$3" -o /dev/null'
        )
        env = {**os.environ, "TMPDIR": str(work)}
        cache = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")
        results: dict[str, list[tuple[float, float]]] = {"gl-ocm": [], "skopeo": [], "curl": []}
        for _ in range(args.rounds):
            for name in results:
                with RegistryServer("anonymous") as reg:
                    if name == "gl-ocm":
                        cmd = [sys.executable, __file__, "--child-ours", str(blob), reg.host]
                    elif name == "skopeo":
                        cache.unlink(missing_ok=True)  # else skopeo remembers the blob and mounts it
                        cmd = [
                            "skopeo",
                            "copy",
                            "--preserve-digests",
                            "--dest-tls-verify=false",
                            f"oci:{layout}:1",
                            f"docker://{reg.host}/bench/skopeo:1",
                        ]
                    else:
                        cmd = ["bash", "-c", curl_script, "curl", reg.host, str(blob), digest]
                    results[name].append(_measure(cmd, env))

        with RegistryServer("anonymous") as reg:
            second = _republish(work, reg.host)

    med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in results.items()}
    report = {
        "size_mib": args.size_mib,
        "rounds": args.rounds,
        "seconds": {k: round(v[0], 2) for k, v in med.items()},
        "peak_rss_mib": {k: round(v[1], 1) for k, v in med.items()},
        "time_ratio_vs_skopeo": round(med["gl-ocm"][0] / med["skopeo"][0], 3),
        "time_ratio_vs_curl": round(med["gl-ocm"][0] / med["curl"][0], 3),
        "republish_1473_bytes_pushed": second,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"publish {args.size_mib} MiB to a local docker-registry, median of {args.rounds} interleaved rounds")
    print(f"{'client':10} {'seconds':>8} {'peak RSS MiB':>13}")
    for k, (wall, rss) in med.items():
        print(f"{k:10} {wall:8.2f} {rss:13.1f}")
    print(f"gl-ocm / skopeo time: {report['time_ratio_vs_skopeo']}  (target <= 1.1)")
    print(f"gl-ocm / curl time:   {report['time_ratio_vs_curl']}")
    print(f"gl-ocm peak RSS:      {report['peak_rss_mib']['gl-ocm']} MiB  (target <= 100)")
    print(f"1473.0 sample artefacts published a second time: {second} bytes pushed (target 0)")


def _republish(work: Path, host: str) -> int:
    from gardenlinux_ocm import api
    from gardenlinux_ocm.targets import open_target

    components = REPO / "components"
    artefacts = work / "artefacts"
    api.sample_artefacts(components, "1473.0", artefacts)
    _, plan = api.plan_release(components, "1473.0", artefacts)
    first = api.publish(plan, open_target(host))
    assert first.stats.bytes_pushed > 0
    return api.publish(plan, open_target(host)).stats.bytes_pushed


if __name__ == "__main__":
    main()
