"""Read the YAML spec files (I/O): plain mappings tagged with their file name and a key-path -> line index."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

__all__ = ["SpecDocument", "load_document", "release_file", "COMPONENT_FILE", "RELEASES_DIR"]

COMPONENT_FILE = "gardenlinux.yaml"
RELEASES_DIR = "releases"


@dataclasses.dataclass(frozen=True, slots=True)
class SpecDocument:
    """A parsed YAML file: its data, its name as shown to users, and the line of every key path."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int]

    def line(self, path: tuple[str | int, ...]) -> int | None:
        """The line of the deepest known prefix of `path` (1-based)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


def _index_lines(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _index_lines(value, sub, out)
            out[sub] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def load_document(path: Path, shown_as: str | None = None) -> SpecDocument:
    """Load one YAML file; a missing file or a YAML syntax error is a `SpecError` naming the file and line."""
    shown = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SpecError("file not found", file=shown, hint="check --components and the release version") from e
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=shown) from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise SpecError(f"invalid YAML: {e.problem}", file=shown, line=line) from e
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {e}", file=shown) from e
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return SpecDocument(file=shown, data=data, lines=lines)


def release_file(components: Path, version: str) -> Path:
    return components / RELEASES_DIR / f"{version}.yaml"
