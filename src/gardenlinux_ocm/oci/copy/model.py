"""The values of a copy: what to copy (`CopyRoot`), what happened (`Event`, `EventKind`) and the tally (`CopyStats`).

The engine (`engine`), its order (`order`) and the change check (`changes`) all use them; they import nothing of
the three, so the three do not import each other in a circle.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from ..model import Descriptor

__all__ = ["CopyRoot", "EventKind", "Event", "CopyStats"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CopyRoot:
    repository: str
    descriptor: Descriptor
    tags: tuple[str, ...] = ()
    source_repository: str | None = None  # defaults to `repository`
    may_move: bool = False  # its tags move without asking: a `.sig` or fallback tag merged just before, a superset

    @property
    def src_repo(self) -> str:
        return self.source_repository or self.repository


class EventKind(StrEnum):
    BLOB_PUSHED = "blob-pushed"
    BLOB_MOUNTED = "blob-mounted"
    BLOB_SKIPPED = "blob-skipped"
    MANIFEST_PUSHED = "manifest-pushed"
    MANIFEST_SKIPPED = "manifest-skipped"
    TAGGED = "tagged"
    TAG_SKIPPED = "tag-skipped"
    PLANNED = "planned"  # total bytes of blobs that may need sending, before any transfer
    BYTES = "bytes"  # `size` more bytes of a blob were read for sending


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: EventKind
    repository: str
    descriptor: Descriptor | None = None
    tag: str | None = None
    size: int = 0


@dataclasses.dataclass(slots=True)
class CopyStats:
    blobs_pushed: int = 0
    bytes_pushed: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    tags_set: int = 0
    tags_unchanged: int = 0

    def __add__(self, other: CopyStats) -> CopyStats:
        return CopyStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)})

    @property
    def wrote_nothing(self) -> bool:
        return not (self.blobs_pushed or self.blobs_mounted or self.manifests_pushed or self.tags_set)
