"""The registry client: the OCI distribution API as a `Target` (`target`), with its authentication (`auth`), HTTP
handling and bounds (`http`), retries (`retry`), error reading (`errors`), uploads (`push`), the referrers API
(`referrers`) and the credential files (`credentials`). As oras-go keeps `registry/remote` apart from `content/oci`.

This face re-exports the target; the modules load on first use, so importing the face does not import the HTTP
stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import MANIFEST_ACCEPT, RegistryTarget, RetryPolicy, Timeouts

__all__ = ["MANIFEST_ACCEPT", "RegistryTarget", "RetryPolicy", "Timeouts"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.target"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
