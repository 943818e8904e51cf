"""copy(): the one transfer algorithm, for any pair of targets (plan -> layout, layout -> registry, ...).

Top-down first: every tag of the roots is resolved on the destination once, and a root that a tag already points at
is stored with its whole graph (a manifest that exists is taken as complete, as registries guarantee), so nothing
below it is looked at; a second run of the same release costs one resolve per tag and writes nothing. Then children
before parents: blobs in parallel (a blob already placed in another repository of the run is mounted from there,
without an existence check first), manifests that are no tagged root in dependency order (in parallel, level by
level) by digest, and last the roots in order, each only after its whole graph is stored. A root is stored by PUTting
the bytes held under each of its tags (no PUT by digest, nothing read back); consecutive roots of one repository that
do not depend on each other (the flavors) are tagged in parallel and reported in order. Progress is reported through a
callback; nothing here prints.

The first final failure ends the transfer: work not yet started is cancelled, workers in flight stop at their next
chunk or retry (`streams.StopSignal`), and that failure is raised. A blob from a source that cannot seek (a
registry's response) is wrapped so that a retried upload opens the source blob again.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from typing import BinaryIO, cast

from ...errors import NotFound, TargetError
from ..graph import successors
from ..model import Descriptor, is_manifest
from ..streams import ReopeningReader, Stopped, StopSignal, stop_scope, with_progress
from ..target import Mounter, ReadOnlyTarget, Target
from .changes import CurrentTags, OnChange, check_changes, current_tags
from .model import CopyRoot, CopyStats, Event, EventKind
from .order import Key, Node, RootWork, batches, blob_waves, demote, dependencies, levels, points_at

__all__ = ["CopyRoot", "EventKind", "Event", "CopyStats", "copy"]

_MAX_MANIFEST = 4 << 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    manifests: list[Node]  # stored by digest, children first (post-order)
    blobs: dict[Key, tuple[str, Descriptor]]  # (repository, digest) -> (source repository, descriptor)
    batches: list[list[RootWork]]  # tag PUTs: a batch runs in parallel, batches in order


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
    check_sources: bool = False,
) -> CopyStats:
    """Copy the graphs of `roots` from `src` to `dst`, in order, and tag each root; returns what was done.

    With `check_sources`, every blob to be sent is asked about on `src` before the first write (for a source that
    may lack what its manifests name, such as a CTF or a layout made by hand): a missing one is `NotFound` with
    nothing written.

    Before anything is written, every tag of `roots` is resolved on `dst` (once): one that points at other content
    is refused (`TagsWouldMove`) unless `on_change` is `OnChange.OVERWRITE`. A root that one of its tags already
    points at is stored with its whole graph, so nothing below it is looked at; a root all of whose tags point at it
    costs nothing more.
    """
    jobs = max(1, jobs)
    current = current_tags(dst, roots, jobs=jobs)
    check_changes(src, dst, roots, on_change, current=current)
    emit = on_event or (lambda e: None)
    with stop_scope(StopSignal()) as stop:
        return _Transfer(src, dst, jobs=jobs, emit=emit, stop=stop).run(roots, current, check_sources=check_sources)


class _Transfer:
    """One run of `copy`: the walk, the blob waves, the manifest levels and the tags, sharing stats and a stop."""

    def __init__(
        self, src: ReadOnlyTarget, dst: Target, *, jobs: int, emit: Callable[[Event], None], stop: StopSignal
    ) -> None:
        self.src, self.dst, self.jobs, self.emit, self.stop = src, dst, jobs, emit, stop
        self.stats = CopyStats()
        self.lock = threading.Lock()

    def run(self, roots: Sequence[CopyRoot], current: CurrentTags, *, check_sources: bool = False) -> CopyStats:
        plan = self._plan(roots, current)
        waves = blob_waves(plan.blobs)
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="gl-ocm-copy") as pool:
            if check_sources:
                unique = {(src_repo, d.digest): (src_repo, d) for src_repo, d in plan.blobs.values()}
                self._run_all(pool, [functools.partial(self._check_source, *item) for item in unique.values()])
            self.emit(Event(kind=EventKind.PLANNED, repository="",
                            size=sum(d.size for w in waves for _, _, d, _ in w)))
            for wave in waves:
                self._run_all(pool, [functools.partial(self._place, *item) for item in wave])
            for level in levels(plan.manifests):
                self._run_all(pool, [functools.partial(self._push_manifest, node) for node in level])
            for batch in plan.batches:
                self._tag_batch(pool, batch)
        return self.stats

    # 1. Plan: walk the graphs top-down (manifests in post-order, blobs per (repository, digest)), then the tags.
    def _plan(self, roots: Sequence[CopyRoot], current: CurrentTags) -> _Plan:
        """A manifest that is stored is complete (registries guarantee it): nothing below it is looked at. A root
        that one of its tags points at is known to be stored without asking; the others are asked once each."""
        present = {
            (r.repository, r.descriptor.digest)
            for r in roots
            if any(points_at(current.get((r.repository, t)), r.descriptor) for t in r.tags)
        }
        nodes: dict[Key, Node] = {}
        blobs: dict[Key, tuple[str, Descriptor]] = {}
        seen: set[Key] = set()

        def walk(repo: str, src_repo: str, desc: Descriptor) -> None:
            key = (repo, desc.digest)
            if key in seen:
                return
            seen.add(key)
            if not is_manifest(desc.media_type):
                blobs[key] = (src_repo, desc.bare())
                return
            if key in present or self.dst.exists(repo, desc):
                present.add(key)
                self.stats.manifests_skipped += 1
                self.emit(Event(kind=EventKind.MANIFEST_SKIPPED, repository=repo, descriptor=desc))
                return
            data = _read_manifest(self.src, src_repo, desc)
            for child in successors(desc, data):
                walk(repo, src_repo, child)
            nodes[key] = Node(repo, src_repo, desc, data)

        for root in roots:
            walk(root.repository, root.src_repo, root.descriptor)
        owners: dict[Key, int] = {}
        for position, root in enumerate(roots):
            if root.tags and (root.repository, root.descriptor.digest) in nodes:
                owners.setdefault((root.repository, root.descriptor.digest), position)
        owners = demote(nodes, owners)
        works = [self._work(position, root, current, nodes, owners) for position, root in enumerate(roots)]
        return _Plan(
            manifests=[node for key, node in nodes.items() if key not in owners],
            blobs=blobs,
            batches=batches(works, dependencies(roots, nodes, owners)),
        )

    @staticmethod
    def _work(
        position: int,
        root: CopyRoot,
        current: CurrentTags,
        nodes: dict[Key, Node],
        owners: dict[Key, int],
    ) -> RootWork:
        key = (root.repository, root.descriptor.digest)
        unchanged = tuple(t for t in root.tags if points_at(current.get((root.repository, t)), root.descriptor))
        node = nodes.get(key)
        return RootWork(
            position=position,
            root=root,
            to_set=tuple(t for t in root.tags if t not in unchanged),
            unchanged=unchanged,
            stores=owners.get(key) == position,
            data=node.data if node is not None else None,
        )

    def _check_source(self, src_repo: str, desc: Descriptor) -> None:
        if not self.src.exists(src_repo, desc):
            raise NotFound(f"{self.src.name}/{src_repo}@{desc.digest}: a manifest names this blob, but the source "
                           "does not hold it", reference=f"{src_repo}@{desc.digest}",
                           hint="nothing was written; the source is incomplete: copy it again from where it was made")

    # 2. Blobs: the first occurrence of a digest is pushed; later ones (other repositories) are mounted from it.
    def _place(self, repo: str, src_repo: str, desc: Descriptor, origin: str | None) -> None:
        """Mount a blob pushed to `origin` in this run (no existence check first), else push what is absent."""
        dst = self.dst
        if origin is not None and isinstance(dst, Mounter):
            uploaded = False

            def content() -> AbstractContextManager[BinaryIO]:
                nonlocal uploaded
                uploaded = True
                return self._sending(repo, src_repo, desc)

            if dst.mount(repo, desc, origin, content):
                if uploaded:
                    self._pushed(repo, desc)
                else:
                    self._count("blobs_mounted")
                    self.emit(Event(kind=EventKind.BLOB_MOUNTED, repository=repo, descriptor=desc, size=desc.size))
                return
        if dst.exists(repo, desc):
            self._count("blobs_skipped")
            self.emit(Event(kind=EventKind.BLOB_SKIPPED, repository=repo, descriptor=desc, size=desc.size))
            return
        with self._sending(repo, src_repo, desc) as stream:
            dst.push(repo, desc, stream)
        self._pushed(repo, desc)

    @contextlib.contextmanager
    def _sending(self, repo: str, src_repo: str, desc: Descriptor) -> Iterator[BinaryIO]:
        """The source blob as a stream that reports the bytes read and stops with the run (re-opened on a retry
        when the source cannot seek)."""

        def sent(n: int) -> None:
            self.emit(Event(kind=EventKind.BYTES, repository=repo, descriptor=desc, size=n))

        with self.src.fetch(src_repo, desc) as stream:
            if stream.seekable():
                yield with_progress(stream, sent, self.stop)
                return
            with ReopeningReader(stream, lambda: self.src.fetch(src_repo, desc)) as reopening:
                yield with_progress(cast(BinaryIO, reopening), sent, self.stop)

    def _pushed(self, repo: str, desc: Descriptor) -> None:
        with self.lock:
            self.stats.blobs_pushed += 1
            self.stats.bytes_pushed += desc.size
        self.emit(Event(kind=EventKind.BLOB_PUSHED, repository=repo, descriptor=desc, size=desc.size))

    # 3. Manifests that are no tagged root, children first (each level in parallel), by digest.
    def _push_manifest(self, node: Node) -> None:
        stream: BinaryIO = io.BytesIO(node.data)
        self.dst.push(node.repository, node.descriptor.bare(), stream)
        self._count("manifests_pushed")
        self.emit(Event(kind=EventKind.MANIFEST_PUSHED, repository=node.repository, descriptor=node.descriptor))

    # 4. Roots: each tag PUT with the bytes held (the first one stores the manifest), batch by batch.
    def _tag_batch(self, pool: ThreadPoolExecutor, batch: Sequence[RootWork]) -> None:
        """PUT the tags of a batch of roots in parallel; report them in root and tag order, even when one fails."""
        done: dict[int, list[str]] = {work.position: [] for work in batch}
        try:
            self._run_all(
                pool, [functools.partial(self._tag_root, work, done[work.position]) for work in batch if work.to_set]
            )
        finally:
            for work in batch:
                self._report(work, done[work.position])

    def _tag_root(self, work: RootWork, done: list[str]) -> None:
        root = work.root
        data = work.data if work.data is not None else _read_manifest(self.src, root.src_repo, root.descriptor)
        for tag in work.to_set:
            self.dst.tag(root.repository, root.descriptor.bare(), tag, data)
            done.append(tag)

    def _report(self, work: RootWork, done: Sequence[str]) -> None:
        root = work.root
        if work.stores and done:
            self.stats.manifests_pushed += 1
            self.emit(Event(kind=EventKind.MANIFEST_PUSHED, repository=root.repository, descriptor=root.descriptor))
        for tag in root.tags:
            if tag in work.unchanged:
                self.stats.tags_unchanged += 1
                kind = EventKind.TAG_SKIPPED
            elif tag in done:
                self.stats.tags_set += 1
                kind = EventKind.TAGGED
            else:
                continue
            self.emit(Event(kind=kind, repository=root.repository, descriptor=root.descriptor, tag=tag))

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
