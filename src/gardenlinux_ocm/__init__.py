"""gardenlinux-ocm: publish Garden Linux releases as OCI artefacts and OCM component versions.

The library API lives in `gardenlinux_ocm.api`; its names are re-exported here and imported on first use, so that
importing the package (and starting the CLI) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import GlOcmError

if TYPE_CHECKING:
    from .api import (
        PublishResult,
        copy_release,
        lint,
        plan_release,
        publish,
        sample_artefacts,
        sign_plan,
        sign_published,
        verify,
    )

__all__ = [
    "__version__",
    "GlOcmError",
    "PublishResult",
    "copy_release",
    "lint",
    "plan_release",
    "publish",
    "sample_artefacts",
    "sign_plan",
    "sign_published",
    "verify",
]

_API = frozenset(__all__) - {"__version__", "GlOcmError"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
