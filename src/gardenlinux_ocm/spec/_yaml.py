"""A restricted YAML loader for spec files (pure: text in, node tree and data out), bounded in time and memory.

A spec is plain data, so the loader refuses what plain data does not need and what makes YAML expensive or
ambiguous: anchors and aliases (the alias-expansion bomb), explicit tags, merge keys, duplicate keys, keys that
are not strings, nesting deeper than `MAX_DEPTH`, more than `MAX_NODES` nodes and numbers too long to convert.
Depth and node count are checked while composing, so a hostile file stops after a bounded amount of work: neither
Python's recursion limit nor the scanner's cost per nesting level is ever reached. An unquoted timestamp loads as
an `UnquotedTimestamp`, never as a `datetime`, so it cannot fail to construct and schema validation reports it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_NUMBER_LENGTH",
    "SpecYamlError",
    "UnquotedTimestamp",
    "compose_and_construct",
    "scalar_kind",
    "Path",
    "walk",
]

MAX_DEPTH = 32  # a spec needs 5 levels
MAX_NODES = 10_000  # the shipped specs have about 300 each; pure-Python composing costs about 25 µs a node
MAX_NUMBER_LENGTH = 100  # Python refuses to convert integers of more than 4300 digits with a ValueError

Path = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_KINDS = {
    _INT: "number",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:null": "null",
    _TIMESTAMP: "timestamp",
    _MERGE: "merge key",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnquotedTimestamp:
    """What an unquoted YAML timestamp loads as: its text, so that errors show it as written."""

    text: str


class _Mark(Protocol):
    line: int


class SpecYamlError(Exception):
    """The file is YAML the spec loader refuses: what, where (key path and mark) and what to do."""

    def __init__(self, problem: str, *, path: Path, mark: _Mark | None, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
        self.line = mark.line + 1 if mark is not None else None
        self.hint = hint


def scalar_kind(node: ScalarNode) -> str | None:
    """How YAML reads a plain scalar that is not a string ("number", "boolean", "null", "timestamp"), else None."""
    return _KINDS.get(node.tag, None if node.tag == _STR else node.tag)


def _quote_hint(text: str) -> str:
    return f'quote it if it is meant as a string: "{text}"'


class _SpecLoader(yaml.SafeLoader):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._path: list[str | int] = []
        self._depth = 0  # keys count too: a complex key nests without adding to the path
        self._nodes = 0

    def _peek(self) -> yaml.Event:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # unannotated in PyYAML's stubs
        return event

    def _next(self) -> yaml.Event:
        event: yaml.Event = self.get_event()  # type: ignore[no-untyped-call]  # unannotated in PyYAML's stubs
        return event

    def _where(self) -> Path:
        return tuple(self._path)

    def _refuse_event(self, event: yaml.Event) -> None:
        path, mark = self._where(), event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise SpecYamlError(
                f"uses the alias *{event.anchor}; spec files allow no anchors or aliases",
                path=path,
                mark=mark,
                hint="write the value out where it is used",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise SpecYamlError(
                f"defines the anchor &{anchor}; spec files allow no anchors or aliases",
                path=path,
                mark=mark,
                hint="remove the anchor and write the value out where it is used",
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise SpecYamlError(
                f"has the explicit tag {tag.replace('tag:yaml.org,2002:', '!!')}; spec files allow no YAML tags",
                path=path,
                mark=mark,
                hint="remove the tag; quote the value if it is meant as a string",
            )

    def _too_deep(self, mark: _Mark | None) -> SpecYamlError:
        return SpecYamlError(
            f"is nested deeper than {MAX_DEPTH} levels",
            path=self._where(),
            mark=mark,
            hint="a spec needs a handful of levels; is this the right file?",
        )

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        # The scanner keeps one possible simple key per open bracket and walks them all for every token, so
        # unbounded `[[[[...` costs time quadratic in the depth before the composer sees the first node.
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep(self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self._peek()
        if isinstance(index, ScalarNode):
            self._path.append(str(index.value))
        elif isinstance(index, int):
            self._path.append(index)
        self._refuse_event(event)
        if self._depth >= MAX_DEPTH:
            raise self._too_deep(event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise SpecYamlError(
                f"has more than {MAX_NODES} values",
                path=self._where(),
                mark=event.start_mark,
                hint="a spec needs a few hundred; is this the right file?",
            )
        self._depth += 1
        self.descend_resolver(parent, index)
        node: Node
        if isinstance(event, yaml.ScalarEvent):
            # The stubs type the anchor argument as a dict; PyYAML takes the anchor name or None.
            node = self._checked_scalar(self.compose_scalar_node(None))  # type: ignore[arg-type]
        elif isinstance(event, yaml.SequenceStartEvent):
            node = self.compose_sequence_node(None)  # type: ignore[arg-type]  # as above
        else:
            node = self.compose_mapping_node(None)
        self.ascend_resolver()
        if index is not None:
            self._path.pop()
        self._depth -= 1
        return node

    def _checked_scalar(self, node: ScalarNode) -> ScalarNode:
        if node.tag == _INT and len(node.value) > MAX_NUMBER_LENGTH:
            raise SpecYamlError(
                f"has a number of {len(node.value)} characters, too long for a spec value",
                path=self._where(),
                mark=node.start_mark,
                hint="quote it if it is meant as a string",
            )
        return node

    def _key_name(self, key: Node) -> str:
        where = self._where()
        if not isinstance(key, ScalarNode):
            raise SpecYamlError(
                "has a key that is a list or mapping; keys are plain strings",
                path=where,
                mark=key.start_mark,
            )
        if key.tag == _MERGE:
            raise SpecYamlError(
                "uses the merge key <<; spec files allow no merge keys",
                path=where,
                mark=key.start_mark,
                hint="write the keys out",
            )
        kind = scalar_kind(key)
        if kind is not None:
            raise SpecYamlError(
                f"has the key {key.value!r}, which YAML reads as a {kind}, not a string",
                path=where,
                mark=key.start_mark,
                hint=_quote_hint(key.value),
            )
        return str(key.value)

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        start = self._next()
        tag: str = self.resolve(MappingNode, None, True)  # type: ignore[no-untyped-call]  # unannotated in the stubs
        mark = start.start_mark if isinstance(start.start_mark, yaml.error.Mark) else None  # always, in pure Python
        node = MappingNode(tag, [], mark, None, flow_style=getattr(start, "flow_style", None))
        first_line: dict[str, int] = {}
        while not self.check_event(yaml.MappingEndEvent):
            key = self.compose_node(node, None)
            name = self._key_name(key)
            if name in first_line:
                raise SpecYamlError(
                    f"has the key '{name}' twice: at line {first_line[name]} and at line {key.start_mark.line + 1}",
                    path=(*self._where(), name),
                    mark=key.start_mark,
                    hint="remove one of them; YAML would silently keep only the last",
                )
            first_line[name] = key.start_mark.line + 1
            value = self.compose_node(node, key)
            node.value.append((key, value))
        node.end_mark = self._next().end_mark
        return node

    def construct_unquoted_timestamp(self, node: ScalarNode) -> UnquotedTimestamp:
        return UnquotedTimestamp(text=str(node.value))


_SpecLoader.add_constructor(_TIMESTAMP, _SpecLoader.construct_unquoted_timestamp)


def compose_and_construct(text: str) -> tuple[Node | None, Any]:
    """The node tree (for lines and the text as written) and the data of one YAML document.

    Raises `SpecYamlError` for what spec files refuse, `yaml.YAMLError` for what is not YAML.
    """
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def walk(node: Node, path: Path = ()) -> list[tuple[Path, Node, Node | None]]:
    """Every node with its key path and, for mapping values, its key node; parents before children."""
    out: list[tuple[Path, Node, Node | None]] = []
    stack: list[tuple[Path, Node, Node | None]] = [(path, node, None)]
    while stack:
        here, n, key = stack.pop()
        out.append((here, n, key))
        if isinstance(n, MappingNode):
            stack.extend(((*here, str(k.value)), v, k) for k, v in reversed(n.value))
        elif isinstance(n, SequenceNode):
            stack.extend(((*here, i), item, None) for i, item in reversed(list(enumerate(n.value))))
    return out
