"""copy(): the one transfer algorithm, for any pair of targets (plan -> layout, layout -> registry, ...).

Children before parents, blobs in parallel, manifests in dependency order, each root tagged only after its whole
graph is stored; whatever the destination already has is skipped (a manifest that exists is taken as complete,
as registries guarantee), so a second run of the same release pushes nothing. Progress is reported through a
callback; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import BinaryIO

from ..errors import NotFound, TargetError
from .graph import successors
from .model import Descriptor, is_manifest
from .streams import with_progress
from .target import Mounter, ReadOnlyTarget, Target

__all__ = ["CopyRoot", "EventKind", "Event", "CopyStats", "copy"]

_MAX_MANIFEST = 4 << 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CopyRoot:
    repository: str
    descriptor: Descriptor
    tags: tuple[str, ...] = ()
    source_repository: str | None = None  # defaults to `repository`

    @property
    def src_repo(self) -> str:
        return self.source_repository or self.repository


class EventKind(StrEnum):
    BLOB_PUSHED = "blob-pushed"
    BLOB_MOUNTED = "blob-mounted"
    BLOB_SKIPPED = "blob-skipped"
    MANIFEST_PUSHED = "manifest-pushed"
    MANIFEST_SKIPPED = "manifest-skipped"
    TAGGED = "tagged"
    TAG_SKIPPED = "tag-skipped"
    PLANNED = "planned"  # total bytes of blobs that may need sending, before any transfer
    BYTES = "bytes"  # `size` more bytes of a blob were read for sending


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: EventKind
    repository: str
    descriptor: Descriptor | None = None
    tag: str | None = None
    size: int = 0


@dataclasses.dataclass(slots=True)
class CopyStats:
    blobs_pushed: int = 0
    bytes_pushed: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    tags_set: int = 0
    tags_unchanged: int = 0

    @property
    def wrote_nothing(self) -> bool:
        return not (self.blobs_pushed or self.blobs_mounted or self.manifests_pushed or self.tags_set)


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    repository: str
    src_repository: str
    descriptor: Descriptor
    data: bytes


def _read_manifest(src: ReadOnlyTarget, repository: str, desc: Descriptor) -> bytes:
    if desc.size > _MAX_MANIFEST:
        raise TargetError(f"{repository}@{desc.digest}: manifest of {desc.size} bytes exceeds the 4 MiB limit")
    with src.fetch(repository, desc) as f:
        return f.read(desc.size + 1)


def copy(
    src: ReadOnlyTarget,
    dst: Target,
    roots: Sequence[CopyRoot],
    *,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
) -> CopyStats:
    """Copy the graphs of `roots` from `src` to `dst`, in order, and tag each root; returns what was done."""
    emit = on_event or (lambda e: None)
    stats = CopyStats()
    lock = threading.Lock()

    # 1. Walk the graphs: manifests in post-order per root, blobs collected per (repository, digest).
    manifests: list[_Node] = []
    blobs: dict[tuple[str, str], tuple[str, Descriptor]] = {}
    seen: set[tuple[str, str]] = set()

    def walk(repo: str, src_repo: str, desc: Descriptor) -> None:
        key = (repo, desc.digest)
        if key in seen:
            return
        seen.add(key)
        if not is_manifest(desc.media_type):
            blobs[key] = (src_repo, desc.bare())
            return
        if dst.exists(repo, desc):
            with lock:
                stats.manifests_skipped += 1
            emit(Event(kind=EventKind.MANIFEST_SKIPPED, repository=repo, descriptor=desc))
            return
        data = _read_manifest(src, src_repo, desc)
        for child in successors(desc, data):
            walk(repo, src_repo, child)
        manifests.append(_Node(repo, src_repo, desc, data))

    for root in roots:
        walk(root.repository, root.src_repo, root.descriptor)

    # 2. Blobs: the first occurrence of a digest is pushed; later ones (other repositories) are mounted from it.
    first: dict[str, str] = {}
    waves: tuple[list[tuple[str, str, Descriptor]], list[tuple[str, str, Descriptor]]] = ([], [])
    for (repo, digest), (src_repo, desc) in blobs.items():
        if digest in first:
            waves[1].append((repo, src_repo, desc))
        else:
            first[digest] = repo
            waves[0].append((repo, src_repo, desc))
    emit(Event(kind=EventKind.PLANNED, repository="", size=sum(d.size for w in waves for _, _, d in w)))

    def place(repo: str, src_repo: str, desc: Descriptor) -> None:
        if dst.exists(repo, desc):
            with lock:
                stats.blobs_skipped += 1
            emit(Event(kind=EventKind.BLOB_SKIPPED, repository=repo, descriptor=desc, size=desc.size))
            return
        origin = first.get(desc.digest)
        if isinstance(dst, Mounter) and origin and origin != repo and dst.mount(repo, desc, origin):
            with lock:
                stats.blobs_mounted += 1
            emit(Event(kind=EventKind.BLOB_MOUNTED, repository=repo, descriptor=desc, size=desc.size))
            return
        def sent(n: int) -> None:
            emit(Event(kind=EventKind.BYTES, repository=repo, descriptor=desc, size=n))

        with src.fetch(src_repo, desc) as stream:
            dst.push(repo, desc, with_progress(stream, sent))
        with lock:
            stats.blobs_pushed += 1
            stats.bytes_pushed += desc.size
        emit(Event(kind=EventKind.BLOB_PUSHED, repository=repo, descriptor=desc, size=desc.size))

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="gl-ocm-copy") as pool:
        for wave in waves:
            for future in [pool.submit(place, *item) for item in wave]:
                future.result()  # re-raises the first failure; remaining uploads of the wave still finish

    # 3. Manifests children-first, then the tags of each root, in root order.
    for node in manifests:
        stream: BinaryIO = io.BytesIO(node.data)
        dst.push(node.repository, node.descriptor.bare(), stream)
        stats.manifests_pushed += 1
        emit(Event(kind=EventKind.MANIFEST_PUSHED, repository=node.repository, descriptor=node.descriptor))
    for root in roots:
        for tag in root.tags:
            try:
                current = dst.resolve(root.repository, tag)
            except NotFound:
                current = None
            if current is not None and current.digest == root.descriptor.digest:
                stats.tags_unchanged += 1
                emit(Event(kind=EventKind.TAG_SKIPPED, repository=root.repository, descriptor=root.descriptor, tag=tag))
                continue
            dst.tag(root.repository, root.descriptor.bare(), tag)
            stats.tags_set += 1
            emit(Event(kind=EventKind.TAGGED, repository=root.repository, descriptor=root.descriptor, tag=tag))
    return stats
