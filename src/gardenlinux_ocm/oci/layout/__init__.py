"""The embedded target: one OCI image layout per repository in a local directory (`target`), and the file handling
it rests on (`files`: atomic writes, locks, disk errors).

This face re-exports the public names; the modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import MAX_INDEX_BYTES, REF_NAME, LayoutTarget

__all__ = ["LayoutTarget", "REF_NAME", "MAX_INDEX_BYTES"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.target"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
