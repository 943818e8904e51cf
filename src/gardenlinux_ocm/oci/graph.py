"""Successors of a manifest or index (pure): what must exist before it may be published."""

from __future__ import annotations

from ..bounded import LIMITS, json_document
from .model import INDEX_MEDIA_TYPES, Descriptor, is_manifest, parse_descriptor

__all__ = ["successors"]


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
