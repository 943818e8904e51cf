"""OCM's archive formats as read-only targets: a CTF (`ctf:PATH`) and a component archive (`ca:PATH`).

Both come as a directory, a `.tar` or a `.tar.gz`/`.tgz`. A plain tar is read in place (each blob is a byte range of
the archive); a gzipped one is decompressed once, streaming, into a temporary tar that is removed with the target.

- CTF: `artifact-index.json` (`{"schemaVersion":1,"artifacts":[{repository, tag?, digest}]}`) and one shared blob
  store `blobs/sha256.<hex>`.
- Component archive: `component-descriptor.yaml` and `blobs/<file>`; exposed as the repository
  `component-descriptors/<name>` whose tag is the version, with a manifest synthesised in memory. Its local blobs are
  layers whose `org.opencontainers.image.title` is the file name that `localReference` uses.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import NotFound, TargetError, UsageError
from ..oci.model import Descriptor, MediaType, canonical_json, descriptor_for, version_to_tag
from ..oci.streams import RangeReader
from ._ctf_index import INDEX_FILE, ArtifactIndex, Malformed, blob_name, media_type_of
from .fetch import load_descriptor
from .pack import component_repository
from .serialise import DESCRIPTOR_FILE, descriptor_tar

__all__ = ["open_archive", "CtfArchive", "ComponentArchive", "TITLE"]

TITLE = "org.opencontainers.image.title"
_DIGEST_NAME_RE = re.compile(r"^sha256\.([a-f0-9]{64})$")
_LOCAL_BLOB_TYPES = frozenset({"localblob", "localfilesystemblob"})


class _Files:
    """The regular files of a directory or tar, by relative name: sizes up front, contents as streams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: dict[str, int] = {}
        self._ranges: dict[str, tuple[int, int]] = {}
        self._tar: Path | None = None
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    self.sizes[p.relative_to(path).as_posix()] = p.stat().st_size
            return
        if not path.is_file():
            raise UsageError(f"{path} does not exist", hint="give the archive's directory, .tar or .tar.gz file")
        with path.open("rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        self._tar = self._gunzip(path) if gzipped else path
        try:
            with tarfile.open(self._tar, mode="r:") as tar:
                for member in tar:
                    name = member.name.lstrip("/").removeprefix("./")
                    if member.isfile() and ".." not in name.split("/"):
                        self.sizes[name] = member.size
                        self._ranges[name] = (member.offset_data, member.size)
        except tarfile.TarError as e:
            raise UsageError(f"{path} is neither a directory nor a tar or tar.gz archive: {e}") from e

    def _gunzip(self, path: Path) -> Path:
        fd, tmp = tempfile.mkstemp(prefix="gl-ocm-archive.", suffix=".tar")
        weakref.finalize(self, _unlink, tmp)
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        except (OSError, EOFError, zlib.error) as e:  # zlib.error: a damaged deflate stream
            raise UsageError(f"{path}: cannot decompress the archive: {e}",
                             hint="the file is damaged or no gzip; copy it again") from e
        return Path(tmp)

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        if name not in self.sizes:
            raise NotFound(f"{self.path}: no {name} in the archive", reference=name)
        if self._tar is None:
            with (self.path / name).open("rb") as f:
                yield f
            return
        offset, size = self._ranges[name]
        reader = RangeReader(self._tar, offset, size)
        try:
            yield io.BufferedReader(reader, buffer_size=1 << 20)
        finally:
            reader.close()

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        if self.sizes.get(name, 0) > limit:
            raise TargetError(f"{self.path}: {name} is larger than {limit} bytes")
        with self.open(name) as f:
            return f.read()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class CtfArchive:
    """A read-only target over a Common Transport Format archive; all repositories share one blob store."""

    def __init__(self, path: Path) -> None:
        self._files = _Files(path)
        self._path = path
        try:
            data = self._files.read(INDEX_FILE)
        except NotFound as e:
            raise UsageError(f"{path} is not a CTF: it has no {INDEX_FILE}") from e
        # read leniently: an entry without repository and digest strings is skipped, as before
        self._index = ArtifactIndex.from_json(data, f"{path}/{INDEX_FILE}", on_malformed=Malformed.SKIP)

    @property
    def name(self) -> str:
        return f"ctf:{self._path}"

    @staticmethod
    def _blob(digest: str) -> str:
        return blob_name(digest)

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        return self._files.sizes.get(self._blob(descriptor.digest)) == descriptor.size

    def size(self, repository: str, descriptor: Descriptor) -> int | None:
        """The stored size from the member table (`oci.sizes.Sizer`); None when the blob is absent."""
        return self._files.sizes.get(self._blob(descriptor.digest))

    def fetch(self, repository: str, descriptor: Descriptor) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._files.open(self._blob(descriptor.digest))

    def resolve(self, repository: str, reference: str) -> Descriptor:
        digest = reference if reference.startswith("sha256:") else self._index.lookup(repository, reference)
        if digest is None:
            raise NotFound(f"{self.name}/{repository}:{reference} not found", reference=f"{repository}:{reference}")
        name = self._blob(digest)
        if name not in self._files.sizes:
            raise NotFound(f"{self.name}/{repository}@{digest} not found", reference=f"{repository}@{digest}")
        return Descriptor(media_type=media_type_of(self._files.read(name, 4 << 20)), digest=digest,
                          size=self._files.sizes[name])

    def tags(self, repository: str) -> list[str]:
        return self._index.tags(repository)

    def repositories(self) -> list[str]:
        return self._index.repositories()


class ComponentArchive:
    """A read-only target over a component archive: one repository, one tag, the manifest made in memory."""

    def __init__(self, path: Path) -> None:
        self._files = _Files(path)
        self._path = path
        try:
            raw = self._files.read(DESCRIPTOR_FILE)
        except NotFound as e:
            raise UsageError(f"{path} is not a component archive: it has no {DESCRIPTOR_FILE}") from e
        descriptor = load_descriptor(raw, f"{path}/{DESCRIPTOR_FILE}")
        component = descriptor.get("component")
        if not isinstance(component, dict):
            raise TargetError(f"{path}/{DESCRIPTOR_FILE} has no `component` mapping")
        name, version = component.get("name"), component.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise TargetError(f"{path}/{DESCRIPTOR_FILE} names no component name and version")
        self.repository = component_repository(name)
        self.tag = version_to_tag(version)
        self._blobs: dict[str, str] = {}  # digest -> file name
        layer = descriptor_tar(raw)
        layer_desc = descriptor_for(layer, MediaType.OCM_DESCRIPTOR_YAML_TAR)
        config = json.dumps({"componentDescriptorLayer": layer_desc.to_dict()}, separators=(",", ":")).encode()
        config_desc = descriptor_for(config, MediaType.OCM_CONFIG)
        layers = [layer_desc, *self._blob_layers(_blob_media_types(component))]
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "config": config_desc.to_dict(),
            "layers": [d.to_dict() for d in layers],
            "annotations": {"software.ocm.componentversion": f"{name}:{version}"},
        })
        self._manifest = descriptor_for(manifest, MediaType.OCI_MANIFEST)
        self._memory = {config_desc.digest: config, layer_desc.digest: layer, self._manifest.digest: manifest}

    def _blob_layers(self, media_types: dict[str, str]) -> list[Descriptor]:
        """One layer per file of `blobs/`; a `sha256.<hex>` name is taken as the digest (`--deep` re-hashes it)."""
        out = []
        for name, size in sorted(self._files.sizes.items()):
            if not name.startswith("blobs/") or "/" in name[len("blobs/"):]:
                continue
            file_name = name[len("blobs/"):]
            m = _DIGEST_NAME_RE.match(file_name)
            if m:
                digest = f"sha256:{m.group(1)}"
            else:
                h = hashlib.sha256()
                with self._files.open(name) as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                digest = f"sha256:{h.hexdigest()}"
            self._blobs.setdefault(digest, name)
            media_type = media_types.get(file_name, "application/octet-stream")
            out.append(Descriptor(media_type=media_type, digest=digest, size=size, annotations=((TITLE, file_name),)))
        return out

    @property
    def name(self) -> str:
        return f"ca:{self._path}"

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        if repository != self.repository:
            return False
        if descriptor.digest in self._memory:
            return len(self._memory[descriptor.digest]) == descriptor.size
        name = self._blobs.get(descriptor.digest)
        return name is not None and self._files.sizes[name] == descriptor.size

    def size(self, repository: str, descriptor: Descriptor) -> int | None:
        """The stored size (`oci.sizes.Sizer`): of the synthesised object or the blob file; None when absent."""
        if repository != self.repository:
            return None
        if descriptor.digest in self._memory:
            return len(self._memory[descriptor.digest])
        name = self._blobs.get(descriptor.digest)
        return None if name is None else self._files.sizes[name]

    @contextlib.contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        data = self._memory.get(descriptor.digest) if repository == self.repository else None
        if data is not None:
            yield io.BytesIO(data)
            return
        name = self._blobs.get(descriptor.digest) if repository == self.repository else None
        if name is None:
            raise NotFound(f"{self.name}/{repository}@{descriptor.digest} not found",
                           reference=f"{repository}@{descriptor.digest}")
        with self._files.open(name) as f:
            yield f

    def resolve(self, repository: str, reference: str) -> Descriptor:
        if repository == self.repository and reference in (self.tag, self._manifest.digest):
            return self._manifest
        raise NotFound(f"{self.name}/{repository}:{reference} not found", reference=f"{repository}:{reference}")

    def tags(self, repository: str) -> list[str]:
        return [self.tag] if repository == self.repository else []

    def repositories(self) -> list[str]:
        return [self.repository]


def _blob_media_types(component: dict[str, Any]) -> dict[str, str]:
    """File name -> media type, from the local blob accesses of resources and sources."""
    out: dict[str, str] = {}
    elements = [e for key in ("resources", "sources") if isinstance(component.get(key), list) for e in component[key]]
    for element in elements:
        access = element.get("access") if isinstance(element, dict) else None
        if not isinstance(access, dict):
            continue
        kind = str(access.get("type", "")).split("/")[0].lower()
        ref, media_type = access.get("localReference"), access.get("mediaType")
        if kind in _LOCAL_BLOB_TYPES and isinstance(ref, str) and isinstance(media_type, str):
            out.setdefault(ref, media_type)
    return out


def open_archive(path: Path, kind: str) -> CtfArchive | ComponentArchive:
    """Open `ctf` (Common Transport Format) or `ca` (component archive) as a read-only target."""
    if kind == "ctf":
        return CtfArchive(path)
    if kind == "ca":
        return ComponentArchive(path)
    raise UsageError(f"unknown archive kind {kind!r}", hint="use ctf:PATH or ca:PATH")
