"""copy(): the one transfer algorithm, for any pair of targets (plan -> layout, layout -> registry, ...).

Children before parents, blobs in parallel, manifests in dependency order (in parallel, level by level), each root
tagged only after its whole graph is stored, roots in order; whatever the destination already has is skipped (a
manifest that exists is taken as complete, as registries guarantee), so a second run of the same release pushes
nothing. Progress is reported through a callback; nothing here prints.

The first final failure ends the transfer: work not yet started is cancelled, workers in flight stop at their next
chunk or retry (`streams.StopSignal`), and that failure is raised. A blob from a source that cannot seek (a
registry's response) is wrapped so that a retried upload opens the source blob again.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from enum import StrEnum
from typing import BinaryIO, cast

from ..errors import NotFound, TargetError
from .changes import OnChange, check_changes
from .graph import successors
from .model import Descriptor, is_manifest
from .streams import ReopeningReader, Stopped, StopSignal, stop_scope, with_progress
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

    def __add__(self, other: CopyStats) -> CopyStats:
        return CopyStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)})

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
    on_change: OnChange = OnChange.FAIL,
) -> CopyStats:
    """Copy the graphs of `roots` from `src` to `dst`, in order, and tag each root; returns what was done.

    Before anything is written, every tag of `roots` is resolved on `dst`: one that points at other content is
    refused (`TagsWouldMove`) unless `on_change` is `OnChange.OVERWRITE`.
    """
    check_changes(src, dst, roots, on_change)
    emit = on_event or (lambda e: None)
    with stop_scope(StopSignal()) as stop:
        return _Transfer(src, dst, jobs=max(1, jobs), emit=emit, stop=stop).run(roots)


class _Transfer:
    """One run of `copy`: the walk, the blob waves, the manifest levels and the tags, sharing stats and a stop."""

    def __init__(
        self, src: ReadOnlyTarget, dst: Target, *, jobs: int, emit: Callable[[Event], None], stop: StopSignal
    ) -> None:
        self.src, self.dst, self.jobs, self.emit, self.stop = src, dst, jobs, emit, stop
        self.stats = CopyStats()
        self.lock = threading.Lock()
        self.first: dict[str, str] = {}  # digest -> repository its blob is pushed to first (later ones mount)

    def run(self, roots: Sequence[CopyRoot]) -> CopyStats:
        manifests, blobs = self._walk(roots)
        waves = self._blob_waves(blobs)
        self.emit(Event(kind=EventKind.PLANNED, repository="", size=sum(d.size for w in waves for _, _, d in w)))
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="gl-ocm-copy") as pool:
            for wave in waves:
                self._run_all(pool, [functools.partial(self._place, *item) for item in wave])
            for level in _levels(manifests):
                self._run_all(pool, [functools.partial(self._push_manifest, node) for node in level])
        for root in roots:
            for tag in root.tags:
                self._tag(root, tag)
        return self.stats

    # 1. Walk the graphs: manifests in post-order per root, blobs collected per (repository, digest).
    def _walk(self, roots: Sequence[CopyRoot]) -> tuple[list[_Node], dict[tuple[str, str], tuple[str, Descriptor]]]:
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
            if self.dst.exists(repo, desc):
                self.stats.manifests_skipped += 1
                self.emit(Event(kind=EventKind.MANIFEST_SKIPPED, repository=repo, descriptor=desc))
                return
            data = _read_manifest(self.src, src_repo, desc)
            for child in successors(desc, data):
                walk(repo, src_repo, child)
            manifests.append(_Node(repo, src_repo, desc, data))

        for root in roots:
            walk(root.repository, root.src_repo, root.descriptor)
        return manifests, blobs

    # 2. Blobs: the first occurrence of a digest is pushed; later ones (other repositories) are mounted from it.
    def _blob_waves(
        self, blobs: dict[tuple[str, str], tuple[str, Descriptor]]
    ) -> tuple[list[tuple[str, str, Descriptor]], list[tuple[str, str, Descriptor]]]:
        waves: tuple[list[tuple[str, str, Descriptor]], list[tuple[str, str, Descriptor]]] = ([], [])
        for (repo, digest), (src_repo, desc) in blobs.items():
            if digest in self.first:
                waves[1].append((repo, src_repo, desc))
            else:
                self.first[digest] = repo
                waves[0].append((repo, src_repo, desc))
        return waves

    def _place(self, repo: str, src_repo: str, desc: Descriptor) -> None:
        dst = self.dst
        if dst.exists(repo, desc):
            self._count("blobs_skipped")
            self.emit(Event(kind=EventKind.BLOB_SKIPPED, repository=repo, descriptor=desc, size=desc.size))
            return
        origin = self.first.get(desc.digest)
        if isinstance(dst, Mounter) and origin and origin != repo and dst.mount(repo, desc, origin):
            self._count("blobs_mounted")
            self.emit(Event(kind=EventKind.BLOB_MOUNTED, repository=repo, descriptor=desc, size=desc.size))
            return

        def sent(n: int) -> None:
            self.emit(Event(kind=EventKind.BYTES, repository=repo, descriptor=desc, size=n))

        with self.src.fetch(src_repo, desc) as stream:
            if stream.seekable():
                dst.push(repo, desc, with_progress(stream, sent, self.stop))
            else:
                with ReopeningReader(stream, lambda: self.src.fetch(src_repo, desc)) as reopening:
                    dst.push(repo, desc, with_progress(cast(BinaryIO, reopening), sent, self.stop))
        with self.lock:
            self.stats.blobs_pushed += 1
            self.stats.bytes_pushed += desc.size
        self.emit(Event(kind=EventKind.BLOB_PUSHED, repository=repo, descriptor=desc, size=desc.size))

    # 3. Manifests children-first (each level in parallel), then the tags of each root, in root order.
    def _push_manifest(self, node: _Node) -> None:
        stream: BinaryIO = io.BytesIO(node.data)
        self.dst.push(node.repository, node.descriptor.bare(), stream)
        self._count("manifests_pushed")
        self.emit(Event(kind=EventKind.MANIFEST_PUSHED, repository=node.repository, descriptor=node.descriptor))

    def _tag(self, root: CopyRoot, tag: str) -> None:
        try:
            current = self.dst.resolve(root.repository, tag)
        except NotFound:
            current = None
        if current is not None and current.digest == root.descriptor.digest:
            self.stats.tags_unchanged += 1
            self.emit(
                Event(kind=EventKind.TAG_SKIPPED, repository=root.repository, descriptor=root.descriptor, tag=tag)
            )
            return
        self.dst.tag(root.repository, root.descriptor.bare(), tag)
        self.stats.tags_set += 1
        self.emit(Event(kind=EventKind.TAGGED, repository=root.repository, descriptor=root.descriptor, tag=tag))

    def _count(self, field: str) -> None:
        with self.lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def _run_all(self, pool: ThreadPoolExecutor, tasks: Sequence[Callable[[], None]]) -> None:
        """Run the tasks in the pool; the first final failure cancels the rest, stops those in flight, is raised.

        Each task runs in a copy of this context, so the retry loops below it see the stop signal.
        """
        futures: list[Future[None]] = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failure = _first_failure(done)
        if failure is None:
            return
        self.stop.set()
        for future in pending:
            future.cancel()
        wait(pending)
        raise failure


def _first_failure(done: Iterable[Future[None]]) -> BaseException | None:
    """The failure to report among finished tasks: a real one before a `Stopped` that it caused."""
    failures = [f.exception() for f in done if not f.cancelled() and f.exception() is not None]
    real = [e for e in failures if not isinstance(e, Stopped)]
    return (real or failures or [None])[0]


def _levels(manifests: Sequence[_Node]) -> list[list[_Node]]:
    """Manifests grouped so that each one comes in a later group than every child manifest it has in the list."""
    pending = {(node.repository, node.descriptor.digest) for node in manifests}
    level: dict[tuple[str, str], int] = {}
    for node in manifests:  # post-order: children come before their parents
        children = [
            (node.repository, child.digest)
            for child in successors(node.descriptor, node.data)
            if is_manifest(child.media_type) and (node.repository, child.digest) in pending
        ]
        level[(node.repository, node.descriptor.digest)] = 1 + max((level[c] for c in children), default=-1)
    groups: list[list[_Node]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for node in manifests:
        groups[level[(node.repository, node.descriptor.digest)]].append(node)
    return groups
