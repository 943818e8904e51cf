"""Read the YAML spec files (I/O): plain mappings tagged with their file name and a key-path -> line index.

Reading is bounded before parsing starts: a spec file is a regular file of at most `MAX_FILE_BYTES` of UTF-8 text
without NUL bytes. Parsing is bounded by the restricted loader in `_yaml`. Every refusal is a `SpecError` naming
the file as the user gave it, the line (or byte offset) and, where known, the key path.
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from ..errors import SpecError
from ._yaml import Path as KeyPath
from ._yaml import SpecYamlError, compose_and_construct, scalar_kind, walk
from .version import check_version

__all__ = [
    "SpecDocument",
    "Written",
    "load_document",
    "parse_document",
    "release_file",
    "path_text",
    "COMPONENT_FILE",
    "RELEASES_DIR",
    "MAX_FILE_BYTES",
]

COMPONENT_FILE = "gardenlinux.yaml"
RELEASES_DIR = "releases"
MAX_FILE_BYTES = 1 << 20  # the shipped specs are a few KiB

_TEXT_HINT = "a spec file is UTF-8 YAML text; is this the right file?"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """A scalar that YAML reads as something other than a string: how YAML reads it and its text in the file."""

    kind: str  # number, boolean, null, timestamp
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class SpecDocument:
    """A parsed YAML file: its data, its name as shown to users, the line of every key path and non-string text."""

    file: str
    data: Any
    lines: dict[KeyPath, int]
    written: dict[KeyPath, Written] = dataclasses.field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of the deepest known prefix of `path` (1-based)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


def path_text(path: KeyPath) -> str:
    """A key path as users write it: `flavors[0].cname`."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _line_of(data: bytes | str, offset: int) -> int:
    newlines = data.count(b"\n", 0, offset) if isinstance(data, bytes) else data.count("\n", 0, offset)
    return newlines + 1


def _read(path: Path, shown: str) -> bytes:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise SpecError("is a directory, not a spec file", file=shown, hint="check --components")
        if not stat.S_ISREG(st.st_mode):
            raise SpecError("is not a regular file", file=shown, hint=_TEXT_HINT)
        if st.st_size > MAX_FILE_BYTES:
            raise SpecError(
                f"is {st.st_size} bytes; a spec file has at most {MAX_FILE_BYTES} bytes (1 MiB)",
                file=shown,
                hint=_TEXT_HINT,
            )
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as e:
        raise SpecError("file not found", file=shown, hint="check --components and the release version") from e
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=shown) from e
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"is larger than {MAX_FILE_BYTES} bytes (1 MiB)", file=shown, hint=_TEXT_HINT)
    return raw


def _decode(raw: bytes, shown: str) -> str:
    nul = raw.find(b"\0")
    if nul >= 0:
        raise SpecError(
            f"is not a text file: NUL byte at byte offset {nul}",
            file=shown,
            line=_line_of(raw, nul),
            hint=_TEXT_HINT + " (UTF-16 text must be converted to UTF-8)",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(
            f"is not UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start} cannot be decoded",
            file=shown,
            line=_line_of(raw, e.start),
            hint=_TEXT_HINT,
        ) from e


def parse_document(text: str, shown: str) -> SpecDocument:
    """Parse the text of one spec file (pure); `shown` is the file name used in errors."""
    try:
        node, data = compose_and_construct(text)
    except SpecYamlError as e:
        raise SpecError(
            e.problem, file=shown, path=path_text(e.path) if e.path else "", line=e.line, hint=e.hint
        ) from e
    except yaml.reader.ReaderError as e:
        offset = len(text[: e.position].encode("utf-8"))
        char = e.character if isinstance(e.character, str) else chr(e.character)
        raise SpecError(
            f"contains the control character {char!r} at byte offset {offset}; YAML does not allow it",
            file=shown,
            line=_line_of(text, e.position),
            hint="remove it, or write it as an escape inside a double-quoted string",
        ) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = ", ".join(p for p in (e.context, e.problem) if p) or "not valid YAML"
        hint = "indent with spaces, not tabs" if "\\t" in problem else None
        if "single document" in problem:
            hint = "a spec file is one YAML document: remove the second '---'"
        raise SpecError(f"invalid YAML: {problem}", file=shown, line=mark.line + 1 if mark else None, hint=hint) from e
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {e}", file=shown) from e
    lines: dict[KeyPath, int] = {}
    written: dict[KeyPath, Written] = {}
    for path, n, key in walk(node) if node is not None else ():
        lines[path] = (key or n).start_mark.line + 1
        kind = scalar_kind(n) if isinstance(n, ScalarNode) else None
        if kind is not None:
            written[path] = Written(kind=kind, text=str(n.value))
    return SpecDocument(file=shown, data=data, lines=lines, written=written)


def load_document(path: Path, shown_as: str | None = None) -> SpecDocument:
    """Load one spec file; anything but a small UTF-8 YAML mapping of plain data is a `SpecError`."""
    shown = shown_as or str(path)
    return parse_document(_decode(_read(path, shown), shown), shown)


def release_file(components: Path, version: str) -> Path:
    """`components/releases/<version>.yaml`; the version is checked first, so it can never name another path."""
    return components / RELEASES_DIR / f"{check_version(version)}.yaml"
