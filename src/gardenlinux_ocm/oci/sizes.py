"""Stored sizes without reading content, so a shallow verify can tell a truncated blob from a whole one.

`Sizer` is an optional protocol, checked with `isinstance` like `Mounter`: a target that implements it answers
itself (a registry with a HEAD and its Content-Length, an archive from its member table). An OCI image layout
needs no method: the spec fixes where a blob lives (`<repository>/blobs/<algorithm>/<hex>`), so one `stat` answers.
Any other target falls back to `exists`, which reports presence but not the size.
"""

from __future__ import annotations

import enum
import os
from typing import Protocol, runtime_checkable

from .layout import LayoutTarget
from .model import DIGEST_RE, Descriptor
from .target import ReadOnlyTarget

__all__ = ["Sizer", "SizeSource", "stored_size", "size_source"]


@runtime_checkable
class Sizer(Protocol):
    """Optional: the stored size of an object, from metadata (a stat, a HEAD), without reading its bytes."""

    def size(self, repository: str, descriptor: Descriptor) -> int | None:
        """The stored size in bytes of the object with this digest; None when it is absent."""
        ...


class SizeSource(enum.StrEnum):
    """Where `stored_size` takes its answer from; `PRESENCE` cannot see a truncated object."""

    TARGET = "target"  # the target's own `size` method
    LAYOUT = "layout"  # a stat of the blob file
    PRESENCE = "presence"  # `exists` only: the descriptor's size is assumed


def size_source(target: ReadOnlyTarget) -> SizeSource:
    """How `stored_size` learns sizes on this target."""
    if isinstance(target, Sizer):
        return SizeSource.TARGET
    if isinstance(target, LayoutTarget):
        return SizeSource.LAYOUT
    return SizeSource.PRESENCE


def stored_size(target: ReadOnlyTarget, repository: str, descriptor: Descriptor) -> int | None:
    """The stored size of an object in bytes, or None when it is absent; never reads the content.

    Where the target cannot tell sizes (`SizeSource.PRESENCE`), a present object reports the descriptor's size.
    """
    source = size_source(target)
    if source is SizeSource.TARGET:
        assert isinstance(target, Sizer)
        return target.size(repository, descriptor)
    if source is SizeSource.LAYOUT:
        assert isinstance(target, LayoutTarget)
        return _layout_size(target, repository, descriptor)
    return descriptor.size if target.exists(repository, descriptor) else None


def _layout_size(target: LayoutTarget, repository: str, descriptor: Descriptor) -> int | None:
    if repository.startswith("/") or ".." in repository.split("/") or not DIGEST_RE.match(descriptor.digest):
        return None  # no such blob can be stored
    algorithm, hex_ = descriptor.digest.split(":", 1)
    try:
        return os.stat(target.root / repository / "blobs" / algorithm / hex_).st_size
    except (FileNotFoundError, NotADirectoryError):
        return None
