"""Read and check a container image from an OCI archive (an OCI image layout packed as an uncompressed tar).

Everything is checked before anything is written: the tar structure (no truncated, escaping or duplicate members, no
links or special files in the layout, no oversized headers), every blob (size and SHA-256, hashed once in bounded
chunks), and the JSON of `oci-layout`, `index.json`, the manifests and the configs (fields, media types, digests).
Blobs are then served as byte ranges of the archive file, so a multi-GiB layer is streamed, never read into memory.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from ..errors import InventoryError
from ..oci.model import INDEX_MEDIA_TYPES, Descriptor, Platform, parse_descriptor, sha256_digest
from ._archive_json import blob_name, check_config, check_index, check_layout, check_manifest, loads
from ._files import open_regular

if TYPE_CHECKING:
    from .digests import Digests

__all__ = ["FileRange", "ContainerArchive", "ArchiveError", "read_container_archive"]

_MAX_JSON = 4 << 20
_CHUNK = 1 << 20
_MAX_HEADER = 1 << 20  # pax and long-name headers; real ones hold a few hundred bytes
_BLOB_NAME = re.compile(r"^blobs/sha256/[a-f0-9]{64}$")
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"\xfd7zXZ": "xz", b"BZh": "bzip2"}
_HINT = "nothing was published; save the image again (podman save --format oci-archive) or rebuild it"


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
    blobs: tuple[tuple[Descriptor, FileRange], ...]  # config and layers, each checked against its digest


class ArchiveError(InventoryError):
    """An OCI archive is broken: `problems` names each member or blob and what is wrong with it."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"{path}: {self.problems[0]}"
        else:
            message = f"{path}: {len(self.problems)} problems:\n  " + "\n  ".join(self.problems)
        super().__init__(message, hint=_HINT)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Member:
    name: str
    offset: int  # of the data, in the archive file
    size: int


class _HeaderLimit(io.RawIOBase):
    """The archive as `tarfile` reads its headers. tarfile reads a pax or long-name header whole, so a corrupt size
    field would pull gigabytes into memory; a read beyond `_MAX_HEADER` fails instead (member data is only seeked)."""

    def __init__(self, f: io.BufferedReader) -> None:
        super().__init__()
        self._f = f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > _MAX_HEADER:
            raise tarfile.ReadError(f"a tar header claims {size} bytes, more than any header needs")
        return self._f.read(size)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()


def _in_layout(name: str) -> bool:
    """Whether a member belongs to the OCI image layout (what this module reads)."""
    return name in ("oci-layout", "index.json") or name.startswith("blobs/")


def _kind(info: tarfile.TarInfo) -> str:
    if info.issparse():
        return "a sparse file"
    if info.issym():
        return f"a symbolic link (to {info.linkname})"
    if info.islnk():
        return f"a hard link (to {info.linkname})"
    if info.ischr() or info.isblk():
        return "a device"
    if info.isfifo():
        return "a FIFO"
    return f"a tar member of type {info.type!r}"


def _not_a_tar(f: io.BufferedReader, error: Exception) -> str:
    f.seek(0)
    head = f.read(6)
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return f"is {name}-compressed; an OCI archive is an uncompressed tar (podman save --format oci-archive)"
    if "unexpected end of data" in str(error):
        return "is truncated: the tar ends inside a member (unexpected end of data)"
    if not head:
        return "is empty (0 bytes), not an OCI archive"
    return f"is not an uncompressed OCI archive (a tar): {error}"


def _members(f: io.BufferedReader) -> tuple[dict[str, _Member], list[str]]:
    """Every regular file of the archive by normalised name, and the problems of the tar structure."""
    size = os.fstat(f.fileno()).st_size
    try:
        with tarfile.open(fileobj=cast(BinaryIO, _HeaderLimit(f)), mode="r:") as tar:
            infos = tar.getmembers()
    except (tarfile.TarError, EOFError) as e:
        return {}, [_not_a_tar(f, e)]
    members: dict[str, _Member] = {}
    seen: set[str] = set()
    problems: list[str] = []
    for info in infos:
        name = info.name
        while name.startswith("./"):
            name = name[2:]
        name = name.rstrip("/")
        if name in ("", "."):
            continue
        if name.startswith("/") or ".." in name.split("/"):
            problems.append(f"member {info.name!r} escapes the archive (an absolute path or '..')")
            continue
        if info.isdir():
            continue
        if name in seen:
            problems.append(f"member {name} appears more than once; which copy counts is ambiguous")
            continue
        seen.add(name)
        if not _in_layout(name):
            continue  # never read: e.g. the legacy manifest.json and layer links that `docker save` adds
        if not info.isreg() or info.issparse():
            problems.append(f"member {name} is {_kind(info)}; the OCI image layout holds only regular files")
            continue
        if info.offset_data + info.size > size:
            problems.append(
                f"member {name} is truncated: it needs {info.size} bytes from offset {info.offset_data}, "
                f"the archive ends at byte {size}"
            )
            continue
        if name.startswith("blobs/") and not _BLOB_NAME.match(name):
            problems.append(f"member {name} is not named blobs/sha256/<64 hex digits> (only sha256 is supported)")
            continue
        members[name] = _Member(name=name, offset=info.offset_data, size=info.size)
    return members, problems


