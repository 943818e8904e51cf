"""LayoutTarget: one OCI image layout directory per repository below a base directory.

`DIR/gardenlinux/` holds `oci-layout`, `index.json` and `blobs/sha256/<hex>`; a tag is an `index.json` entry with
`org.opencontainers.image.ref.name`, so `skopeo inspect oci:DIR/gardenlinux:1473.0` and `oras ... --oci-layout`
read it. Blobs are written to a temporary file, verified, and renamed; `index.json` is rewritten atomically under a
file lock, with entries sorted by tag, so a crash never leaves a half-written index and the bytes are deterministic.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import NotFound, TargetError
from .model import Descriptor, MediaType, canonical_json, parse_descriptor
from .streams import copy_verified

__all__ = ["LayoutTarget", "REF_NAME"]

REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


class LayoutTarget:
    """A `Target` and `Mounter` over a directory of OCI image layouts; `read_only` refuses writes."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root
        self.read_only = read_only

    @property
    def name(self) -> str:
        return f"oci-layout:{self.root}"

    def _repo(self, repository: str) -> Path:
        if repository.startswith("/") or ".." in repository.split("/"):
            raise TargetError(f"invalid repository name {repository!r}")
        return self.root / repository

    def _blob(self, repository: str, digest: str) -> Path:
        algo, hex_ = digest.split(":", 1)
        return self._repo(repository) / "blobs" / algo / hex_

    def _index(self, repository: str) -> dict[str, Any]:
        path = self._repo(repository) / "index.json"
        try:
            data: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}
        except (OSError, json.JSONDecodeError) as e:
            raise TargetError(f"{path}: unreadable index.json: {e}") from e
        return data

    # -- ReadOnlyTarget
    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        try:
            return self._blob(repository, descriptor.digest).stat().st_size == descriptor.size
        except FileNotFoundError:
            return False

    @contextlib.contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        path = self._blob(repository, descriptor.digest)
        try:
            f = path.open("rb")
        except FileNotFoundError as e:
            raise NotFound(
                f"{self.name}/{repository}@{descriptor.digest} not found", reference=f"{repository}@{descriptor.digest}"
            ) from e
        with f:
            yield f

    def resolve(self, repository: str, reference: str) -> Descriptor:
        if reference.startswith("sha256:"):
            path = self._blob(repository, reference)
            try:
                data = path.read_bytes()
            except FileNotFoundError as e:
                raise NotFound(f"{self.name}/{repository}@{reference} not found", reference=reference) from e
            media_type = json.loads(data).get("mediaType", MediaType.OCI_MANIFEST)
            return Descriptor(media_type=media_type, digest=reference, size=len(data))
        for entry in self._index(repository).get("manifests", []):
            if (entry.get("annotations") or {}).get(REF_NAME) == reference:
                return parse_descriptor(entry).bare()
        raise NotFound(f"{self.name}/{repository}:{reference} not found", reference=f"{repository}:{reference}")

    def tags(self, repository: str) -> list[str]:
        names = ((e.get("annotations") or {}).get(REF_NAME) for e in self._index(repository).get("manifests", []))
        return sorted(n for n in names if n)

    def repositories(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(str(p.parent.relative_to(self.root)) for p in self.root.rglob("oci-layout"))

    # -- Target
    def _writable(self, repository: str) -> Path:
        if self.read_only:
            raise TargetError(f"{self.name} is read-only")
        repo = self._repo(repository)
        (repo / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        marker = repo / "oci-layout"
        if not marker.exists():
            self._atomic_write(marker, lambda f: f.write(_LAYOUT))
        return repo

    @staticmethod
    def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
        """Write through a temporary file in the same directory, fsync, then rename: all or nothing."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        self._writable(repository)
        what = f"{repository}@{descriptor.digest}"
        self._atomic_write(
            self._blob(repository, descriptor.digest),
            lambda f: copy_verified(content, f, descriptor.digest, descriptor.size, what),
        )

    def tag(self, repository: str, descriptor: Descriptor, tag: str) -> None:
        repo = self._writable(repository)
        if not self.exists(repository, descriptor):
            raise NotFound(f"cannot tag {self.name}/{repository}:{tag}: {descriptor.digest} is not stored")
        with (repo / ".index.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._index(repository)
            entries = [e for e in index.get("manifests", []) if (e.get("annotations") or {}).get(REF_NAME) != tag]
            entries.append(descriptor.bare().with_annotations({REF_NAME: tag}).to_dict())
            entries.sort(
                key=lambda e: (e["annotations"].get(REF_NAME, "") if e.get("annotations") else "", e["digest"])
            )
            index["manifests"] = entries
            new = canonical_json(index)
            path = repo / "index.json"
            if not path.exists() or path.read_bytes() != new:
                self._atomic_write(path, lambda f: f.write(new))

    # -- Mounter
    def mount(self, repository: str, descriptor: Descriptor, from_repository: str) -> bool:
        """Hard-link the blob from another layout of the same base (a copy across file systems)."""
        src = self._blob(from_repository, descriptor.digest)
        if not self.exists(from_repository, descriptor):
            return False
        self._writable(repository)
        dst = self._blob(repository, descriptor.digest)
        tmp = dst.with_name(f".mount.{dst.name}.{os.getpid()}")
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return True
