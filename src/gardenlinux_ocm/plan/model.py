"""The release plan: every OCI object of a release, where its bytes come from, and the order to publish it in."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum

from ..artefacts.archive import FileRange
from ..oci.model import Descriptor
from ..ocm.pack import PackedComponent

__all__ = ["Content", "RootKind", "Root", "ReleasePlan"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """Where the bytes of one digest come from: small JSON in memory, or a range of a build file."""

    data: bytes | None = None
    range: FileRange | None = None


class RootKind(StrEnum):
    FLAVOR = "flavor"
    CONTAINER = "container"
    CONTAINER_INDEX = "container-index"  # a container's multi-arch index in its own repository
    INDEX = "index"
    COMPONENT = "component"
    REFERRER = "referrer"  # a flavor's evidence as an artifact of its own, pushed by digest (its subject: the flavor)
    REFERRERS = "referrers"  # the fallback tag's index of a subject's referrers (where a target lacks the API)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """A tagged manifest or index: published after everything it references, tagged last. A referrer has no tag."""

    repository: str
    descriptor: Descriptor
    tags: tuple[str, ...]
    kind: RootKind
    label: str
    subject: Descriptor | None = None  # what a referrer (or a fallback index) refers to


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReleasePlan:
    version: str
    contents: Mapping[str, Content]  # digest -> content, for every blob and manifest of the plan
    roots: tuple[Root, ...]  # in publish order
    components: tuple[PackedComponent, ...]  # in publish order: referenced ones first

    @property
    def index(self) -> Root:
        return next(r for r in self.roots if r.kind is RootKind.INDEX)

    def component(self, name: str) -> PackedComponent:
        return next(c for c in self.components if c.name == name)
