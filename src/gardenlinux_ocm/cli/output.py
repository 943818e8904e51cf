"""How publish and copy report: byte progress on a terminal, one line per tag otherwise, then one summary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.table import Table

from .common import err, out
from .options import OutputFormat

if TYPE_CHECKING:
    from ..oci.copy import CopyStats, Event

__all__ = ["progress", "stats_dict", "publish_summary"]


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[Event], None]]:
    """Byte progress on a terminal; otherwise one quiet line per tag set (blobs are summed up at the end)."""
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
            task = bar.add_task("transferring", total=None)

            def on_bar(e: Event) -> None:
                if e.kind is EventKind.PLANNED:
                    bar.update(task, total=e.size)
                elif e.kind in (EventKind.BYTES, EventKind.BLOB_MOUNTED, EventKind.BLOB_SKIPPED):
                    bar.advance(task, e.size)  # pushed blobs advance byte by byte as they are read

            yield on_bar
        return

    def on_line(e: Event) -> None:
        if enabled and e.kind is EventKind.TAGGED and e.descriptor is not None:
            err.print(f"published {e.repository}:{e.tag} {e.descriptor.digest}", highlight=False, soft_wrap=True)

    yield on_line


def stats_dict(stats: CopyStats) -> dict[str, int]:
    return {k: getattr(stats, k) for k in stats.__dataclass_fields__}


def publish_summary(plan: Any, stats: CopyStats, target: str, fmt: OutputFormat) -> None:
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
    table = Table(title=f"Garden Linux {plan.version} on {target}")
    table.add_column("kind")
    table.add_column("reference", overflow="fold")
    table.add_column("digest", no_wrap=True)
    for row in rows:
        table.add_row(row["kind"], row["reference"], row["digest"][:19] + "…")
    out.print(table)
    out.print(
        f"{stats.blobs_pushed} blobs pushed ({stats.bytes_pushed} bytes), {stats.blobs_mounted} mounted, "
        f"{stats.blobs_skipped} already present; {stats.manifests_pushed} manifests pushed; "
        f"{stats.tags_set} tags set, {stats.tags_unchanged} unchanged",
        highlight=False,
    )
