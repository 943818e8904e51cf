"""What a copy would change on the destination: tags that already exist there and point at other content.

A published version is immutable by default: publishing 1473.0 again with another changelog would silently move
the flavor tag, the release index and the component versions that reference it. `current_tags` resolves every tag of
every copy root on the destination before anything is written (once: `copy` plans with the answers too);
`check_changes` refuses with `TagsWouldMove`, which names each tag and the files whose content differs, unless the
policy is `OnChange.OVERWRITE`. Reading is bounded; nothing here writes.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ...bounded import LIMITS, json_document
from ...errors import GlOcmError, NotFound, TargetError
from ..model import Descriptor, MediaType, is_manifest, parse_descriptor
from ..target import ReadOnlyTarget

if TYPE_CHECKING:
    from .model import CopyRoot

__all__ = [
    "OnChange",
    "TagMove",
    "TagsWouldMove",
    "CurrentTags",
    "current_tags",
    "tag_moves",
    "describe_move",
    "check_changes",
]

TITLE = "org.opencontainers.image.title"
_ROLE = "io.gardenlinux.role"
_FLAVOR = "io.gardenlinux.flavor"
_OCM_ARTIFACT = "software.ocm.artifact"
_MAX_MANIFEST = 4 << 20
_MAX_LISTED = 20  # tags named in the message; the rest are counted
_MAX_DIFFERENCES = 6  # differences named per tag


class OnChange(StrEnum):
    """What to do when a tag that exists on the destination would point at other content."""

    FAIL = "fail"  # refuse before anything is written (exit 1)
    OVERWRITE = "overwrite"  # move the tag


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TagMove:
    """A tag the copy would move: where it points now and where the copy would point it."""

    repository: str
    tag: str
    current: Descriptor  # where the tag points on the destination
    planned: Descriptor  # the copy root it would point at
    differences: tuple[str, ...] = ()  # what differs, for people ("changelog NAME differs")

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


class TagsWouldMove(TargetError):
    """Tags that exist on the destination would point at other content, and the policy is `OnChange.FAIL`."""

    def __init__(self, message: str, *, moves: tuple[TagMove, ...], hint: str | None = None) -> None:
        super().__init__(message, reference=moves[0].reference if moves else None, hint=hint)
        self.moves = moves


CurrentTags = Mapping[tuple[str, str], Descriptor | None]
"""What each `(repository, tag)` of the copy roots points at on the destination; None when the tag is absent."""


def current_tags(
    dst: ReadOnlyTarget, roots: Sequence[CopyRoot], *, jobs: int = 1
) -> dict[tuple[str, str], Descriptor | None]:
    """Resolve every tag of `roots` on `dst`, each once (`jobs` at a time); absent tags map to None.

    The answers come back in root and tag order whatever the parallelism; the first failure in that order is raised.
    """
    keys = list(dict.fromkeys((root.repository, tag) for root in roots for tag in root.tags))

    def resolve(key: tuple[str, str]) -> Descriptor | None:
        try:
            return dst.resolve(*key)
        except NotFound:
            return None

    if jobs <= 1 or len(keys) <= 1:
        return {key: resolve(key) for key in keys}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gl-ocm-resolve") as pool:
        futures = [pool.submit(contextvars.copy_context().run, resolve, key) for key in keys]
        try:
            return {key: future.result() for key, future in zip(keys, futures, strict=True)}
        finally:
            for future in futures:
                future.cancel()


def tag_moves(
    dst: ReadOnlyTarget, roots: Sequence[CopyRoot], *, current: CurrentTags | None = None
) -> tuple[TagMove, ...]:
    """Every tag of `roots` that exists on `dst` and points at another digest, in root and tag order.

    Resolving reads (and so validates) the tag list of every destination repository before anything is written;
    `current` (from `current_tags`) gives the answers already known.
    """
    found = current if current is not None else current_tags(dst, roots)
    moves: list[TagMove] = []
    for root in roots:
        for tag in root.tags:
            descriptor = found[(root.repository, tag)]
            if descriptor is not None and descriptor.digest != root.descriptor.digest:
                moves.append(TagMove(repository=root.repository, tag=tag, current=descriptor, planned=root.descriptor))
    return tuple(moves)


def describe_move(src: ReadOnlyTarget, dst: ReadOnlyTarget, move: TagMove, *, source_repository: str) -> TagMove:
    """The same move with `differences` filled in from both manifests (best effort: unreadable content is said)."""
    try:
        current = _manifest(dst, move.repository, move.current)
        planned = _manifest(src, source_repository, move.planned)
    except (GlOcmError, OSError, ValueError) as e:
        return dataclasses.replace(move, differences=(f"cannot compare the manifests: {_reason(e)}",))
    found = _differences(current, planned, src, dst, move.repository, source_repository, depth=1)
    return dataclasses.replace(move, differences=tuple(found) or ("manifest bytes differ",))


def check_changes(
    src: ReadOnlyTarget,
    dst: ReadOnlyTarget,
    roots: Sequence[CopyRoot],
    on_change: OnChange,
    *,
    current: CurrentTags | None = None,
) -> tuple[TagMove, ...]:
    """The tags the copy would move; raises `TagsWouldMove` (nothing written yet) unless `on_change` allows it.

    `current` (from `current_tags`) saves resolving the tags again.
    """
    moves = tag_moves(dst, [r for r in roots if not r.may_move], current=current)
    if not moves or on_change is OnChange.OVERWRITE:
        return moves
    sources = {(r.repository, r.descriptor.digest): r.src_repo for r in roots}
    listed = [
        describe_move(src, dst, m, source_repository=sources[(m.repository, m.planned.digest)])
        for m in moves[:_MAX_LISTED]
    ]
    lines = [f"{_one_line(m)}" for m in listed]
    if len(moves) > _MAX_LISTED:
        lines.append(f"  ... and {len(moves) - _MAX_LISTED} more")
    raise TagsWouldMove(
        f"{len(moves)} tag(s) on {dst.name} already point at other content; nothing was written:\n" + "\n".join(lines),
        moves=tuple(listed) + moves[_MAX_LISTED:],
        hint="a published version should not change: publish the changed build as a new version, or, if replacing "
        "it is intended, run again with --on-change overwrite",
    )


def _one_line(move: TagMove) -> str:
    shown = list(move.differences[:_MAX_DIFFERENCES])
    if len(move.differences) > _MAX_DIFFERENCES:
        shown.append(f"{len(move.differences) - _MAX_DIFFERENCES} more")
    return f"  {move.reference}: {_short(move.current.digest)} -> {_short(move.planned.digest)}: {'; '.join(shown)}"


def _short(digest: str) -> str:
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}"


def _reason(e: BaseException) -> str:
    return e.message if isinstance(e, GlOcmError) else str(e)


def _manifest(target: ReadOnlyTarget, repository: str, descriptor: Descriptor) -> dict[str, Any]:
    if descriptor.size > _MAX_MANIFEST:
        raise ValueError(f"{repository}@{descriptor.digest} has {descriptor.size} bytes, more than a manifest may have")
    with target.fetch(repository, descriptor) as f:
        data = f.read(_MAX_MANIFEST + 1)
    value = json_document(data, what="manifest", where=f"{repository}@{descriptor.digest}", limit=LIMITS.manifest)
    if not isinstance(value, dict):
        raise ValueError(f"{repository}@{descriptor.digest} is not a JSON object")
    return value


def _differences(
    current: Mapping[str, Any],
    planned: Mapping[str, Any],
    src: ReadOnlyTarget,
    dst: ReadOnlyTarget,
    repository: str,
    source_repository: str,
    *,
    depth: int,
) -> list[str]:
    """What differs between two manifests, named by file title, role, flavor or OCM identity (pure but for depth)."""
    found: list[str] = []
    if current.get("mediaType") != planned.get("mediaType"):
        found.append(f"media type {current.get('mediaType')} -> {planned.get('mediaType')}")
    if current.get("artifactType") != planned.get("artifactType"):
        found.append(f"artifact type {current.get('artifactType')} -> {planned.get('artifactType')}")
    if _digest_of(current.get("config")) != _digest_of(planned.get("config")):
        found.append("config differs")
    key = "manifests" if planned.get("mediaType") == MediaType.OCI_INDEX or "manifests" in planned else "layers"
    pairs, removed, added = _pair(_entries(current.get(key)), _entries(planned.get(key)))
    for old, new in pairs:
        if old.get("digest") == new.get("digest"):
            continue
        inner: list[str] = []
        if depth > 0 and is_manifest(str(new.get("mediaType", ""))):
            try:
                inner = _differences(
                    _manifest(dst, repository, parse_descriptor(old)),
                    _manifest(src, source_repository, parse_descriptor(new)),
                    src,
                    dst,
                    repository,
                    source_repository,
                    depth=depth - 1,
                )
            except (GlOcmError, OSError, ValueError):
                inner = []
        found.append(f"{_label(new)} differs" + (f" ({', '.join(inner)})" if inner else ""))
    found.extend(f"{_label(d)} removed" for d in removed)
    found.extend(f"{_label(d)} added" for d in added)
    changed = sorted(
        k
        for k in set(_annotations(current)) | set(_annotations(planned))
        if _annotations(current).get(k) != _annotations(planned).get(k)
    )
    if changed:
        found.append(f"annotation(s) {', '.join(changed)} differ")
    return found


def _entries(value: object) -> list[dict[str, Any]]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _digest_of(value: object) -> object:
    return value.get("digest") if isinstance(value, dict) else None


def _annotations(entry: Mapping[str, Any]) -> dict[str, Any]:
    value = entry.get("annotations")
    return value if isinstance(value, dict) else {}


def _identity(entry: Mapping[str, Any]) -> str:
    """What makes a layer or index entry the same file across two versions of a manifest: its title, else the rest
    of its descriptor without digest and size (annotations, platform, media type)."""
    title = _annotations(entry).get(TITLE)
    if isinstance(title, str) and title:
        return f"title:{title}"
    rest = {k: v for k, v in entry.items() if k not in ("digest", "size")}
    return "descriptor:" + json.dumps(rest, sort_keys=True)


def _pair(
    current: Iterable[dict[str, Any]], planned: Iterable[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Entries paired by identity, then the unpaired ones without a title by position; returns pairs, removed and
    added (a file under another title is another file)."""
    old, new = list(current), list(planned)
    by_identity: dict[str, list[int]] = {}
    for i, entry in enumerate(old):
        by_identity.setdefault(_identity(entry), []).append(i)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    used: set[int] = set()
    unpaired_new: list[dict[str, Any]] = []
    for entry in new:
        candidates = [i for i in by_identity.get(_identity(entry), []) if i not in used]
        if candidates:
            used.add(candidates[0])
            pairs.append((old[candidates[0]], entry))
        else:
            unpaired_new.append(entry)
    unpaired_old = [e for i, e in enumerate(old) if i not in used]
    untitled_old = [e for e in unpaired_old if not _titled(e)]
    untitled_new = [e for e in unpaired_new if not _titled(e)]
    by_position = list(zip(untitled_old, untitled_new, strict=False))
    paired = {id(e) for pair in by_position for e in pair}
    removed = [e for e in unpaired_old if id(e) not in paired]
    added = [e for e in unpaired_new if id(e) not in paired]
    return pairs + by_position, removed, added


