"""OCI 1.1 referrers: artifacts whose `subject` is another manifest, and how to find them (pure, plus one read).

A registry that serves the referrers API (`GET /v2/<name>/referrers/<digest>`) indexes every manifest pushed with a
`subject` itself. One that does not (distribution 2.8 and v3, an OCI layout) gets the *referrers tag schema* of the
distribution spec v1.1 instead: the tag `<alg>-<hex>` of the subject's digest names an image index that lists the
referrers, and every client that attaches one adds its entry to that index. Both ways list the same descriptors: the
referrer's media type, digest, size, `artifactType` and annotations.

Learned from: opencontainers/distribution-spec:spec.md ("Listing Referrers", "Referrers Tag Schema",
"Pushing Manifests with Subject") and oras-project/oras-go:registry/remote/repository.go (`Referrers`,
`pushWithIndexing`, `updateReferrersIndex`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..bounded import LIMITS, json_document
from ..errors import NotFound, TargetError
from .model import EMPTY_DESCRIPTOR, Descriptor, MediaType, canonical_json, descriptor_for, parse_descriptor
from .target import ReadOnlyTarget

if TYPE_CHECKING:
    from .copy import CopyRoot
    from .memory import MemoryTarget

__all__ = [
    "ReferrersApi",
    "Via",
    "Referrers",
    "fallback_tag",
    "is_fallback_tag",
    "referrer_manifest",
    "referrer_entry",
    "fallback_index",
    "merged_fallback_index",
    "serves_referrers_api",
    "list_referrers",
    "Attachment",
    "FallbackIndexes",
    "fallback_indexes",
]

_MAX_INDEX = 4 << 20
_FALLBACK_TAG = re.compile(r"sha256-[a-f0-9]{64}")


@runtime_checkable
class ReferrersApi(Protocol):
    """Optional: a target that may serve the referrers API (a registry). Checked with `isinstance`."""

    def referrers(self, repository: str, subject: Descriptor) -> list[Descriptor] | None:
        """The referrers of `subject` as the API lists them, or None when the target does not serve the API."""
        ...


class Via(StrEnum):
    API = "referrers API"
    TAG = "fallback tag"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Referrers:
    """The referrers of one subject, and how they were found (`TAG` also when the fallback tag is absent)."""

    via: Via
    entries: tuple[Descriptor, ...]
    index: Descriptor | None = None  # the fallback tag's index, when there is one


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema: `sha256:<hex>` -> `sha256-<hex>` (truncated to a tag's 128 characters)."""
    algorithm, _, encoded = subject_digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


def is_fallback_tag(tag: str) -> bool:
    """Whether a tag has the form of the referrers tag schema for a sha256 digest (`sha256-<64 hex>`)."""
    return _FALLBACK_TAG.fullmatch(tag) is not None


def referrer_manifest(
    *, artifact_type: str, layers: Sequence[Descriptor], subject: Descriptor, annotations: dict[str, str]
) -> bytes:
    """An artifact manifest that refers to `subject`: the empty config, the artifact's blobs as layers (canonical
    JSON, so the same inputs give the same digest in every process)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
        "subject": subject.bare().to_dict(),
    }
    if annotations:
        doc["annotations"] = annotations
    return canonical_json(doc)


def referrer_entry(manifest: bytes, media_type: str = MediaType.OCI_MANIFEST) -> Descriptor:
    """How a referrers listing names a manifest: its descriptor with `artifactType` (or the config's media type,
    as the spec says for a manifest without one) and its annotations."""
    doc = json_document(manifest, what="manifest", where="a referrer", limit=LIMITS.manifest)
    artifact_type = doc.get("artifactType")
    if not isinstance(artifact_type, str):
        config = doc.get("config")
        artifact_type = config.get("mediaType") if isinstance(config, dict) else None
    annotations = doc.get("annotations")
    entry = descriptor_for(manifest, str(doc.get("mediaType") or media_type),
                           artifact_type=artifact_type if isinstance(artifact_type, str) else None)
    if isinstance(annotations, dict) and annotations:
        entry = entry.with_annotations({str(k): str(v) for k, v in annotations.items()})
    return entry


def fallback_index(entries: Sequence[Descriptor]) -> bytes:
    """The image index that the fallback tag names: the referrers, in the order given."""
    return canonical_json(
        {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [e.to_dict() for e in entries]}
    )


def merged_fallback_index(existing: Sequence[Descriptor], entries: Sequence[Descriptor]) -> bytes | None:
    """The fallback index with `entries` added after those it lists already (by digest), or None when it lists
    them all: another client's referrers are kept, and attaching again writes nothing."""
    have = {e.digest for e in existing}
    added = [e for e in entries if e.digest not in have]
    return fallback_index([*existing, *added]) if added else None


