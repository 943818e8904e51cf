"""Successors of a manifest or index (pure): what must exist before it may be published; and every object under
one, read from a target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bounded import LIMITS, json_document, read_capped
from .model import INDEX_MEDIA_TYPES, Descriptor, is_manifest, parse_descriptor

if TYPE_CHECKING:
    from .target import ReadOnlyTarget

__all__ = ["successors", "reachable"]


def successors(descriptor: Descriptor, data: bytes, *, subject: bool = True) -> list[Descriptor]:
    """Config and layers of a manifest, entries of an index (plus `subject` when present and asked for); [] for a
    blob. A subject is copied along but need not be stored first: the distribution spec has registries accept a
    referrer before its subject ("in either order")."""
    if not is_manifest(descriptor.media_type):
        return []
    doc = json_document(data, what="manifest", where=descriptor.digest, limit=LIMITS.manifest)
    out: list[Descriptor] = []
    if descriptor.media_type in INDEX_MEDIA_TYPES:
        out.extend(parse_descriptor(m) for m in doc.get("manifests", []))
    else:
        if "config" in doc:
            out.append(parse_descriptor(doc["config"]))
        out.extend(parse_descriptor(m) for m in doc.get("layers", []))
    if subject and isinstance(doc.get("subject"), dict):
        out.append(parse_descriptor(doc["subject"]))
    return out


def reachable(source: ReadOnlyTarget, repository: str, root: Descriptor) -> list[Descriptor]:
    """Every object under `root` in `repository` of `source`, `root` first, each once; subjects are left out (a
    referrer is no part of what it refers to). Manifests are read within the manifest bound of `bounded.LIMITS`."""
    seen: dict[str, Descriptor] = {}
    todo = [root]
    while todo:
        desc = todo.pop()
        if desc.digest in seen:
            continue
        seen[desc.digest] = desc
        if is_manifest(desc.media_type):
            with source.fetch(repository, desc) as f:
                data = read_capped(f, limit=LIMITS.manifest, what="manifest",
                                   where=f"{source.name}/{repository}@{desc.digest}")
            todo.extend(successors(desc, data, subject=False))
    return list(seen.values())
