"""The graph under a manifest, walked for verify(): every object is there with its size, or (deep) its digest.

Manifests and indexes are small, so both modes read them whole, check them against their descriptors and parse them
strictly (a JSON object whose `mediaType` agrees with the descriptor, `config` and `layers` or `manifests` made of
descriptors). Blobs are stat-ed in the shallow mode (`oci.sizes`, no content read) and re-hashed, streaming, with
`deep`. Each object is looked at once per repository, however many resources share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from ..bounded import LIMITS, json_document
from ..oci.model import INDEX_MEDIA_TYPES, Descriptor, is_manifest, parse_descriptor
from ..oci.sizes import SizeSource, size_source, stored_size
from ..oci.target import ReadOnlyTarget
from .model import TARGET_ERRORS, _message

__all__ = ["GraphResult", "ContentWalker", "manifest_children"]

MAX_MANIFEST = 4 << 20  # the distribution spec's limit


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GraphResult:
    problems: tuple[str, ...]
    objects: int
    size: int  # bytes, as stored (shallow) or as read (deep)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    problem: str | None
    size: int
    children: tuple[Descriptor, ...]


def _descriptors(value: Any, what: str) -> list[Descriptor]:
    if not isinstance(value, list):
        raise ValueError(f"no `{what}` list")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ValueError(f"`{what}[{i}]` is not a descriptor object")
        out.append(_descriptor(entry, f"{what}[{i}]"))
    return out


def _descriptor(entry: dict[str, Any], what: str) -> Descriptor:
    if not isinstance(entry.get("annotations") or {}, dict) or not isinstance(entry.get("mediaType", ""), str):
        raise ValueError(f"`{what}` has malformed annotations or mediaType")
    try:
        return parse_descriptor(entry)
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"`{what}`: {e}") from e


def manifest_children(descriptor: Descriptor, data: bytes) -> list[Descriptor]:
    """Config and layers of a manifest, entries of an index, plus `subject`; raises ValueError for a malformed one."""
    try:
        doc = json_document(data, what="manifest", where=descriptor.digest, limit=LIMITS.manifest)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"not a JSON object but a {type(doc).__name__}")
    declared = doc.get("mediaType")
    if declared is not None and declared != descriptor.media_type:
        raise ValueError(f"its mediaType is {declared!r}, its descriptor says '{descriptor.media_type}'")
    if descriptor.media_type in INDEX_MEDIA_TYPES:
        out = _descriptors(doc.get("manifests"), "manifests")
    else:
        config = doc.get("config")
        if not isinstance(config, dict):
            raise ValueError("`config` is not a descriptor object")
        out = [_descriptor(config, "config"), *_descriptors(doc.get("layers"), "layers")]
    subject = doc.get("subject")
    if subject is not None:
        if not isinstance(subject, dict):
            raise ValueError("`subject` is not a descriptor object")
        out.append(_descriptor(subject, "subject"))
    return out


class ContentWalker:
    """Walks graphs on one target; remembers each object it looked at, so shared objects cost once."""

    def __init__(self, target: ReadOnlyTarget, *, deep: bool) -> None:
        self.target, self.deep = target, deep
        self.sizes_seen = size_source(target) is not SizeSource.PRESENCE
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._sizes: dict[tuple[str, str], int | None] = {}

    def stored(self, repository: str, descriptor: Descriptor) -> int | None:
        """The stored size of a blob (`oci.sizes.stored_size`), asked once per repository and digest: a resource's
        blob and the same blob as a layer of its flavor manifest cost one HEAD."""
        key = (repository, descriptor.digest)
        if key not in self._sizes:
            self._sizes[key] = stored_size(self.target, repository, descriptor)
        return self._sizes[key]

    def check(self, repository: str, descriptor: Descriptor) -> GraphResult:
        """Every object reachable from `descriptor` in `repository`, each with the problems found on it."""
        seen: dict[str, int] = {}
        problems: list[str] = []
        todo = [descriptor]
        while todo:
            current = todo.pop()
            if current.digest in seen:
                continue
            node = self._node(repository, current)
            seen[current.digest] = node.size
            problems += [node.problem] if node.problem else []
            todo.extend(reversed(node.children))
        return GraphResult(problems=tuple(problems), objects=len(seen), size=sum(seen.values()))

    def _node(self, repository: str, descriptor: Descriptor) -> _Node:
        key = (repository, descriptor.digest)
        if key not in self._nodes:
            where = f"{repository}@{descriptor.digest}"
            try:
                if is_manifest(descriptor.media_type):
                    self._nodes[key] = self._manifest(repository, descriptor, where)
                elif self.deep:
                    self._nodes[key] = self._rehash(repository, descriptor, where)
                else:
                    self._nodes[key] = self._stat(repository, descriptor, where)
            except TARGET_ERRORS as e:
                self._nodes[key] = _Node(f"{where}: unreadable: {_message(e)}", 0, ())
        return self._nodes[key]

    def _manifest(self, repository: str, descriptor: Descriptor, where: str) -> _Node:
        if descriptor.size > MAX_MANIFEST:
            return _Node(f"{where}: {descriptor.size} bytes, more than a manifest may be ({MAX_MANIFEST})", 0, ())
        with self.target.fetch(repository, descriptor) as f:
            data = f.read(descriptor.size + 1)
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != descriptor.digest or len(data) != descriptor.size:
            return _Node(f"{where} ({descriptor.size} bytes) hashes to {got} ({len(data)} bytes)", len(data), ())
        try:
            children = manifest_children(descriptor, data)
        except ValueError as e:
            return _Node(f"{where}: malformed manifest: {e}", len(data), ())
        return _Node(None, len(data), tuple(children))

    def _rehash(self, repository: str, descriptor: Descriptor, where: str) -> _Node:
        h, n = hashlib.sha256(), 0
        with self.target.fetch(repository, descriptor) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                n += len(chunk)
        got = "sha256:" + h.hexdigest()
        if got != descriptor.digest or n != descriptor.size:
            return _Node(f"{where} ({descriptor.size} bytes) hashes to {got} ({n} bytes)", n, ())
        return _Node(None, n, ())

    def _stat(self, repository: str, descriptor: Descriptor, where: str) -> _Node:
        size = self.stored(repository, descriptor)
        if size is None:
            return _Node(f"{where} ({descriptor.size} bytes) not found", 0, ())
        if size != descriptor.size:
            return _Node(f"{where} is {size} bytes, its descriptor says {descriptor.size}", size, ())
        return _Node(None, size, ())
