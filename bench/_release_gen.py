"""The inputs of `bench/release.py`: a generated 38-flavor release at realistic size ratios, and release 1473.0 with
one 1 GiB rootfs, each with a gl-ocm `oci-layout:` copy that skopeo reads. Generated once per scale and kept in the
work directory; a `meta.json` written last marks a complete tree.

Sizes: the sample artefacts of `gl-ocm sample-artefacts`, with the large roles enlarged to realistic ratios of the
rootfs (disk images and the PXE bundle 1.3×, kernel 1/40, initrd 1/8), in random (incompressible) bytes written
streaming. A rootfs stays a valid tar (its `etc/os-release`, then one padding member); package lists, command lines,
changelogs, test logs and the container archives are the samples' own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from gardenlinux_ocm import api
from gardenlinux_ocm.spec import load_release
from gardenlinux_ocm.spec.model import Flavor, ReleaseSpec

__all__ = ["FULL_BYTES", "GIB", "Case", "prepare_gib", "prepare_release"]

REPO = Path(__file__).resolve().parents[1]
FULL_BYTES = 4 * 10**9  # the generated release at --scale 1
GIB = 1 << 30  # the large rootfs of the 1 GiB case at --scale 1
_GENERATOR = 3  # bump when the generated tree changes: cached trees of another generator are made again
_CHUNK = 1 << 20
_SAMPLE_VERSION = "1473.0"
_GIB_FLAVOR = "aws-gardener_prod-amd64"
_VERSION = "1877.0"
_COMMIT = "7d3e1a9c5b2f4e6d8a0c1b3e5f7a9c2d4e6f8a1b"
_IMAGE, _KERNEL, _INITRD = 1.3, 1 / 40, 1 / 8  # of the rootfs
# Extra cnames beside 1473.0's, in Garden Linux's naming, both architectures each: 26 + 12 = 38 flavors.
_EXTRA = {
    "aws-gardener_prod_tpm2_trustedboot": ["_tpm2", "_trustedboot"],
    "azure-gardener_prod_tpm2_trustedboot": ["_tpm2", "_trustedboot"],
    "gcp-gardener_prod_tpm2_trustedboot": ["_tpm2", "_trustedboot"],
    "kvm-gardener_prod_readonly_secureboot": ["_readonly", "_secureboot"],
    "metal-gardener_persistence_prod_readonly_secureboot": ["_persistence", "_readonly", "_secureboot"],
    "metal-gardener_prod_tpm2_trustedboot": ["_tpm2", "_trustedboot"],
}
_BASE_FEATURES = ["_nopkg", "_prod", "_slim", "base", "cloud", "gardener", "log", "sap", "server", "ssh"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One release the benchmark publishes: its spec, build output and gl-ocm layout (skopeo's source)."""

    name: str
    components: Path
    version: str
    artefacts: Path
    layout: Path
    flavors: tuple[str, ...]  # `{cname}-{arch}`, in spec order
    total_bytes: int  # of the build output
    layout_seconds: float  # the one gl-ocm publish to the layout

    @property
    def skopeo_source(self) -> str:
        """The release repository's OCI image layout (one per repository) and the release index's tag."""
        return f"oci:{self.layout / 'gardenlinux'}:{self.version}"


def _random_into(f: BinaryIO, size: int) -> None:
    while size:
        chunk = min(size, _CHUNK)
        f.write(os.urandom(chunk))
        size -= chunk


