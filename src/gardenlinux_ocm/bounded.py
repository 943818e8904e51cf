"""Bounded reads of what a peer sends: JSON and YAML documents and bodies, each with a size and a depth bound.

A peer (a registry, a token service, a layout or CTF on disk, a component archive, an external signer) may send
anything. Every document read from one goes through here, so that no input can exhaust memory, recurse past
Python's limit or crash the C YAML parser:

- a size bound per kind (`Limits`): manifests and indexes 4 MiB as the distribution spec suggests, token answers
  and signer output far less;
- a depth bound (`MAX_DEPTH`), checked *before* the document is parsed: for JSON by a scan of its brackets that
  skips strings (linear, in C), for YAML on the parser's event stream (libyaml's parser keeps its own stack; only
  composing would recurse, and nothing is composed);
- YAML without anchors, aliases (the alias-expansion bomb), explicit tags or merge keys, with at most `MAX_NODES`
  nodes, built from the parser's events with an explicit stack: no node tree, no recursion.

A document beyond a bound is a `RefusedDocument` naming what it is, where it came from and the bound. Syntax errors
are left to the caller (`json.JSONDecodeError`, `UnicodeDecodeError`, `yaml.YAMLError`), which knows what a broken
document means in its place. This module imports nothing of the package but `errors`, so every room may use it.
"""

from __future__ import annotations

import array
import dataclasses
import itertools
import json
import re
from typing import IO, TYPE_CHECKING, Any

from .errors import RefusedDocument

if TYPE_CHECKING:
    import yaml

__all__ = [
    "LIMITS",
    "MAX_DEPTH",
    "MAX_NODES",
    "Limits",
    "check_json_depth",
    "json_document",
    "read_capped",
    "yaml_document",
]

