"""How publish and copy report: byte progress on a terminal, then one summary; never a reference split mid-token.

Off a terminal there is no progress listing (the summary lists every tag once), only one line saying what will be
sent. Listings are aligned columns; a row wider than the console moves its last cell to an indented line of its
own, so references and digests always stay whole and can be copied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .common import err, out
from .options import OutputFormat

if TYPE_CHECKING:
    from ..oci.copy import CopyStats, Event

__all__ = [
    "progress",
    "stats_dict",
    "publish_summary",
    "copy_summary",
    "listing",
    "fold",
    "print_lines",
    "short_digest",
    "shorten_digests",
    "human_bytes",
    "INDENT",
]


def short_digest(digest: str, hex_chars: int = 8) -> str:
    """`sha256:1a2b3c4d…`: short enough for a listing, still telling apart the digests of a release."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:hex_chars]}…" if len(hex_part) > hex_chars else digest


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Break opportunities: after spaces, `/`, `,` and `:`, before `@`; a digest is one piece, never split.
_PIECE = re.compile(
    r"sha256:[0-9a-f]+…?|\s+|@|(?:(?!sha256:[0-9a-f])[^\s/,:@])*[/,:]"
    r"|(?:(?!sha256:[0-9a-f])[^\s/,:@])+"
)
INDENT = 4


def shorten_digests(text: str) -> str:
    """Every full SHA-256 digest in `text` shortened to its first 12 hex digits and an ellipsis."""
    return _DIGEST.sub(lambda m: short_digest(m.group(0), 12), text)


def fold(text: str, width: int, indent: int = 0, first: str = "") -> list[str]:
    """Wrap to `width` on whole tokens: at spaces, after `/`, `,` and `:`, before `@`; never inside a digest.

    The first line starts with `first`, the others with `indent` spaces. A token longer than a line gets a line
    of its own (the terminal wraps it; this never cuts it).
    """
    chunks: list[str] = []
    glue = False
    for piece in _PIECE.findall(text):
        if piece.isspace():
            chunks.append(" ")
            glue = False
            continue
        if glue and piece != "@":
            chunks[-1] += piece
        else:
            chunks.append(piece)
        glue = not piece.endswith(("/", ",", ":"))  # may the next piece start a line? only after these
    lines: list[str] = []
    line, room = "", max(width - len(first), 1)
    for chunk in chunks:
        if chunk == " ":
            line += " " if line else ""
            continue
        if line.strip() and len(line) + len(chunk) > room:
            lines.append(line.rstrip())
            line, room = "", max(width - indent, 1)
        line += chunk
    lines.append(line.rstrip())
    return [(first + lines[0]).rstrip(), *(" " * indent + rest for rest in lines[1:])]


