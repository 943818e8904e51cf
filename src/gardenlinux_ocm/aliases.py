"""Alias tags of a release index (`latest`, `1877`, ...): moved only after the release verifies, and recorded.

`tag_release` verifies the release component, records the aliases in its `gardenlinux.io/release/aliases` label
(not signed, so signatures stay valid; a verifier reads which aliases the release was given), and then points each
alias tag of the release index's repository at the index, tags last. Aliases are meant to move from release to
release, so moving one that points elsewhere is the point, not a conflict.

An alias never takes the name of a tag that is not an alias (`check_alias`, before any I/O): not a version tag
(`1474.0`, `1473.0.build-ci.1`, `X.Y.0`), nor a flavor's or container's (`1473.0-aws-gardener_prod-amd64`,
`1473.0-container-amd64`), of this release or any other; so an alias cannot start with `MAJOR.MINOR`. Nor a
signature's (`….sig`) or a referrers fallback tag (`sha256-<hex>`). On the target, an alias that exists must point
at an image index (a release index), else it is no alias and is refused before anything is written.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import NotFound, UsageError, VerificationError
from .oci.copy import CopyStats
from .oci.copy import copy as copy_graph
from .oci.copy.changes import OnChange
from .oci.memory import MemoryTarget, OverlaySource
from .oci.model import INDEX_MEDIA_TYPES, TAG_RE, Descriptor
from .oci.target import ReadOnlyTarget, Target
from .ocm.fetch import fetch_component
from .ocm.labels import ALIASES_LABEL, RELEASE_COMPONENT
from .ocm.rebase import repack, stage
from .spec.version import check_version
from .trust.locations import Locations
from .trust.verify import verify

__all__ = ["TagResult", "tag_release", "with_aliases", "check_alias"]

INDEX_RESOURCE = "release-index"
_RELEASE_TAG = re.compile(r"^[0-9]+\.[0-9]+")  # a version tag, X.Y.0, or a flavor's or container's tag


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TagResult:
    version: str
    index: str  # repository@digest of the release index
    aliases: tuple[str, ...]  # every alias the release now records
    moved: tuple[str, ...]  # alias tags set by this run
    stats: CopyStats


def check_alias(alias: str) -> str:
    """An alias must be an OCI tag, and no tag that a release, a signature or a referrers index has (pure)."""
    if not TAG_RE.match(alias):
        raise UsageError(f"--alias {alias!r} is not an OCI tag",
                         hint="letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'")
    if alias.startswith("sha256-") or alias.endswith(".sig"):
        raise UsageError(f"--alias {alias!r} looks like a signature or referrer tag", hint="choose another alias")
    if _RELEASE_TAG.match(alias):
        raise UsageError(
            f"--alias {alias!r} has the form of a release's tag (a version, or a flavor's or container's tag, which "
            "start with MAJOR.MINOR); an alias must never take one",
            hint="use a name such as latest, stable or a bare major version (1877)",
        )
    return alias


def _check_current(alias: str, current: Descriptor | None, where: str) -> None:
    """An alias that exists on the target must point at an image index: anything else is not an alias."""
    if current is not None and current.media_type not in INDEX_MEDIA_TYPES:
        raise UsageError(f"{where}:{alias} points at a manifest ({current.media_type}), not at a release index: "
                         "it is no alias, "
                         "so it is not moved", hint="choose another alias; nothing was written")


def with_aliases(descriptor: dict[str, Any], aliases: Sequence[str]) -> dict[str, Any]:
    """A copy of the descriptor whose aliases label lists the ones it had and `aliases`, sorted (pure)."""
    out = copy.deepcopy(descriptor)
    component = out["component"]
    labels = [label for label in component.get("labels") or [] if isinstance(label, dict)]
    had = next((label.get("value") for label in labels if label.get("name") == ALIASES_LABEL), None)
    known = {str(a) for a in had} if isinstance(had, list) else set()
    others = [label for label in labels if label.get("name") != ALIASES_LABEL]
    component["labels"] = [*others, {"name": ALIASES_LABEL, "value": sorted(known | set(aliases))}]
    return out


def _index(descriptor: dict[str, Any], locations: Locations) -> tuple[Target, str, Descriptor]:
    """The release index the descriptor's `release-index` resource names, on the artefact target."""
    resources = descriptor["component"].get("resources") or []
    resource = next((r for r in resources if isinstance(r, dict) and r.get("name") == INDEX_RESOURCE), None)
    reference = (resource or {}).get("access", {}).get("imageReference")
    if not isinstance(reference, str):
        raise VerificationError(f"{RELEASE_COMPONENT}: no {INDEX_RESOURCE} resource with an ociArtifact access")
    where = locations.locate(reference)
    if isinstance(where, str):
        raise VerificationError(f"{INDEX_RESOURCE} {reference}: {where}")
    repository, _, digest = where.rest.partition("@")
    repository = repository.rsplit(":", 1)[0]
    target = where.target
    if not isinstance(target, Target):
        raise UsageError(f"{target.name} is read-only; alias tags need a writable target")
    return target, repository, target.resolve(repository, digest)


def tag_release(
    target: Target,
    version: str,
    aliases: Sequence[str],
    *,
    ocm_repository: Target | None = None,
    open_registry: Callable[[str], ReadOnlyTarget] | None = None,
) -> TagResult:
    """Verify the release on `ocm_repository` (default `target`), record `aliases`, then move the alias tags."""
    check_version(version, what="VERSION")
    names = [check_alias(a) for a in dict.fromkeys(aliases)]
    if not names:
        raise UsageError("no --alias given", hint="e.g. --alias latest --alias 1877")
    home = ocm_repository or target
    report = verify(home, RELEASE_COMPONENT, version, reference_bases=(), open_registry=open_registry)
    if not report.ok:
        lines = [f"{c.kind.value} {c.subject}: {c.detail}" for c in report.failures[:10]]
        raise VerificationError(
            f"{RELEASE_COMPONENT}:{version} on {home.name} does not verify, so no alias was moved; "
            f"{len(report.failures)} failed check(s):\n  " + "\n  ".join(lines),
            hint=f"`gl-ocm verify {home.name}` shows every check",
        )
    cv = fetch_component(home, RELEASE_COMPONENT, version)
    locations = Locations(target, open_registry=open_registry)  # the index is on the artefact target
    try:
        index_target, repository, index = _index(cv.descriptor, locations)
        current: dict[str, Descriptor | None] = {}
        for alias in names:  # every alias checked before the first write
            try:
                current[alias] = index_target.resolve(repository, alias)
            except NotFound:
                current[alias] = None
            _check_current(alias, current[alias], f"{index_target.name}/{repository}")
        stats = CopyStats()
        descriptor = with_aliases(cv.descriptor, names)
        if descriptor != cv.descriptor:  # record first: an alias is never set that the release does not list
            memory = MemoryTarget()
            root = stage(memory, repack(cv, descriptor))
            stats += copy_graph(OverlaySource(home, memory), home, [root], on_change=OnChange.OVERWRITE)
        moved = []
        for alias in names:
            found = current[alias]
            if found is None or found.digest != index.digest:
                index_target.tag(repository, index.bare(), alias)
                moved.append(alias)
    finally:
        locations.close()
    recorded = descriptor["component"]["labels"][-1]["value"]
    return TagResult(version=version, index=f"{repository}@{index.digest}", aliases=tuple(recorded),
                     moved=tuple(moved), stats=stats)
