"""gardenlinux-ocm: publish Garden Linux releases as OCI artefacts and OCM component versions."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
from .errors import GlOcmError

try:
    __version__ = version("gardenlinux-ocm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__", "GlOcmError", "PublishResult", "copy_release", "lint", "plan_release", "publish",
           "sample_artefacts", "sign_plan", "sign_published", "verify"]