def _hash_blobs(f: io.BufferedReader, members: dict[str, _Member]) -> dict[str, str]:
    """Hash every blob once, in archive order and bounded chunks; returns what is wrong, by member name."""
    bad: dict[str, str] = {}
    buf = memoryview(bytearray(_CHUNK))
    for m in sorted((m for m in members.values() if m.name.startswith("blobs/")), key=lambda m: m.offset):
        f.seek(m.offset)
        h = hashlib.sha256()
        left = m.size
        while left and (n := f.readinto(buf[: min(_CHUNK, left)])):
            h.update(buf[:n])
            left -= n
        got = "sha256:" + h.hexdigest()
        if left:
            bad[m.name] = f"truncated: {m.size - left} of its {m.size} bytes are there"
        elif got != "sha256:" + m.name.rsplit("/", 1)[1]:
            bad[m.name] = f"its content hashes to {got}; the archive is corrupt or was tampered with"
    return bad


def _read(f: io.BufferedReader, m: _Member) -> bytes:
    f.seek(m.offset)
    return f.read(m.size)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Image:
    manifest: Descriptor
    manifest_bytes: bytes
    platform: Platform
    blobs: tuple[tuple[Descriptor, int], ...]  # config and layers, with the offset of their data


class _Checker:
    """One pass over an archive whose members are known and whose blobs are hashed: collects every problem."""

    def __init__(self, f: io.BufferedReader, members: dict[str, _Member], bad: dict[str, str]) -> None:
        self._f, self._members, self._bad = f, members, bad
        self._reported: set[str] = set()
        self.problems: list[str] = []

    def unreferenced(self) -> list[str]:
        """The corrupt blobs that nothing referenced (so no problem named them yet)."""
        return [
            f"blob {n.replace('blobs/sha256/', 'sha256:')}: {w}"
            for n, w in self._bad.items()
            if n not in self._reported
        ]

    def _json(self, m: _Member, what: str) -> tuple[bytes, dict[str, Any] | None]:
        if m.size > _MAX_JSON:
            self.problems.append(f"{what} is {m.size} bytes, more than a JSON document may be ({_MAX_JSON >> 20} MiB)")
            return b"", None
        data = _read(self._f, m)
        obj, problem = loads(data, what)
        if problem:
            self.problems.append(problem)
        return data, obj

    def member_json(self, name: str) -> dict[str, Any] | None:
        m = self._members.get(name)
        if m is None:
            self.problems.append(f"has no {name}, so it is not an OCI image layout")
            return None
        return self._json(m, name)[1]

    def blob(self, desc: Descriptor, what: str) -> _Member | None:
        """The member a descriptor references, if present, of the right size and not already reported as corrupt."""
        name = blob_name(desc.digest)
        m = self._members.get(name)
        if m is not None and m.size == desc.size and name not in self._bad:
            return m
        if name not in self._reported:  # each broken blob is named once, however often it is referenced
            self._reported.add(name)
            if m is None:
                self.problems.append(f"{what} {desc.digest} is referenced, but the archive has no {name}")
            elif m.size != desc.size:
                self.problems.append(
                    f"{what} {desc.digest}: its descriptor says {desc.size} bytes, the blob has {m.size}"
                )
            else:
                self.problems.append(f"{what} {desc.digest}: {self._bad[name]}")
        return None

    def blob_json(self, desc: Descriptor, what: str) -> tuple[bytes, dict[str, Any] | None]:
        m = self.blob(desc, what)
        return self._json(m, f"{what} {desc.digest}") if m is not None else (b"", None)

    def image(self, desc: Descriptor, data: bytes, obj: dict[str, Any]) -> _Image | None:
        """An image manifest with its config and layers, or None when any of them has a problem."""
        before = len(self.problems)
        config, layers, found = check_manifest(desc, obj)
        self.problems.extend(found)
        config_member = None
        platform = Platform(architecture="", os="")
        if config is not None and (config_member := self.blob(config, "config")) is not None:
            what = f"config {config.digest}"
            cfg = self._json(config_member, what)[1]
            if cfg is not None:
                platform, found = check_config(cfg, what, len(layers))
                self.problems.extend(found)
        placed = [(d, self.blob(d, "layer")) for d in layers]
        if len(self.problems) > before or config is None or config_member is None:
            return None
        return _Image(
            manifest=Descriptor(media_type=desc.media_type, digest=desc.digest, size=desc.size, platform=platform),
            manifest_bytes=data,
            platform=platform,
            blobs=((config.bare(), config_member.offset), *((d.bare(), m.offset) for d, m in placed if m is not None)),
        )