def _titled(entry: Mapping[str, Any]) -> bool:
    return bool(_annotations(entry).get(TITLE))


def _label(entry: Mapping[str, Any]) -> str:
    """A layer or index entry as people know it: "changelog NAME", "flavor NAME", "resource NAME (identity)"."""
    annotations = _annotations(entry)
    title, role = annotations.get(TITLE), annotations.get(_ROLE)
    if isinstance(title, str) and title:
        return f"{role} {title}" if isinstance(role, str) and role else title
    flavor = annotations.get(_FLAVOR)
    if isinstance(flavor, str) and flavor:
        return f"flavor {flavor}"
    artifact = _ocm_artifact(annotations.get(_OCM_ARTIFACT))
    if artifact:
        return artifact
    media_type = str(entry.get("mediaType", ""))
    if media_type == MediaType.OCM_DESCRIPTOR_YAML_TAR:
        return "component descriptor"
    platform = entry.get("platform")
    if isinstance(platform, dict):
        shown = "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))
        return f"{shown} image"
    try:
        return f"{media_type or 'blob'} {parse_descriptor(dict(entry)).digest[:19]}"
    except ValueError:
        return media_type or "entry"


def _ocm_artifact(value: object) -> str:
    """The OCM identity in a local blob's `software.ocm.artifact` annotation, e.g. "resource changelog (...)"."""
    try:
        items = (json_document(value, what="annotation", where="software.ocm.artifact", limit=LIMITS.error)
                 if isinstance(value, str) else None)
    except (ValueError, GlOcmError):
        return ""
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return ""
    identity = items[0].get("identity")
    if not isinstance(identity, dict):
        return ""
    extra = ", ".join(f"{k}={v}" for k, v in sorted(identity.items()) if k != "name")
    return f"{items[0].get('kind', 'resource')} {identity.get('name', '?')}" + (f" ({extra})" if extra else "")
