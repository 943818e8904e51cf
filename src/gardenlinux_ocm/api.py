"""Library entry points that the CLI wraps: lint, samples, render, publish, copy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from .artefacts.inventory import scan
from .artefacts.samples import write_samples
from .errors import NotFound
from .oci.changes import OnChange
from .oci.copy import CopyRoot, CopyStats, Event, copy
from .oci.memory import PlanSource
from .oci.model import tag_to_version, version_to_tag
from .oci.target import ReadOnlyTarget, Target
from .ocm.fetch import referenced_first
from .ocm.pack import COMPONENT_DESCRIPTORS
from .plan.build import build_plan
from .plan.model import ReleasePlan
from .spec import ReleaseSpec, check_version, lint_components, load_release
from .trust.sign import sign_plan, sign_published
from .trust.verify import verify

__all__ = [
    "lint",
    "sample_artefacts",
    "plan_release",
    "publish",
    "PublishResult",
    "copy_release",
    "OnChange",
    "verify",
    "sign_published",
    "sign_plan",
]


def lint(components: Path) -> list[str]:
    """Validate every spec in `components/`; returns the release versions found."""
    return lint_components(components)


def sample_artefacts(components: Path, version: str, out: Path) -> list[Path]:
    return write_samples(load_release(components, version), out)


def plan_release(components: Path, version: str, artefacts: Path) -> tuple[ReleaseSpec, ReleasePlan]:
    """Spec + build output -> release plan. All validation happens here, before anything is written."""
    spec = load_release(components, version)
    return spec, build_plan(spec, scan(artefacts, spec))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    plan: ReleasePlan
    stats: CopyStats
    target: str


def publish(
    plan: ReleasePlan,
    target: Target,
    *,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
) -> PublishResult:
    """Write a plan to a target: blobs, manifests, the release index, component versions; tags last.

    A tag of the plan that the target already has for other content (the same version built again) is refused
    before anything is written, unless `on_change` is `OnChange.OVERWRITE`.
    """
    roots = [CopyRoot(repository=r.repository, descriptor=r.descriptor, tags=r.tags) for r in plan.roots]
    stats = copy(PlanSource(plan), target, roots, jobs=jobs, on_event=on_event, on_change=on_change)
    return PublishResult(plan=plan, stats=stats, target=target.name)


def copy_release(
    src: ReadOnlyTarget,
    dst: Target,
    *,
    version: str | None = None,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
) -> CopyStats:
    """Copy every repository and tag of `src` (only the tags of `version` when given) to `dst`, digests unchanged.

    Component versions are tagged last, each after the ones it references, so none ever appears before what it
    references, even if the copy dies midway. A tag that `dst` has for other content is refused before anything is
    written, unless `on_change` is `OnChange.OVERWRITE`.
    """
    repos = src.repositories()
    if not repos:
        raise NotFound(f"{src.name} holds no repositories")
    prefix = version_to_tag(check_version(version, what="--version")) if version else None
    artefacts: list[CopyRoot] = []
    components: list[CopyRoot] = []
    for repo in repos:
        for tag in src.tags(repo):
            if prefix is not None and tag != prefix and not tag.startswith(prefix + "-"):
                continue
            root = CopyRoot(repository=repo, descriptor=src.resolve(repo, tag), tags=(tag,))
            (components if repo.startswith(COMPONENT_DESCRIPTORS + "/") else artefacts).append(root)
    if not artefacts and not components:
        raise NotFound(f"{src.name} has no tags" + (f" of version {version}" if version else ""))
    roots = artefacts + _referenced_first(src, components)
    return copy(src, dst, roots, jobs=jobs, on_event=on_event, on_change=on_change)


def _referenced_first(src: ReadOnlyTarget, roots: list[CopyRoot]) -> list[CopyRoot]:
    """Order component versions so that every referenced one comes before its referrers."""
    by_id = {(r.repository.removeprefix(COMPONENT_DESCRIPTORS + "/"), tag_to_version(r.tags[0])): r for r in roots}
    order = referenced_first(src, sorted(by_id), missing_ok=True)
    return [by_id[(cv.name, cv.version)] for cv in order if (cv.name, cv.version) in by_id]
