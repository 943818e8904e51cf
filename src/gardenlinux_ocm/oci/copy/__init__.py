"""The copy engine: `copy()` moves a graph of OCI objects from any `ReadOnlyTarget` to any `Target`, children first,
tags last, skipping what the destination has (`engine`); the order it works in (`order`, pure); the check that no
tag moves unasked (`changes`); the values they share (`model`).

This face re-exports the public names; the modules load on first use, so importing the face costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import copy
    from .model import CopyRoot, CopyStats, Event, EventKind

__all__ = ["CopyRoot", "EventKind", "Event", "CopyStats", "copy"]

_WHERE = {"copy": "engine", "CopyRoot": "model", "CopyStats": "model", "Event": "model", "EventKind": "model"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