MAX_DEPTH = 64  # an OCI manifest needs 4 levels, a component descriptor about 10
MAX_NODES = 1_000_000  # a descriptor of 40 flavors with package labels has about 200,000; 1,000,000 load in ~4 s


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bytes read at most, per kind of document."""

    manifest: int = 4 << 20  # manifests, indexes, referrers lists (the distribution spec's suggestion)
    index: int = 64 << 20  # a layout's index.json or a CTF's artifact-index.json: one entry per tag
    descriptor: int = 16 << 20  # a component descriptor (package labels make a release's a few MiB)
    token: int = 256 << 10  # a token service's answer (real ones are a few KiB)
    listing: int = 4 << 20  # one page of tags or a catalog
    error: int = 64 << 10  # an error body, kept for its message
    signer_output: int = 1 << 20  # what an external signer prints (a signature is a few hundred bytes)


LIMITS = Limits()

# A JSON string with its escapes; the unrolled form matches in linear time.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_KEEP = b"[]{}"
_OTHER = bytes(b for b in range(256) if b not in _KEEP)
_SIGNS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def check_json_depth(data: bytes | str, *, what: str, where: str, depth: int = MAX_DEPTH) -> int:
    """The nesting depth of a JSON text (brackets inside strings do not count); `RefusedDocument` beyond `depth`.

    The text need not be valid JSON: an unclosed bracket counts as open, so `[[[[…` is refused before `json.loads`
    could recurse into it.
    """
    raw = _as_bytes(data)
    if b'"' in raw:
        raw = _STRING.sub(b"", raw)
    brackets = raw.translate(None, _OTHER)
    if not brackets:
        return 0
    found = max(itertools.accumulate(array.array("b", brackets.translate(_SIGNS))))
    if found > depth:
        raise RefusedDocument(
            f"{_at(where)}the {what} is nested deeper than {depth} levels, more than this tool reads",
            reference=where,
            hint="it is no document this tool wrote or expects; check what the peer serves",
        )
    return found


def _check_size(size: int, limit: int, what: str, where: str) -> None:
    if size > limit:
        raise RefusedDocument(
            f"{_at(where)}the {what} has more than {_size(limit)}, the bound for a {what}",
            reference=where,
            hint="it is no document this tool wrote or expects; check what the peer serves",
        )


def json_document(data: bytes | str, *, what: str, where: str, limit: int, depth: int = MAX_DEPTH) -> Any:
    """`json.loads` within a size and a depth bound; syntax errors propagate as `json.loads` raises them."""
    _check_size(len(data), limit, what, where)
    check_json_depth(data, what=what, where=where, depth=depth)
    return json.loads(data)


def read_capped(stream: IO[bytes], *, limit: int, what: str, where: str) -> bytes:
    """Everything `stream` holds, or `RefusedDocument` as soon as it holds more than `limit` bytes."""
    chunks, total = [], 0
    while chunk := stream.read(min(limit + 1 - total, 1 << 20)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            _check_size(total, limit, what, where)
    return b"".join(chunks)


def _yaml_refusal(event: yaml.Event, what: str) -> str | None:
    import yaml

    if isinstance(event, yaml.AliasEvent):
        return f"uses the alias *{event.anchor}; a {what} is read without anchors or aliases"
    anchor = getattr(event, "anchor", None)
    if anchor is not None:
        return f"defines the anchor &{anchor}; a {what} is read without anchors or aliases"
    tag = getattr(event, "tag", None)
    if tag is None:
        return None
    implicit = getattr(event, "implicit", True)
    explicit = implicit == (False, False) if isinstance(event, yaml.ScalarEvent) else not implicit
    if explicit:
        return f"has the explicit tag {tag}; a {what} is read without YAML tags"
    return None


def yaml_document(
    data: bytes | str,
    *,
    what: str,
    where: str,
    limit: int,
    loader: type[Any],
    depth: int = MAX_DEPTH,
    nodes: int = MAX_NODES,
) -> Any:
    """One YAML document, built from the events of `loader` (a SafeLoader or CSafeLoader subclass: its parser, its
    resolver, its scalar constructors) within the bounds: size, depth, node count, no anchors, aliases, explicit
    tags or merge keys. No node tree is composed, so nothing recurses and memory holds only the data.
    `UnicodeDecodeError` and `yaml.YAMLError` propagate. (yaml is imported where used, not at the top: `gl-ocm
    --help` imports no YAML library.)"""
    _check_size(len(data), limit, what, where)
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    parser = loader(text)
    try:
        return _Builder(parser, what=what, where=where, depth=depth, nodes=nodes).run()
    finally:
        parser.dispose()


class _Builder:
    """Python data from a YAML event stream, with an explicit stack (never Python's) and the bounds checked."""

    def __init__(self, parser: Any, *, what: str, where: str, depth: int, nodes: int) -> None:
        self.parser, self.what, self.where, self.depth, self.nodes = parser, what, where, depth, nodes
        self.stack: list[tuple[list[Any] | dict[Any, Any], list[Any]]] = []  # (container, [pending key])
        self.count = 0

    def refuse(self, problem: str, event: Any, hint: str) -> RefusedDocument:
        line = getattr(event.start_mark, "line", None)
        at = f" (line {line + 1})" if isinstance(line, int) else ""
        return RefusedDocument(f"{_at(self.where)}the {self.what}{at} {problem}", reference=self.where, hint=hint)

    def run(self) -> Any:
        import yaml

        root: list[Any] = []
        documents = 0
        parser = self.parser
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    mark = event.start_mark if isinstance(event.start_mark, yaml.error.Mark) else None
                    raise yaml.composer.ComposerError("expected a single document in the stream", None,
                                                      "but found another document", mark)
                continue
            if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
                continue  # stream and document ends
            problem = _yaml_refusal(event, self.what)
            if problem is not None:
                raise self.refuse(problem, event, "write it out as plain YAML (or JSON), as OCM tools do")
            if isinstance(event, yaml.CollectionEndEvent):
                self.stack.pop()
                continue
            self.count += 1
            if self.count > self.nodes:
                raise self.refuse(f"has more than {self.nodes} values, more than this tool reads", event,
                                  "it is no document this tool wrote or expects; check what the peer serves")
            if isinstance(event, yaml.ScalarEvent):
                self.add(self.scalar(event), event, root)
                continue
            if len(self.stack) >= self.depth:
                raise self.refuse(f"is nested deeper than {self.depth} levels, more than this tool reads", event,
                                  "it is no document this tool wrote or expects; check what the peer serves")
            container: list[Any] | dict[Any, Any] = [] if isinstance(event, yaml.SequenceStartEvent) else {}
            self.add(container, event, root)
            self.stack.append((container, []))
        return root[0] if root else None

    def add(self, value: Any, event: Any, root: list[Any]) -> None:
        if not self.stack:
            root.append(value)
            return
        container, pending = self.stack[-1]
        if isinstance(container, list):
            container.append(value)
        elif pending:
            container[pending.pop()] = value
        elif isinstance(value, list | dict):
            raise self.refuse("has a key that is a list or mapping; keys are plain values", event,
                              "write it out as plain YAML (or JSON), as OCM tools do")
        else:
            pending.append(value)

    def scalar(self, event: Any) -> Any:
        import yaml

        tag = self.parser.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:str":
            return event.value
        if tag == "tag:yaml.org,2002:merge":
            raise self.refuse("uses the merge key <<", event, "write the keys out")
        constructor = self.parser.yaml_constructors.get(tag)
        if constructor is None:
            raise yaml.constructor.ConstructorError(None, None, f"could not determine a constructor for {tag}",
                                                    event.start_mark)
        return constructor(self.parser, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                                        style=event.style))