def _check(f: io.BufferedReader) -> tuple[list[_Image], list[str]]:
    """Check the whole archive; returns every image it holds (if all is well) and every problem found."""
    members, problems = _members(f)
    if problems:
        return [], problems
    c = _Checker(f, members, _hash_blobs(f, members))
    layout = c.member_json("oci-layout")
    if layout is not None:
        c.problems.extend(check_layout(layout))
    index = c.member_json("index.json")
    queue, found = check_index(index, "index.json") if index is not None else ([], [])
    c.problems.extend(found)
    images: list[_Image] = []
    seen: set[str] = set()
    while queue:  # nested indexes (a multi-arch archive) down to image manifests, each once
        desc = queue.pop(0)
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        is_index = desc.media_type in INDEX_MEDIA_TYPES
        data, obj = c.blob_json(desc, "index" if is_index else "manifest")
        if obj is None:
            continue
        if is_index:
            children, found = check_index(obj, f"index {desc.digest}")
            queue.extend(children)
            c.problems.extend(found)
        elif (image := c.image(desc, data, obj)) is not None:
            images.append(image)
    problems = [*c.problems, *c.unreferenced()]
    if not problems and not images:
        problems.append("index.json lists no image manifest")
    return images, problems


def _to_cache(images: list[_Image]) -> list[dict[str, Any]]:
    return [
        {
            "manifest": i.manifest.to_dict(),
            "manifest_bytes": base64.b64encode(i.manifest_bytes).decode(),
            "blobs": [[d.to_dict(), offset] for d, offset in i.blobs],
        }
        for i in images
    ]


def _from_cache(path: Path, digests: Digests | None) -> list[_Image] | None:
    """The images of an archive checked before and unchanged since (no byte of it is read), or None."""
    try:
        st = os.stat(path)
        cached = digests.lookup(path, st, "archive") if digests is not None else None
        if not isinstance(cached, list):
            return None
        images = []
        for i in cached:
            manifest, data = parse_descriptor(i["manifest"]), base64.b64decode(i["manifest_bytes"], validate=True)
            blobs = tuple((parse_descriptor(d), offset) for d, offset in i["blobs"])
            if manifest.platform is None or sha256_digest(data) != manifest.digest or len(data) != manifest.size:
                return None
            if not all(isinstance(o, int) and o >= 0 and o + d.size <= st.st_size for d, o in blobs):
                return None
            images.append(_Image(manifest=manifest, manifest_bytes=data, platform=manifest.platform, blobs=blobs))
        return images
    except (OSError, KeyError, TypeError, ValueError):  # a malformed entry is a miss: the archive is checked again
        return None


def read_container_archive(path: Path, arch: str, digests: Digests | None = None) -> ContainerArchive:
    """Check an OCI archive completely and find its image for `arch`; raises `ArchiveError` listing every problem.

    With `digests`, an archive checked before and unchanged since is not read again."""
    images = _from_cache(path, digests)
    if images is None:
        try:
            with open_regular(path) as f:
                st = os.fstat(f.fileno())
                images, problems = _check(f)
        except OSError as e:
            raise ArchiveError(path, [f"cannot be read: {e.strerror or e}"]) from e
        if problems:
            raise ArchiveError(path, problems)
        if digests is not None:
            digests.store(path, st, "archive", _to_cache(images))
    for image in images:
        if image.platform.architecture == arch:
            return ContainerArchive(
                path=path,
                manifest=image.manifest,
                manifest_bytes=image.manifest_bytes,
                platform=image.platform,
                blobs=tuple((d, FileRange(path=path, offset=offset, size=d.size)) for d, offset in image.blobs),
            )
    found = ", ".join(i.platform.architecture or "unknown" for i in images) or "none"
    raise ArchiveError(path, [f"holds no image for architecture {arch} (found: {found})"])
