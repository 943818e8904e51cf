"""Read a container image from an OCI archive (an OCI image layout packed as an uncompressed tar) without unpacking.

Blobs are served as byte ranges of the archive file, so a multi-GiB layer is streamed, never read into memory.
"""

from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path
from typing import Any

from ..errors import InventoryError
from ..oci.model import INDEX_MEDIA_TYPES, Descriptor, Platform, parse_descriptor

__all__ = ["FileRange", "ContainerArchive", "read_container_archive"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FileRange:
    """`size` bytes of `path` starting at `offset`."""

    path: Path
    offset: int
    size: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerArchive:
    """One image of an archive: its manifest (bytes and descriptor with platform) and where each blob lies."""

    path: Path
    manifest: Descriptor
    manifest_bytes: bytes
    platform: Platform
    blobs: tuple[tuple[Descriptor, FileRange], ...]  # config and layers


def _member_json(tar: tarfile.TarFile, name: str, path: Path, limit: int = 4 << 20) -> Any:
    try:
        member = tar.getmember(name)
    except KeyError as e:
        raise InventoryError(f"{path}: not an OCI archive: it has no {name}") from e
    if member.size > limit:
        raise InventoryError(f"{path}: {name} is {member.size} bytes, more than a manifest can be")
    f = tar.extractfile(member)
    if f is None:
        raise InventoryError(f"{path}: {name} is not a regular file")
    try:
        return json.loads(f.read())
    except json.JSONDecodeError as e:
        raise InventoryError(f"{path}: {name} is not valid JSON: {e}") from e


def _blob_name(desc: Descriptor) -> str:
    algo, hex_ = desc.digest.split(":", 1)
    return f"blobs/{algo}/{hex_}"


def read_container_archive(path: Path, arch: str) -> ContainerArchive:
    """Find the image for `arch` in an OCI archive; errors name the archive and what is missing."""
    try:
        # Uncompressed only: blobs are served as byte ranges of the archive.
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115  # closed by the `with tar` below
    except (tarfile.TarError, OSError) as e:
        raise InventoryError(f"{path}: not an uncompressed OCI archive (tar): {e}") from e
    with tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        index = _member_json(tar, "index.json", path) if "index.json" in members else None
        if index is None:
            raise InventoryError(f"{path}: not an OCI archive: it has no index.json")

        def load(desc: Descriptor) -> bytes:
            m = members.get(_blob_name(desc))
            if m is None:
                raise InventoryError(f"{path}: blob {desc.digest} is listed but not in the archive")
            if m.size != desc.size:
                raise InventoryError(f"{path}: blob {desc.digest} has {m.size} bytes, its descriptor says {desc.size}")
            f = tar.extractfile(m)
            assert f is not None
            return f.read()

        candidates = [parse_descriptor(d) for d in index.get("manifests", [])]
        # Follow nested indexes (a multi-arch archive) down to image manifests.
        manifests: list[Descriptor] = []
        while candidates:
            d = candidates.pop(0)
            if d.media_type in INDEX_MEDIA_TYPES:
                candidates.extend(parse_descriptor(x) for x in json.loads(load(d)).get("manifests", []))
            else:
                manifests.append(d)
        found: list[str] = []
        for desc in manifests:
            manifest_bytes = load(desc)
            manifest = json.loads(manifest_bytes)
            config = parse_descriptor(manifest["config"])
            cfg = json.loads(load(config))
            platform = Platform(architecture=cfg.get("architecture", ""), os=cfg.get("os", ""))
            if platform.architecture != arch:
                found.append(platform.architecture or "unknown")
                continue
            blobs = []
            for b in [config, *(parse_descriptor(x) for x in manifest.get("layers", []))]:
                m = members.get(_blob_name(b))
                if m is None or m.size != b.size:
                    raise InventoryError(f"{path}: layer {b.digest} is missing or has the wrong size")
                blobs.append((b.bare(), FileRange(path=path, offset=m.offset_data, size=m.size)))
            media_type = manifest.get("mediaType") or desc.media_type
            return ContainerArchive(
                path=path,
                manifest=Descriptor(media_type=media_type, digest=desc.digest, size=desc.size, platform=platform),
                manifest_bytes=manifest_bytes,
                platform=platform,
                blobs=tuple(blobs),
            )
    raise InventoryError(f"{path}: holds no image for architecture {arch} (found: {', '.join(found) or 'none'})")
