"""How publish and copy report: byte progress on a terminal, then one summary; never a reference split mid-token.

Off a terminal there is no progress listing (the summary lists every tag once), only one line saying what will be
sent. Listings are aligned columns; a row wider than the console moves its last cell to an indented line of its
own, so references and digests always stay whole and can be copied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from .common import err, out
from .options import OutputFormat

if TYPE_CHECKING:
    from ..oci.copy import CopyStats, Event

__all__ = ["progress", "stats_dict", "publish_summary", "copy_summary", "listing", "short_digest", "human_bytes"]


def short_digest(digest: str, hex_chars: int = 8) -> str:
    """`sha256:1a2b3c4d…`: short enough for a listing, still telling apart the digests of a release."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:hex_chars]}…" if len(hex_part) > hex_chars else digest


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
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from ..oci.copy import EventKind

    if enabled and err.is_terminal:
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


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        out.print(escape(line), highlight=False, soft_wrap=True)


_SECTIONS = (
    ("index", "release index"),
    ("flavor", "flavors"),
    ("container", "containers"),
    ("component", "component versions"),
)


def publish_summary(plan: Any, stats: CopyStats, target: str, fmt: OutputFormat) -> None:
    """Every tag of the release once (kind, reference, short digest), then the counts."""
    rows = [
        {
            "kind": r.kind.value,
            "name": r.label,
            "reference": f"{r.repository}:{r.tags[0]}",
            "digest": r.descriptor.digest,
        }
        for r in plan.roots
    ]
    if fmt is OutputFormat.JSON:
        out.print_json(
            json.dumps({"target": target, "version": plan.version, "published": rows, "stats": stats_dict(stats)})
        )
        return
    lines = [f"Garden Linux {plan.version} on {target}"]
    for kind, title in _SECTIONS:
        shown = [
            (r["name"] if kind == "component" else r["reference"], short_digest(r["digest"]))
            for r in rows
            if r["kind"] == kind
        ]
        if shown:
            lines += [f"{title}:", *listing(shown, out.width)]
    _print_lines(lines)
    out.print(_stats_line("published", stats), highlight=False)


def copy_summary(source: str, target: str, stats: CopyStats, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.JSON:
        out.print_json(json.dumps({"source": source, "target": target, "stats": stats_dict(stats)}))
        return
    _print_lines([f"copied {source} -> {target}"])
    out.print(_stats_line("copied", stats), highlight=False)