def print_lines(lines: list[str], style: str | None = None, styled: int = 0) -> None:
    """Print pre-folded lines as they are (no re-wrapping); `style` colours the first `styled` characters."""
    from rich.text import Text

    for i, line in enumerate(lines):
        text = Text(line)
        if style and i == 0:
            text.stylize(style, 0, styled)
        out.print(text, soft_wrap=True, highlight=False)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def listing(rows: Sequence[Sequence[str]], width: int, indent: int = 2) -> list[str]:
    """Align `rows` in columns; a row wider than `width` puts its last cell on the next line, indented further."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    pad = " " * indent
    lines = []
    for row in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths[:-1], strict=True))
        line = f"{pad}{head}  {row[-1]}".rstrip()
        if len(line) <= width:
            lines.append(line)
        else:
            lines.append(f"{pad}{head.rstrip()}")
            lines.append(f"{pad}    {row[-1]}")
    return lines


@contextmanager
def progress(enabled: bool, verb: str) -> Iterator[Callable[[Event], None]]:
    """A byte progress bar on a terminal; otherwise one line with what may need sending."""
    from ..oci.copy import EventKind

    if enabled and err.is_terminal:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(verb, total=None)

            def on_bar(e: Event) -> None:
                if e.kind is EventKind.PLANNED:
                    bar.update(task, total=e.size)
                elif e.kind in (EventKind.BYTES, EventKind.BLOB_MOUNTED, EventKind.BLOB_SKIPPED):
                    bar.advance(task, e.size)  # pushed blobs advance byte by byte as they are read

            yield on_bar
        return

    def on_line(e: Event) -> None:
        if enabled and e.kind is EventKind.PLANNED:
            err.print(f"{verb}: up to {human_bytes(e.size)} of blobs to check and send", highlight=False)

    yield on_line


def stats_dict(stats: CopyStats) -> dict[str, int]:
    return {k: getattr(stats, k) for k in stats.__dataclass_fields__}


def _stats_line(verb: str, stats: CopyStats) -> str:
    return (
        f"{verb}: {stats.blobs_pushed} blobs sent ({human_bytes(stats.bytes_pushed)}), {stats.blobs_mounted} mounted, "
        f"{stats.blobs_skipped} already there; {stats.manifests_pushed} manifests written; "
        f"{stats.tags_set} tags set, {stats.tags_unchanged} unchanged"
    )


_SECTIONS = (
    ("index", "release index"),
    ("flavor", "flavors"),
    ("container", "containers"),
    ("container-index", "container indexes"),
    ("referrer", "referrers"),
    ("component", "component versions"),
)


def publish_summary(plan: Any, stats: CopyStats, target: str, fmt: OutputFormat, ocm_repository: str = "",
                    images_signed: tuple[int, int] | None = None, fallback: Sequence[Any] = ()) -> None:
    """Every tag of the release once (kind, reference, short digest) and every referrer (by digest), then the
    counts (and, when the images were signed, how many got the signature and how many had it). The JSON also lists
    the referrers fallback tags this run wrote (`fallback`): what they hold depends on the target (merged with what
    they listed, or none where it serves the referrers API), so they are not part of `published`."""
    ocm_repository = ocm_repository or target
    rows = [
        {
            "kind": r.kind.value,
            "name": r.label,
            "reference": f"{r.repository}:{r.tags[0]}" if r.tags else f"{r.repository}@{r.descriptor.digest}",
            "digest": r.descriptor.digest,
        }
        for r in plan.roots
        if r.kind.value != "referrers"
    ]
    if fmt is OutputFormat.JSON:
        out.print_json(
            json.dumps({"target": target, "ocm_repository": ocm_repository, "version": plan.version,
                        "published": rows, "stats": stats_dict(stats),
                        "fallback_tags_written": [{"reference": f"{r.repository}:{r.tags[0]}",
                                                   "digest": r.descriptor.digest} for r in fallback],
                        **({"images_signed": {"signed": images_signed[0], "already": images_signed[1]}}
                           if images_signed is not None else {})})
        )
        return
    lines = [f"Garden Linux {plan.version} on {target}"]
    if ocm_repository != target:
        lines.append(f"component versions on {ocm_repository}")
    for kind, title in _SECTIONS:
        shown = [
            (r["name"] if kind in ("component", "referrer") else r["reference"], short_digest(r["digest"]))
            for r in rows
            if r["kind"] == kind
        ]
        if shown:
            lines += [f"{title}:", *listing(shown, out.width)]
    print_lines(lines)
    out.print(_stats_line("published", stats), highlight=False)
    if images_signed is not None:
        out.print(f"signed (cosign format): {images_signed[0]} manifests, {images_signed[1]} already signed with this "
                  "key", highlight=False)


def copy_summary(source: str, target: str, stats: CopyStats, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.JSON:
        out.print_json(json.dumps({"source": source, "target": target, "stats": stats_dict(stats)}))
        return
    print_lines([f"copied {source} -> {target}"])
    out.print(_stats_line("copied", stats), highlight=False)
