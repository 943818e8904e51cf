"""In-memory targets: a dict-backed target, and an overlay of one source over another."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO

from ..bounded import LIMITS, json_document
from ..errors import DigestMismatch, NotFound
from .model import Descriptor, descriptor_for, sha256_digest
from .target import ReadOnlyTarget

__all__ = ["MemoryTarget", "OverlaySource"]


class MemoryTarget:
    """A `Target` in memory: verifies digests, shares blobs across repositories, counts pushes (tests, dry runs)."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._repos: dict[str, set[str]] = {}
        self._tags: dict[tuple[str, str], Descriptor] = {}
        self._lock = threading.Lock()
        self.pushes: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return "memory"

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        return descriptor.digest in self._repos.get(repository, set())

    @contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        if not self.exists(repository, descriptor):
            raise NotFound(f"{repository}@{descriptor.digest} not found")
        yield io.BytesIO(self._blobs[descriptor.digest])

    def resolve(self, repository: str, reference: str) -> Descriptor:
        if reference.startswith("sha256:"):
            data = self._blobs.get(reference)
            if data is None or reference not in self._repos.get(repository, set()):
                raise NotFound(f"{repository}@{reference} not found")
            doc = json_document(data, what="manifest", where=f"{repository}@{reference}", limit=LIMITS.manifest)
            return descriptor_for(data, doc.get("mediaType", ""))
        try:
            return self._tags[(repository, reference)]
        except KeyError as e:
            raise NotFound(f"{repository}:{reference} not found") from e

    def tags(self, repository: str) -> list[str]:
        return sorted(t for r, t in self._tags if r == repository)

    def repositories(self) -> list[str]:
        return sorted(self._repos)

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        data = content.read()
        if len(data) != descriptor.size or sha256_digest(data) != descriptor.digest:
            raise DigestMismatch(f"{repository}@{descriptor.digest}: content does not match its descriptor")
        with self._lock:
            self._blobs[descriptor.digest] = data
            self._repos.setdefault(repository, set()).add(descriptor.digest)
            self.pushes.append((repository, descriptor.digest))

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        if data is not None and not self.exists(repository, descriptor):
            self.push(repository, descriptor, io.BytesIO(data))
        if not self.exists(repository, descriptor):
            raise NotFound(f"cannot tag {repository}:{tag}: {descriptor.digest} is not stored")
        self._tags[(repository, tag)] = descriptor.bare()


class OverlaySource:
    """A read-only source: objects of `overlay` (small, in memory: a `MemoryTarget`, a `PlanSource`) first,
    everything else from `base`.

    Serves a copy whose component versions were re-packed (new descriptor, config and manifest), or an assembled
    release, while the blobs they need still come from where they are.
    """

    def __init__(self, base: ReadOnlyTarget, overlay: ReadOnlyTarget) -> None:
        self.base, self.overlay = base, overlay

    @property
    def name(self) -> str:
        return self.base.name

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        return self.overlay.exists(repository, descriptor) or self.base.exists(repository, descriptor)

    def fetch(self, repository: str, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        if self.overlay.exists(repository, descriptor):
            return self.overlay.fetch(repository, descriptor)
        return self.base.fetch(repository, descriptor)

    def resolve(self, repository: str, reference: str) -> Descriptor:
        try:
            return self.overlay.resolve(repository, reference)
        except NotFound:
            return self.base.resolve(repository, reference)

    def tags(self, repository: str) -> list[str]:
        return sorted(set(self.base.tags(repository)) | set(self.overlay.tags(repository)))

    def repositories(self) -> list[str]:
        return sorted(set(self.base.repositories()) | set(self.overlay.repositories()))