def _write_random(path: Path, size: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        _random_into(f, size)
    os.replace(tmp, path)


def _write_rootfs(path: Path, size: int) -> None:
    """A valid tar of `size` bytes (rounded down to 512): the sample's `etc/os-release`, then `usr/lib/bench/padding`
    (random bytes), member by member: a header block, the content padded to 512 bytes, two zero blocks at the end."""
    with tarfile.open(path) as sample:
        member = sample.extractfile("etc/os-release")
        assert member is not None
        os_release = member.read()
    padding = max(size - 4 * 512 - (len(os_release) + 511) // 512 * 512, 0) // 512 * 512
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        for name, length in (("etc/os-release", len(os_release)), ("usr/lib/bench/padding", padding)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = length, 0, 0o644, 0, 0
            f.write(info.tobuf(tarfile.GNU_FORMAT))
            if name == "etc/os-release":
                f.write(os_release)
            else:
                _random_into(f, length)
            f.write(b"\0" * (-length % 512))
        f.write(b"\0" * 1024)
    os.replace(tmp, path)


def _weights(spec: ReleaseSpec, flavor: Flavor) -> dict[str, float]:
    """Role -> size as a fraction of the rootfs, for the roles enlarged (initrd is added: the samples have none)."""
    images = [*spec.platform(flavor.platform).images, *(r for r in flavor.extra_roles if r == "pxe")]
    return {"rootfs": 1.0, "kernel": _KERNEL, "initrd": _INITRD, **dict.fromkeys(images, _IMAGE)}


def _realistic(spec: ReleaseSpec, scale: float) -> dict[str, dict[str, int]]:
    """Flavor -> role -> bytes: one rootfs size for every flavor, the other roles at `_weights`, the whole
    `FULL_BYTES * scale`."""
    rootfs = FULL_BYTES * scale / sum(sum(_weights(spec, f).values()) for f in spec.flavors)
    return {f.name: {role: round(rootfs * w) for role, w in _weights(spec, f).items()} for f in spec.flavors}


def _enlarge(spec: ReleaseSpec, artefacts: Path, sizes: dict[str, dict[str, int]]) -> None:
    """Rewrite the listed roles of the listed flavors at the listed sizes (random bytes; a rootfs stays a tar)."""
    for flavor in spec.flavors:
        base = spec.artefact_base_name(flavor.cname, flavor.arch)
        for role, size in sizes.get(flavor.name, {}).items():
            path = artefacts / f"{base}.{spec.role(role).suffix}"
            (_write_rootfs if role == "rootfs" else _write_random)(path, size)


def _tree_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def _cached(root: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if {k: meta.get(k) for k in wanted} == wanted else None


def _publish_layout(components: Path, version: str, artefacts: Path, layout: Path) -> float:
    cache = layout.with_name("digest-cache")  # gl-ocm's, kept out of the user's and removed
    env = {**os.environ, "GL_OCM_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gardenlinux_ocm", "publish", version, "--artefacts", str(artefacts),
                           "--components", str(components), "--to", f"oci-layout:{layout}"],
                          check=False, capture_output=True, text=True, env=env)
    shutil.rmtree(cache, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"gl-ocm publish to {layout} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def _specs_digest() -> str:
    """The shipped specs the trees are made from: a change to them makes the trees again."""
    h = hashlib.sha256()
    for name in ("gardenlinux.yaml", f"releases/{_SAMPLE_VERSION}.yaml"):
        h.update((REPO / "components" / name).read_bytes())
    return h.hexdigest()


def _prepare(name: str, root: Path, components: Path, version: str, scale: float,
             sizes: dict[str, dict[str, int]] | None, release_file: str | None) -> Case:
    """The case's tree under `root`, from the cache when its `meta.json` matches, else made again from nothing."""
    wanted = {"generator": _GENERATOR, "scale": scale, "version": version, "specs": _specs_digest()}
    meta = _cached(root, wanted)
    if meta is None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if release_file is not None:
            (root / "components" / "releases").mkdir(parents=True)
            shutil.copy(REPO / "components" / "gardenlinux.yaml", root / "components" / "gardenlinux.yaml")
            (root / "components" / "releases" / f"{version}.yaml").write_text(release_file)
            components = root / "components"
        api.sample_artefacts(components, version, root / "artefacts")
        spec = load_release(components, version)
        _enlarge(spec, root / "artefacts", _realistic(spec, scale) if sizes is None else sizes)
        seconds = _publish_layout(components, version, root / "artefacts", root / "layout")
        meta = {**wanted, "components": str(components), "total_bytes": _tree_bytes(root / "artefacts"),
                "layout_seconds": round(seconds, 2)}
        (root / "meta.json").write_text(json.dumps(meta, indent=2))
    components = Path(meta["components"])
    spec = load_release(components, version)
    return Case(name=name, components=components, version=version, artefacts=root / "artefacts",
                layout=root / "layout", flavors=tuple(f.name for f in spec.flavors),
                total_bytes=int(meta["total_bytes"]), layout_seconds=float(meta["layout_seconds"]))


def _release_file() -> str:
    """1473.0's release file with another version and commit and the `_EXTRA` cnames (features: 1473.0's shape)."""
    release = yaml.safe_load((REPO / "components" / "releases" / f"{_SAMPLE_VERSION}.yaml").read_text())
    release |= {"version": _VERSION, "commit": _COMMIT, "releaseDate": "2025-03-03T00:00:00Z"}
    for cname, flags in _EXTRA.items():
        platform = cname.split("-", 1)[0]
        features = sorted({*_BASE_FEATURES, *flags, platform})
        release["flavors"].append({"cname": cname, "architectures": ["amd64", "arm64"], "features": features})
    header = "# Generated by bench/release.py: 1473.0's flavors and six more cnames (38 flavors).\n"
    return header + yaml.safe_dump(release, sort_keys=False)


def prepare_release(workdir: Path, scale: float) -> Case:
    """The 38-flavor release, about `FULL_BYTES * scale` bytes in all."""
    return _prepare("release", workdir / f"release-{scale:g}", REPO / "components", _VERSION, scale, None,
                    _release_file())


def prepare_gib(workdir: Path, scale: float) -> Case:
    """Release 1473.0's samples with one flavor's rootfs of `GIB * scale` bytes (its other files as sampled)."""
    root = workdir / f"gib-{scale:g}"
    return _prepare("gib", root, REPO / "components", _SAMPLE_VERSION, scale,
                    {_GIB_FLAVOR: {"rootfs": int(GIB * scale)}}, None)
