"""Small deterministic build outputs for every flavor and container of a release, so the whole pipeline runs
without a Garden Linux build. The container archives hold a real (tiny) OCI image that skopeo and umoci accept."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from ..oci.model import MediaType, canonical_json, descriptor_for
from ..spec.model import Container, Flavor, ReleaseSpec

__all__ = ["write_samples", "flavor_files", "container_files", "container_image_members", "deterministic_tar"]

_MTIME = 0
_SIZES = {
    "raw": 16384,
    "qcow2": 12288,
    "vhd": 16384,
    "vmdk": 12288,
    "ova": 12288,
    "gcpimage": 8192,
    "pxe": 8192,
    "kernel": 2048,
    "initrd": 4096,
    "uki": 4096,
    "sbom": 1024,
}


def _noise(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes: a SHA-256 chain over the seed."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def deterministic_tar(files: list[tuple[str, bytes]]) -> bytes:
    """A POSIX tar with fixed metadata (mtime 0, root-owned), so the same files give the same bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), _MTIME, 0o644, 0, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _os_release(spec: ReleaseSpec, cname: str, arch: str, features: tuple[str, ...]) -> bytes:
    return (
        'ID=gardenlinux\nNAME="Garden Linux"\n'
        f'PRETTY_NAME="Garden Linux {spec.version}"\n'
        'HOME_URL="https://gardenlinux.io"\n'
        f"GARDENLINUX_CNAME={cname}-{arch}-{spec.version}\n"
        f"GARDENLINUX_FEATURES={','.join(features)}\n"
        f"GARDENLINUX_VERSION={spec.version}\n"
        f"GARDENLINUX_COMMIT_ID={spec.commit_short}\n"
        f"GARDENLINUX_COMMIT_ID_LONG={spec.commit}\n"
    ).encode()


def _content(spec: ReleaseSpec, flavor: Flavor, role: str) -> bytes:
    base = spec.artefact_base_name(flavor.cname, flavor.arch)
    os_release = _os_release(spec, flavor.cname, flavor.arch, flavor.features)
    match role:
        case "rootfs":
            return deterministic_tar([("etc/os-release", os_release), ("boot/vmlinuz", _noise(base + "kernel", 512))])
        case "release-metadata":
            return os_release
        case "package-list":
            return f"base-files {spec.version}\nbash 5.2.21-2\nlinux-image-cloud-{flavor.arch} 6.6.0-0gl0\n".encode()
        case "cmdline":
            return f"console=tty0 console=ttyS0 ro consoleblank=0 gl.flavor={flavor.name}\n".encode()
        case "changelog":
            return f"# Garden Linux {spec.version}\n\n- {flavor.name}: sample changelog for {base}\n".encode()
        case "testlog":
            return f"{base}: platform tests\n PASSED test_boot\n PASSED test_users\n".encode()
        case "sbom":
            return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                               "metadata": {"component": {"type": "operating-system", "name": base}},
                               "components": [{"type": "library", "name": "bash", "version": "5.2.21-2"}]},
                              sort_keys=True, indent=2).encode() + b"\n"
        case _:
            return _noise(f"{base}.{role}", _SIZES.get(role, 1024))


def flavor_files(spec: ReleaseSpec, flavor: Flavor) -> dict[str, bytes]:
    """File name -> content for one flavor: the required roles, the platform's images and the flavor's extras."""
    roles = [
        *spec.required_roles,
        *spec.platform(flavor.platform).images,
        *flavor.extra_roles,
        "release-metadata",
        "package-list",
    ]
    base = spec.artefact_base_name(flavor.cname, flavor.arch)
    out: dict[str, bytes] = {}
    for role in dict.fromkeys(roles):
        out[f"{base}.{spec.role(role).suffix}"] = _content(spec, flavor, role)
    return out


def container_image_members(spec: ReleaseSpec, container: Container) -> list[tuple[str, bytes]]:
    """The members of a sample OCI archive, in archive order: `oci-layout`, `index.json` and the blobs of one image
    (its manifest, its config and a gzip rootfs layer). `deterministic_tar` packs them."""
    os_release = _os_release(spec, container.cname, container.arch, ("base", "container", "_slim"))
    layer_tar = deterministic_tar([("etc/os-release", os_release), ("etc/hostname", b"gardenlinux\n")])
    layer = gzip.compress(layer_tar, mtime=0)
    config = canonical_json(
        {
            "architecture": container.arch,
            "os": "linux",
            "created": spec.release_date,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"org.opencontainers.image.version": spec.version},
            },
            "rootfs": {"type": "layers", "diff_ids": [descriptor_for(layer_tar, "").digest]},
        }
    )
    config_desc = descriptor_for(config, MediaType.OCI_CONFIG)
    layer_desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR_GZIP)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": config_desc.to_dict(),
            "layers": [layer_desc.to_dict()],
        }
    )
    manifest_desc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "manifests": [
                manifest_desc.with_annotations({"org.opencontainers.image.ref.name": spec.version}).to_dict()
            ],
        }
    )
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    files += [
        (f"blobs/sha256/{d.hex}", b) for d, b in [(manifest_desc, manifest), (config_desc, config), (layer_desc, layer)]
    ]
    return files


def container_files(spec: ReleaseSpec, container: Container) -> dict[str, bytes]:
    """The OCI archive where the spec expects it and, for a container named by the ADR 0035 scheme, its package
    list (the bare images' build writes the archive alone, as `bare_flavors/<name>-<arch>.oci`)."""
    files = {spec.container_archive(container): deterministic_tar(container_image_members(spec, container))}
    if container.archive is None:
        base = spec.artefact_base_name(container.cname, container.arch)
        files[f"{base}.manifest"] = f"base-files {spec.version}\nbash 5.2.21-2\n".encode()
    return files


def write_samples(spec: ReleaseSpec, out: Path) -> list[Path]:
    """Write the sample build output of a release into `out` (atomically per file); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for f in spec.flavors:
        files |= flavor_files(spec, f)
    for c in spec.containers:
        files |= container_files(spec, c)
    written = []
    for name, data in sorted(files.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(path)
    return written
