"""Published images into the release descriptor: the `published-image-metadata` label of each flavor's `gardenlinux`
resource (pure), as glci's `AddPublicationOutput` writes it.

The label has no `signing: true`, so it is outside the normalised digest: attaching images to a signed release changes
the descriptor (and so the component version's manifest) but keeps every signature valid. Attaching the same images
again changes nothing; attaching other images for a flavor replaces that flavor's label.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from ..ocm.labels import PLATFORM_IMAGE_RESOURCE, PUBLISHED_IMAGES_LABEL
from .published_images import PublishedImages

__all__ = ["Attached", "attach_published_images", "flavor_of"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Attached:
    descriptor: dict[str, Any]
    attached: tuple[str, ...]  # flavors whose label was added or replaced
    unchanged: tuple[str, ...]  # flavors that had these images already
    missing: tuple[str, ...]  # flavors of the file with no `gardenlinux` resource in the descriptor


def flavor_of(identity: Mapping[str, Any]) -> str | None:
    """`<cname>-<arch>` from a resource's identity: the platform, then elements joined by '-', flags by '_'."""
    platform, arch, flags = identity.get("platform"), identity.get("architecture"), identity.get("feature-flags")
    if not isinstance(platform, str) or not isinstance(arch, str) or not isinstance(flags, str):
        return None
    cname = platform
    for flag in (f for f in flags.split(",") if f):
        cname += flag if flag.startswith("_") else f"-{flag}"
    return f"{cname}-{arch}"


def attach_published_images(descriptor: Mapping[str, Any], images: PublishedImages) -> Attached:
    """A copy of the descriptor with each flavor's publishing output as the label of its `gardenlinux` resource."""
    out = copy.deepcopy(dict(descriptor))
    resources = out.get("component", {}).get("resources") or []
    by_flavor = {}
    for res in resources:
        if isinstance(res, dict) and res.get("name") == PLATFORM_IMAGE_RESOURCE:
            flavor = flavor_of(res.get("extraIdentity") or {})
            if flavor is not None:
                by_flavor[flavor] = res
    attached, unchanged, missing = [], [], []
    for image in images.images:
        res = by_flavor.get(image.flavor)
        if res is None:
            missing.append(image.flavor)
            continue
        labels = [label for label in res.get("labels") or [] if isinstance(label, dict)]
        current = next((label for label in labels if label.get("name") == PUBLISHED_IMAGES_LABEL), None)
        if current is not None and current.get("value") == image.value:
            unchanged.append(image.flavor)
            continue
        others = [label for label in labels if label.get("name") != PUBLISHED_IMAGES_LABEL]
        res["labels"] = [*others, {"name": PUBLISHED_IMAGES_LABEL, "value": copy.deepcopy(image.value)}]
        attached.append(image.flavor)
    return Attached(descriptor=out, attached=tuple(attached), unchanged=tuple(unchanged), missing=tuple(missing))