def serves_referrers_api(target: ReadOnlyTarget, repository: str, subject: Descriptor) -> bool:
    """Whether `target` answers the referrers API for `repository` (asked once, with a real subject)."""
    return isinstance(target, ReferrersApi) and target.referrers(repository, subject) is not None


def _read_fallback(target: ReadOnlyTarget, repository: str, subject: Descriptor) -> Referrers:
    tag = fallback_tag(subject.digest)
    where = f"{target.name}/{repository}:{tag}"
    try:
        index = target.resolve(repository, tag)
    except NotFound:
        return Referrers(via=Via.TAG, entries=())
    if index.media_type != MediaType.OCI_INDEX or index.size > _MAX_INDEX:
        raise TargetError(f"{where} is the referrers fallback tag of {subject.digest}, but holds a {index.media_type} "
                          f"of {index.size} bytes instead of an image index", reference=where)
    with target.fetch(repository, index) as f:
        data = f.read(index.size + 1)
    try:
        doc = json_document(data, what="image index", where=where, limit=LIMITS.manifest)
        entries = tuple(parse_descriptor(m) for m in doc["manifests"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise TargetError(f"{where}: the referrers fallback index of {subject.digest} is malformed: {e}",
                          reference=where) from e
    return Referrers(via=Via.TAG, entries=entries, index=index)


def _tag_points_at(target: ReadOnlyTarget, repository: str, tag: str, index: Descriptor) -> bool:
    try:
        return target.resolve(repository, tag).digest == index.digest
    except NotFound:
        return False


def list_referrers(target: ReadOnlyTarget, repository: str, subject: Descriptor) -> Referrers:
    """The referrers of `subject`: through the API where the target serves it, else through the fallback tag."""
    if isinstance(target, ReferrersApi):
        found = target.referrers(repository, subject)
        if found is not None:
            return Referrers(via=Via.API, entries=tuple(found))
    return _read_fallback(target, repository, subject)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """Referrers to attach to one subject: their entries, as a referrers listing names them."""

    repository: str
    subject: Descriptor
    entries: tuple[Descriptor, ...]
    index: Descriptor | None = None  # the fallback index of exactly these entries, when the caller has it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FallbackIndexes:
    """The fallback indexes to store (staged in `source`, one root per changed tag), the repositories whose
    referrers the target indexes itself (no fallback tag there), and the referrers it lists already (repository,
    digest): a listed referrer is stored, so it needs no upload and no question."""

    source: MemoryTarget
    roots: tuple[CopyRoot, ...]
    api: frozenset[str]
    listed: frozenset[tuple[str, str]] = frozenset()

    def unlisted(self, referrers: Sequence[CopyRoot]) -> list[CopyRoot]:
        """The referrers to store: those the target does not list yet (a listed one is stored)."""
        return [r for r in referrers if (r.repository, r.descriptor.digest) not in self.listed]


def fallback_indexes(target: ReadOnlyTarget, attachments: Sequence[Attachment]) -> FallbackIndexes:
    """What the fallback tags of `attachments` must become on `target`: nothing where the target serves the
    referrers API (found by asking it for the first subject of each repository), else each subject's index with the
    new entries after those it lists (another client's are kept); a tag that lists them all is left alone, and one
    that is the attachment's own `index` (a publish again) costs one resolve. Nothing is written here."""
    import io

    from .copy import CopyRoot
    from .memory import MemoryTarget

    source = MemoryTarget()
    roots: list[CopyRoot] = []
    api: dict[str, bool] = {}
    listed: set[tuple[str, str]] = set()
    for a in attachments:
        if a.index is not None and _tag_points_at(target, a.repository, fallback_tag(a.subject.digest), a.index):
            listed.update((a.repository, e.digest) for e in a.entries)  # published before: nothing more to ask
            continue
        found: list[Descriptor] | None = None
        if api.get(a.repository, True) and isinstance(target, ReferrersApi):
            found = target.referrers(a.repository, a.subject)
        api.setdefault(a.repository, found is not None)
        if found is not None:
            listed.update((a.repository, e.digest) for e in found)
            continue
        existing = _read_fallback(target, a.repository, a.subject)
        listed.update((a.repository, e.digest) for e in existing.entries)
        merged = merged_fallback_index(existing.entries, a.entries)
        if merged is None:
            continue
        desc = descriptor_for(merged, MediaType.OCI_INDEX)
        tag = fallback_tag(a.subject.digest)
        source.push(a.repository, desc, io.BytesIO(merged))
        source.tag(a.repository, desc, tag)
        roots.append(CopyRoot(repository=a.repository, descriptor=desc, tags=(tag,), may_move=True))  # a superset
    return FallbackIndexes(source=source, roots=tuple(roots), api=frozenset(r for r, yes in api.items() if yes),
                           listed=frozenset(listed))
