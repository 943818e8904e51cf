"""The order of a `copy`, computed from what the walk found (pure): blob waves, manifest levels and root batches.

Blobs: the first occurrence of a digest is placed (pushed, or skipped when present); later ones, in other
repositories, are mounted from it. Manifests that are no tagged root go by digest, children first, level by level.
Roots go last, in order, each after the roots its graph holds; a root is stored by PUTs under its tags, with the bytes
held. Consecutive roots of one repository that do not depend on each other form a batch that may run in parallel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..graph import successors
from ..model import Descriptor, is_manifest

if TYPE_CHECKING:
    from .model import CopyRoot

Key = tuple[str, str]  # (repository, digest)
Blob = tuple[str, str, Descriptor, str | None]  # repository, source repository, descriptor, repository to mount from


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    repository: str
    src_repository: str
    descriptor: Descriptor
    data: bytes

    @property
    def key(self) -> Key:
        return (self.repository, self.descriptor.digest)

    def manifest_children(self) -> list[Key]:
        """The manifests that must be stored before this one: not its subject (a referrer may come first)."""
        children = successors(self.descriptor, self.data, subject=False)
        return [(self.repository, c.digest) for c in children if is_manifest(c.media_type)]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RootWork:
    """What one root needs at tag time: the tags to PUT (with the manifest's bytes) and those already right."""

    position: int  # in the list of roots
    root: CopyRoot
    to_set: tuple[str, ...]
    unchanged: tuple[str, ...]
    stores: bool  # its first tag PUT stores the manifest (no PUT by digest was made for it)
    data: bytes | None  # the manifest, when the walk read it


def points_at(current: Descriptor | None, planned: Descriptor) -> bool:
    return current is not None and current.digest == planned.digest


def blob_waves(blobs: dict[Key, tuple[str, Descriptor]]) -> tuple[list[Blob], list[Blob]]:
    """The first occurrence of each digest, then the later ones (other repositories) with the one to mount from."""
    first: dict[str, str] = {}  # digest -> repository its blob is placed in first
    waves: tuple[list[Blob], list[Blob]] = ([], [])
    for (repo, digest), (src_repo, desc) in blobs.items():
        if digest in first:
            waves[1].append((repo, src_repo, desc, first[digest]))
        else:
            first[digest] = repo
            waves[0].append((repo, src_repo, desc, None))
    return waves


def demote(nodes: Mapping[Key, Node], owners: Mapping[Key, int]) -> dict[Key, int]:
    """`owners` without each tagged root that a by-digest manifest lists: that root is handed back to the manifests
    stored by digest (it must be stored before its parent, which is no root) and is then only tagged, with the bytes
    held."""
    kept = dict(owners)
    changed = True
    while changed:
        changed = False
        for key, node in nodes.items():
            if key in kept:
                continue
            for child in node.manifest_children():
                if child in kept:
                    del kept[child]
                    changed = True
    return kept


def dependencies(roots: Sequence[CopyRoot], nodes: dict[Key, Node], owners: dict[Key, int]) -> list[set[int]]:
    """For each root, the roots that must be tagged before it: those whose manifest (stored by their tag PUT) is in
    its graph, and the root that stores its manifest when another root has the same one."""
    deps: list[set[int]] = []
    for position, root in enumerate(roots):
        key = (root.repository, root.descriptor.digest)
        found: set[int] = set()
        owner = owners.get(key)
        if owner is not None and owner != position:
            found.add(owner)
        stack, visited = [key], {key}
        while stack:
            node = nodes.get(stack.pop())
            if node is None:
                continue
            for child in node.manifest_children():
                if child in visited:
                    continue
                visited.add(child)
                if child in owners and owners[child] != position:
                    found.add(owners[child])
                stack.append(child)
        deps.append(found)
    return deps


def batches(works: Sequence[RootWork], deps: Sequence[set[int]]) -> list[list[RootWork]]:
    """The roots in order, each after the roots it depends on (pulled forward), cut into batches that may run in
    parallel: consecutive roots of one repository of which none depends on another. Roots of other repositories
    (component versions, which reference each other) stay one after the other, in order."""
    order: list[int] = []
    placed: set[int] = set()

    def place(position: int) -> None:
        if position in placed:
            return
        placed.add(position)
        for before in sorted(deps[position]):
            place(before)
        order.append(position)

    for position in range(len(works)):
        place(position)
    batches: list[list[RootWork]] = []
    repository: str | None = None
    for position in order:
        work = works[position]
        if not work.to_set and batches:
            batches[-1].append(work)  # nothing to write: reported in its place
            continue
        members = {w.position for w in batches[-1]} if batches else set()
        if batches and work.root.repository == repository and not deps[position] & members:
            batches[-1].append(work)
        else:
            batches.append([work])
            repository = work.root.repository if work.to_set else None
    return batches


def levels(manifests: Sequence[Node]) -> list[list[Node]]:
    """Manifests grouped so that each one comes in a later group than every child manifest it has in the list."""
    pending = {node.key for node in manifests}
    level: dict[Key, int] = {}
    for node in manifests:  # post-order: children come before their parents
        children = [c for c in node.manifest_children() if c in pending]
        level[node.key] = 1 + max((level[c] for c in children), default=-1)
    groups: list[list[Node]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for node in manifests:
        groups[level[node.key]].append(node)
    return groups
