"""copy() on small in-memory graphs: what it asks and sends, counted by a recording wrapper around the destination.

A first copy sends each root manifest's bytes once per tag and never by digest; a second copy of the same roots only
resolves their tags; a blob placed in one repository is mounted into the next without an existence check first.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

import pytest

from gardenlinux_ocm.errors import NotFound, TargetError
from gardenlinux_ocm.oci.copy import CopyRoot, Event, EventKind, copy
from gardenlinux_ocm.oci.copy.changes import OnChange, TagsWouldMove
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import (
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    Descriptor,
    MediaType,
    canonical_json,
    descriptor_for,
)

Call = tuple[str, ...]


class Recording:
    """Wraps a target and records every call (oras-go's storageTracker): ("exists", repo, digest), ("tag", repo,
    tag, "bytes"|"none"), ... The wrapped `MemoryTarget` does the work; `mount` links the blob like a registry."""

    def __init__(self, inner: MemoryTarget, *, mount: str = "link") -> None:
        self.inner = inner
        self.calls: list[Call] = []
        self.sent: Counter[tuple[str, str]] = Counter()  # (repository, digest) -> manifest uploads (push or tag)
        self._mount = mount  # "link": 201; "upload": the registry opened an upload session (202)

    @property
    def name(self) -> str:
        return "recording"

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        self.calls.append(("exists", repository, descriptor.digest))
        return self.inner.exists(repository, descriptor)

    def fetch(self, repository: str, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        self.calls.append(("fetch", repository, descriptor.digest))
        return self.inner.fetch(repository, descriptor)

    def resolve(self, repository: str, reference: str) -> Descriptor:
        self.calls.append(("resolve", repository, reference))
        return self.inner.resolve(repository, reference)

    def tags(self, repository: str) -> list[str]:
        return self.inner.tags(repository)

    def repositories(self) -> list[str]:
        return self.inner.repositories()

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        self.calls.append(("push", repository, descriptor.digest))
        if descriptor.media_type in (MediaType.OCI_MANIFEST, MediaType.OCI_INDEX):
            self.sent[(repository, descriptor.digest)] += 1
        self.inner.push(repository, descriptor, content)

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        self.calls.append(("tag", repository, tag, "none" if data is None else "bytes"))
        if data is not None:
            self.sent[(repository, descriptor.digest)] += 1
        self.inner.tag(repository, descriptor, tag, data)

    def mount(
        self,
        repository: str,
        descriptor: Descriptor,
        from_repository: str,
        content: Callable[[], AbstractContextManager[BinaryIO]] | None = None,
    ) -> bool:
        self.calls.append(("mount", repository, descriptor.digest, from_repository))
        if self._mount == "upload" and content is not None:
            with content() as stream:
                self.inner.push(repository, descriptor, stream)
            return True
        with self.inner.fetch(from_repository, descriptor) as f:
            self.inner.push(repository, descriptor, f)
        return True

    def of(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c[0] == kind]


def _blob(data: bytes) -> tuple[bytes, Descriptor]:
    return data, descriptor_for(data, "application/octet-stream")


def _image(*layers: Descriptor) -> tuple[bytes, Descriptor]:
    data = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": [layer.to_dict() for layer in layers],
        }
    )
    return data, descriptor_for(data, MediaType.OCI_MANIFEST)


def _index(*manifests: Descriptor) -> tuple[bytes, Descriptor]:
    data = canonical_json(
        {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [m.to_dict() for m in manifests]}
    )
    return data, descriptor_for(data, MediaType.OCI_INDEX)


class Release:
    """Two flavors and a release index listing them in `gl`, a component version in `cv` sharing a layer."""

    def __init__(self, flavor_payload: bytes = b"flavor one") -> None:
        self.src = MemoryTarget()
        one, self.one = _blob(flavor_payload)
        two, self.two = _blob(b"flavor two")
        shared, self.shared = _blob(b"shared layer")
        f1, self.f1 = _image(self.one, self.shared)
        f2, self.f2 = _image(self.two, self.shared)
        index, self.index = _index(self.f1, self.f2)
        component, self.component = _image(self.shared)
        for repo, data, desc in (
            ("gl", EMPTY_JSON, EMPTY_DESCRIPTOR),
            ("gl", one, self.one),
            ("gl", two, self.two),
            ("gl", shared, self.shared),
            ("gl", f1, self.f1),
            ("gl", f2, self.f2),
            ("gl", index, self.index),
            ("cv", EMPTY_JSON, EMPTY_DESCRIPTOR),
            ("cv", shared, self.shared),
            ("cv", component, self.component),
        ):
            self.src.push(repo, desc, io.BytesIO(data))
        self.bytes = {d.digest: data for data, d in ((f1, self.f1), (f2, self.f2), (index, self.index))}
        self.bytes[self.component.digest] = component
        self.roots = [
            CopyRoot(repository="gl", descriptor=self.f1, tags=("1.0-one",)),
            CopyRoot(repository="gl", descriptor=self.f2, tags=("1.0-two",)),
            CopyRoot(repository="gl", descriptor=self.index, tags=("1.0", "latest")),
            CopyRoot(repository="cv", descriptor=self.component, tags=("1.0",)),
        ]


def _tags(roots: list[CopyRoot]) -> int:
    return sum(len(r.tags) for r in roots)


def test_first_copy_sends_each_root_once_per_tag_and_never_by_digest() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    events: list[Event] = []
    stats = copy(release.src, dst, release.roots, on_event=events.append)

    root_digests = {r.descriptor.digest for r in release.roots}
    assert not [c for c in dst.of("push") if c[2] in root_digests]  # no root PUT by digest
    assert all(c[3] == "bytes" for c in dst.of("tag"))  # every tag carries the bytes: nothing is read back
    assert dst.of("fetch") == []
    for root in release.roots:
        assert dst.sent[(root.repository, root.descriptor.digest)] == len(root.tags)
        for tag in root.tags:
            assert dst.inner.resolve(root.repository, tag).digest == root.descriptor.digest
    assert stats.manifests_pushed == len(release.roots) and stats.tags_set == _tags(release.roots)
    assert stats.blobs_pushed == 4 and stats.blobs_mounted == 2  # the shared layer and config reach `cv` by mounts
    tagged = [f"{e.repository}:{e.tag}" for e in events if e.kind is EventKind.TAGGED]
    assert tagged == ["gl:1.0-one", "gl:1.0-two", "gl:1.0", "gl:latest", "cv:1.0"]  # root order, deterministic
    pushed = [e.descriptor.digest for e in events if e.kind is EventKind.MANIFEST_PUSHED and e.descriptor]
    assert pushed == [r.descriptor.digest for r in release.roots]


def test_a_root_is_stored_only_after_its_graph_and_the_roots_it_lists() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    copy(release.src, dst, release.roots)
    writes = [c for c in dst.calls if c[0] in ("push", "tag", "mount")]
    position = {c: i for i, c in enumerate(writes)}
    first_tag = min(i for i, c in enumerate(writes) if c[0] == "tag")
    assert all(c[0] != "tag" for c in writes[:first_tag]) and all(c[0] == "tag" for c in writes[first_tag:])
    index_tag = position[("tag", "gl", "1.0", "bytes")]
    assert (
        position[("tag", "gl", "1.0-one", "bytes")] < index_tag
        and position[("tag", "gl", "1.0-two", "bytes")] < index_tag
    )
    assert position[("tag", "gl", "latest", "bytes")] < position[("tag", "cv", "1.0", "bytes")]


def test_no_existence_check_twice_and_mounts_without_one() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    copy(release.src, dst, release.roots)
    checks = Counter(c[1:] for c in dst.of("exists"))
    assert checks and max(checks.values()) == 1
    mounts = sorted(dst.of("mount"))
    assert mounts == sorted(("mount", "cv", d.digest, "gl") for d in (release.shared, EMPTY_DESCRIPTOR))
    assert not [c for c in checks if c[0] == "cv" and c[1] != release.component.digest]  # mounted straight away
    resolves = Counter(c[1:] for c in dst.of("resolve"))
    assert len(resolves) == _tags(release.roots) and max(resolves.values()) == 1  # at check time only


def test_second_copy_only_resolves_each_tag_once() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    copy(release.src, dst, release.roots)
    dst.calls.clear()
    events: list[Event] = []
    again = copy(release.src, dst, release.roots, on_event=events.append)
    assert sorted(dst.calls) == sorted(("resolve", r.repository, t) for r in release.roots for t in r.tags)
    assert again.wrote_nothing and again.tags_unchanged == _tags(release.roots)
    assert again.manifests_skipped == len(release.roots) and again.blobs_skipped == 0
    skipped = [f"{e.repository}:{e.tag}" for e in events if e.kind is EventKind.TAG_SKIPPED]
    assert skipped == ["gl:1.0-one", "gl:1.0-two", "gl:1.0", "gl:latest", "cv:1.0"]


def test_a_missing_tag_of_a_stored_root_is_put_with_the_bytes_held_and_nothing_below_is_checked() -> None:
    release = Release()
    inner = MemoryTarget()
    copy(release.src, inner, release.roots)
    roots = [*release.roots[:2], CopyRoot(repository="gl", descriptor=release.index, tags=("1.0", "1.0.0"))]
    dst = Recording(inner)
    stats = copy(release.src, dst, roots)
    # 1.0 points at the index already: its graph is complete; only the new tag is PUT, with the bytes.
    assert [c for c in dst.calls if c[0] != "resolve"] == [("tag", "gl", "1.0.0", "bytes")]
    assert stats.tags_set == 1 and stats.tags_unchanged == 3 and stats.manifests_pushed == 0


def test_a_root_stored_without_tags_is_checked_once_then_tagged_with_its_bytes() -> None:
    release = Release()
    inner = MemoryTarget()
    copy(release.src, inner, [CopyRoot(repository="gl", descriptor=release.index)])  # no tags: by digest
    dst = Recording(inner)
    stats = copy(release.src, dst, [CopyRoot(repository="gl", descriptor=release.index, tags=("1.0",))])
    assert dst.calls == [
        ("resolve", "gl", "1.0"),
        ("exists", "gl", release.index.digest),  # the tag is missing: the old rule, one check of the root
        ("tag", "gl", "1.0", "bytes"),
    ]
    assert stats.manifests_skipped == 1 and stats.manifests_pushed == 0 and stats.tags_set == 1


def test_a_tagless_root_is_pushed_by_digest() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    stats = copy(release.src, dst, [CopyRoot(repository="gl", descriptor=release.f1)])
    assert ("push", "gl", release.f1.digest) in dst.calls and dst.of("tag") == []
    assert stats.manifests_pushed == 1 and stats.tags_set == 0


def test_overwrite_moves_a_tag_with_one_put_and_fail_refuses_before_writing() -> None:
    old, new = Release(), Release(b"flavor one, rebuilt")
    dst = Recording(MemoryTarget())
    copy(old.src, dst, old.roots)
    dst.calls.clear()
    with pytest.raises(TagsWouldMove):
        copy(new.src, dst, new.roots)
    assert {c[0] for c in dst.calls} == {"resolve", "fetch"}  # nothing written (the message compares manifests)
    dst.calls.clear()
    stats = copy(new.src, dst, new.roots, on_change=OnChange.OVERWRITE)
    # f2 and the component are unchanged (tags point at them: untouched); f1 and the index move.
    assert dst.of("tag") == [
        ("tag", "gl", "1.0-one", "bytes"),
        ("tag", "gl", "1.0", "bytes"),
        ("tag", "gl", "latest", "bytes"),
    ]
    assert not [c for c in dst.of("exists") if c[2] in (new.f2.digest, new.component.digest)]
    assert stats.manifests_pushed == 2 and stats.tags_set == 3 and stats.tags_unchanged == 2
    assert stats.blobs_pushed == 1  # only the rebuilt layer
    for root in new.roots:
        assert dst.inner.resolve(root.repository, root.tags[0]).digest == root.descriptor.digest


def test_a_root_listed_before_the_roots_it_needs_waits_for_them() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    index, f1, f2, component = release.roots[2], release.roots[0], release.roots[1], release.roots[3]
    events: list[Event] = []
    copy(release.src, dst, [index, f1, f2, component], on_event=events.append)  # as `copy_release` sorts tags
    tagged = [f"{e.repository}:{e.tag}" for e in events if e.kind is EventKind.TAGGED]
    assert tagged == ["gl:1.0-one", "gl:1.0-two", "gl:1.0", "gl:latest", "cv:1.0"]
    assert [c[2] for c in dst.of("tag")].index("1.0") > 1
    assert not [c for c in dst.of("push") if c[2] in release.bytes]


def test_a_root_that_an_untagged_manifest_lists_is_stored_before_it() -> None:
    release = Release()
    outer, outer_desc = _index(release.index)
    release.src.push("gl", outer_desc, io.BytesIO(outer))
    roots = [release.roots[0], CopyRoot(repository="gl", descriptor=outer_desc)]  # f1 is listed below `outer`
    dst = Recording(MemoryTarget())
    stats = copy(release.src, dst, roots)
    pushes = [c[2] for c in dst.of("push")]
    assert pushes.index(release.f1.digest) < pushes.index(release.index.digest) < pushes.index(outer_desc.digest)
    assert dst.of("tag") == [("tag", "gl", "1.0-one", "bytes")]
    assert stats.manifests_pushed == 4 and stats.tags_set == 1  # f1, f2, the index and `outer`, by digest


def test_the_same_manifest_under_two_roots_is_stored_once() -> None:
    release = Release()
    dst = Recording(MemoryTarget())
    roots = [CopyRoot(repository="gl", descriptor=release.f1, tags=(t,)) for t in ("a", "b")]
    stats = copy(release.src, dst, roots)
    assert dst.of("tag") == [("tag", "gl", "a", "bytes"), ("tag", "gl", "b", "bytes")]
    assert stats.manifests_pushed == 1 and stats.tags_set == 2


def test_a_mount_answered_with_an_upload_counts_as_a_push() -> None:
    release = Release()
    dst = Recording(MemoryTarget(), mount="upload")
    events: list[Event] = []
    stats = copy(release.src, dst, release.roots, on_event=events.append)
    assert stats.blobs_mounted == 0 and stats.blobs_pushed == 6
    sent = sum(e.size for e in events if e.kind is EventKind.BYTES and e.repository == "cv")
    assert sent == release.shared.size + len(EMPTY_JSON)
    assert dst.inner.exists("cv", release.shared)


class FailingTag(Recording):
    """Refuses to tag one flavor: the flavors are one parallel batch, the index comes after it."""

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        if tag == "1.0-two":
            raise TargetError("refused")
        super().tag(repository, descriptor, tag, data)


def test_a_failing_tag_stops_before_the_roots_that_need_it_and_reports_what_was_done() -> None:
    release = Release()
    dst = FailingTag(MemoryTarget())
    events: list[Event] = []
    with pytest.raises(TargetError, match="refused"):
        copy(release.src, dst, release.roots, on_event=events.append)
    assert [f"{e.repository}:{e.tag}" for e in events if e.kind is EventKind.TAGGED] == ["gl:1.0-one"]
    with pytest.raises(NotFound):
        dst.inner.resolve("gl", "1.0")
    assert dst.inner.tags("cv") == []


def test_layout_and_memory_tag_with_bytes_store_the_manifest(tmp_path: Any) -> None:
    from gardenlinux_ocm.oci.layout import LayoutTarget

    release = Release()
    for target in (MemoryTarget(), LayoutTarget(tmp_path / "oci")):
        for data, desc in (
            (EMPTY_JSON, EMPTY_DESCRIPTOR),
            (b"flavor one", release.one),
            (b"shared layer", release.shared),
        ):
            target.push("gl", desc, io.BytesIO(data))
        with pytest.raises(NotFound):
            target.tag("gl", release.f1, "v1")
        target.tag("gl", release.f1, "v1", release.bytes[release.f1.digest])
        assert target.exists("gl", release.f1) and target.resolve("gl", "v1").digest == release.f1.digest


def _referrer(subject: Descriptor, payload: bytes) -> tuple[bytes, bytes, Descriptor, Descriptor]:
    blob, blob_desc = _blob(payload)
    data = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "artifactType": "text/x-sbom",
                           "config": EMPTY_DESCRIPTOR.to_dict(), "layers": [blob_desc.to_dict()],
                           "subject": subject.bare().to_dict()})
    return blob, data, blob_desc, descriptor_for(data, MediaType.OCI_MANIFEST)


def test_a_referrer_goes_by_digest_before_its_subject_is_tagged_and_the_subject_once_by_its_tag() -> None:
    release = Release()
    blob, data, blob_desc, desc = _referrer(release.f1, b"sbom")
    release.src.push("gl", blob_desc, io.BytesIO(blob))
    release.src.push("gl", desc, io.BytesIO(data))
    dst = Recording(MemoryTarget())
    copy(release.src, dst, [CopyRoot(repository="gl", descriptor=desc), *release.roots])
    writes = [c for c in dst.calls if c[0] in ("push", "tag")]
    assert writes.index(("push", "gl", desc.digest)) < writes.index(("tag", "gl", "1.0-one", "bytes"))
    assert dst.sent[("gl", release.f1.digest)] == 1  # the subject: one PUT, under its tag, not demoted by digest
    assert ("push", "gl", release.f1.digest) not in dst.calls


def test_a_root_that_may_move_is_not_refused_the_others_still_are() -> None:
    old, new = Release(), Release(b"flavor one, rebuilt")
    dst = Recording(MemoryTarget())
    copy(old.src, dst, old.roots)
    moving = [dataclasses.replace(r, may_move=True) if r.tags == ("1.0-one",) else r for r in new.roots]
    with pytest.raises(TagsWouldMove) as info:
        copy(new.src, dst, moving)  # the index moves too, and may not
    assert [m.tag for m in info.value.moves] == ["1.0", "latest"]
    copy(new.src, dst, [r for r in moving if r.may_move])
    assert dst.inner.resolve("gl", "1.0-one").digest == new.f1.digest
