"""Attaching the clouds' publishing output to a published release."""


from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..oci.copy import CopyStats, copy
from ..oci.copy.changes import OnChange
from ..oci.memory import MemoryTarget, OverlaySource
from ..oci.target import Target
from ..ocm.labels import PLATFORM_IMAGE_RESOURCE, RELEASE_COMPONENT
from ..spec import check_version

if TYPE_CHECKING:
    from ..gardener.published_images import PublishedImages
from .publishing import _check_flavors


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttachResult:
    target: str
    version: str
    attached: tuple[str, ...]
    unchanged: tuple[str, ...]
    before: str  # the release component version's manifest digest
    after: str
    stats: CopyStats


def attach_images(target: Target, version: str, images: PublishedImages, *, jobs: int = 4) -> AttachResult:
    """Attach published images to a published release: label, re-pack and re-tag its component version.

    A flavor of the file that the release does not have is refused (`SpecError`) before anything is written;
    images already attached are not written again. Signatures stay valid (the label is not signed).
    """
    from ..gardener.attach import attach_published_images, flavor_of
    from ..ocm.fetch import fetch_component
    from ..ocm.rebase import repack, stage

    cv = fetch_component(target, RELEASE_COMPONENT, check_version(version, what="VERSION"))
    result = attach_published_images(cv.descriptor, images)
    if result.missing:
        known = [f for r in _dicts(cv.descriptor) if (f := flavor_of(r.get("extraIdentity") or {}))]
        _check_flavors(images, known, f"{RELEASE_COMPONENT}:{version} on {target.name}")
    source = MemoryTarget()
    packed = repack(cv, result.descriptor)
    root = stage(source, packed)
    stats = CopyStats()
    if result.attached:
        stats = copy(OverlaySource(target, source), target, [root], jobs=jobs, on_change=OnChange.OVERWRITE)
    return AttachResult(target=target.name, version=version, attached=result.attached, unchanged=result.unchanged,
                        before=cv.manifest_descriptor.digest, after=packed.manifest_descriptor.digest, stats=stats)


def _dicts(descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    resources = descriptor.get("component", {}).get("resources") or []
    return [r for r in resources if isinstance(r, dict) and r.get("name") == PLATFORM_IMAGE_RESOURCE]
