"""Library entry points that the CLI wraps: lint, samples, render, publish (whole, or per flavor and assemble),
copy, attach published images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..artefacts.digests import DigestCache
from ..artefacts.inventory import Selection
from ..oci.copy.changes import OnChange
from .attaching import AttachResult, attach_images
from .copying import copy_release
from .publishing import MissingParts, PublishResult, assemble, for_transport, plan_parts, plan_release, publish
from .specs import lint, sample_artefacts

if TYPE_CHECKING:
    from ..trust.sign import sign_plan, sign_published
    from ..trust.verify import verify

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
    "attach_images",
    "plan_parts",
    "for_transport",
    "assemble",
    "MissingParts",
    "Selection",
    "AttachResult",
    "DigestCache",
]


def __getattr__(name: str) -> Any:
    """Signing and verifying load on first use: they import cryptography and the OCM model, publishing does not."""
    if name in ("sign_plan", "sign_published"):
        from ..trust import sign

        return getattr(sign, name)
    if name == "verify":
        from ..trust.verify import verify

        return verify
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
