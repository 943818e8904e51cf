"""The on-change policy: a published tag moves to other content only when asked (`--on-change overwrite`)."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.copy import CopyRoot, copy
from gardenlinux_ocm.oci.copy.changes import OnChange, TagMove, TagsWouldMove, check_changes, tag_moves
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import EMPTY_DESCRIPTOR, EMPTY_JSON, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.plan.model import ReleasePlan
from support.release import COMPONENTS, VERSION, publish_args

runner = CliRunner()
CHANGELOG = "aws-gardener_prod-amd64-1473.0-2b1b3a1d.changelog"
MOVED = (
    "gardenlinux:1473.0-aws-gardener_prod-amd64",
    "gardenlinux:1473.0",
    "gardenlinux:1473.0.0",
    "component-descriptors/github.com/gardenlinux/gardenlinux:1473.0",
)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def layout(published_plan: tuple[Path, ReleasePlan], tmp_path: Path) -> Path:
    out = tmp_path / "oci"
    shutil.copytree(published_plan[0], out)
    return out


@pytest.fixture
def changed(artefacts: Path) -> Path:
    """The sample artefacts of 1473.0 with one changelog edited."""
    (artefacts / CHANGELOG).write_bytes((artefacts / CHANGELOG).read_bytes() + b"- one more entry\n")
    return artefacts


def test_publishing_a_changed_changelog_again_fails_and_writes_nothing(layout: Path, changed: Path) -> None:
    before = _snapshot(layout)
    result = runner.invoke(app, publish_args(changed, f"oci-layout:{layout}"))
    assert result.exit_code == 1, result.output
    assert "4 tag(s)" in result.output and "nothing was written" in result.output
    for reference in MOVED:
        assert f"  {reference}: sha256:" in result.output
    assert f"changelog {CHANGELOG} differs" in result.output
    assert "flavor aws-gardener_prod-amd64 differs" in result.output  # the release index names the flavor
    assert "--on-change overwrite" in result.output
    assert _snapshot(layout) == before


def test_on_change_overwrite_moves_the_tags(layout: Path, changed: Path) -> None:
    result = runner.invoke(app, [*publish_args(changed, f"oci-layout:{layout}"), "--on-change", "overwrite"])
    assert result.exit_code == 0, result.output
    _, plan = api.plan_release(COMPONENTS, VERSION, changed)
    target = LayoutTarget(layout)
    planned = {f"{r.repository}:{t}": r.descriptor.digest for r in plan.roots for t in r.tags}
    for reference, digest in planned.items():
        repository, tag = reference.rsplit(":", 1)
        assert target.resolve(repository, tag).digest == digest, reference
    assert api.verify(target).ok
    again = api.publish(plan, target)  # now the changed release is the published one
    assert again.stats.wrote_nothing


def test_an_unchanged_publish_exits_0_and_writes_nothing(layout: Path, samples: Path) -> None:
    before = _snapshot(layout)
    result = runner.invoke(app, publish_args(samples, f"oci-layout:{layout}"))
    assert result.exit_code == 0, result.output
    assert _snapshot(layout) == before


def test_api_publish_reports_every_moving_tag(layout: Path, changed: Path) -> None:
    _, plan = api.plan_release(COMPONENTS, VERSION, changed)
    with pytest.raises(TagsWouldMove) as caught:
        api.publish(plan, LayoutTarget(layout))
    assert [m.reference for m in caught.value.moves] == list(MOVED)
    flavor = caught.value.moves[0]
    assert flavor.differences == (f"changelog {CHANGELOG} differs",)
    assert flavor.planned.digest != flavor.current.digest
    assert caught.value.exit_code == 1


def test_copy_release_refuses_to_move_tags_unless_told(layout: Path, changed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    _, plan = api.plan_release(COMPONENTS, VERSION, changed)
    api.publish(plan, LayoutTarget(other))
    before = _snapshot(layout)
    result = runner.invoke(app, ["copy", f"oci-layout:{other}", f"oci-layout:{layout}"])
    assert result.exit_code == 1 and f"changelog {CHANGELOG} differs" in result.output
    assert _snapshot(layout) == before
    result = runner.invoke(app, ["copy", f"oci-layout:{other}", f"oci-layout:{layout}", "--on-change", "overwrite"])
    assert result.exit_code == 0, result.output
    assert LayoutTarget(layout).resolve("gardenlinux", VERSION) == LayoutTarget(other).resolve("gardenlinux", VERSION)


def test_an_unknown_policy_is_a_usage_error(layout: Path, samples: Path) -> None:
    result = runner.invoke(app, [*publish_args(samples, f"oci-layout:{layout}"), "--on-change", "skip"])
    assert result.exit_code == 2


# -- on small graphs in memory
def _image(layers: dict[str, bytes]) -> tuple[MemoryTarget, CopyRoot]:
    """An image in memory with one layer per title, tagged v1."""
    src = MemoryTarget()
    src.push("r", EMPTY_DESCRIPTOR, io.BytesIO(EMPTY_JSON))
    descriptors: list[dict[str, Any]] = []
    for title, data in layers.items():
        layer = descriptor_for(data, "application/octet-stream")
        src.push("r", layer, io.BytesIO(data))
        annotated = layer.with_annotations({"org.opencontainers.image.title": title, "io.gardenlinux.role": "file"})
        descriptors.append(annotated.to_dict())
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": descriptors,
        }
    )
    desc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    src.push("r", desc, io.BytesIO(manifest))
    return src, CopyRoot(repository="r", descriptor=desc, tags=("v1",))


def test_tag_moves_names_only_tags_that_point_elsewhere() -> None:
    first, root1 = _image({"a.txt": b"a", "b.txt": b"b"})
    dst = MemoryTarget()
    copy(first, dst, [root1])
    assert tag_moves(dst, [root1]) == ()
    second, root2 = _image({"a.txt": b"a", "b.txt": b"B", "c.txt": b"c"})
    moves = tag_moves(dst, [root2, CopyRoot(repository="r", descriptor=root2.descriptor, tags=("new",))])
    assert [m.reference for m in moves] == ["r:v1"]
    assert moves[0].current.digest == root1.descriptor.digest and moves[0].planned.digest == root2.descriptor.digest


def test_copy_fails_before_writing_and_names_the_files_that_differ() -> None:
    first, root1 = _image({"a.txt": b"a", "b.txt": b"b", "gone.txt": b"g"})
    dst = MemoryTarget()
    copy(first, dst, [root1])
    pushes = list(dst.pushes)
    second, root2 = _image({"a.txt": b"a", "b.txt": b"B", "c.txt": b"c"})
    with pytest.raises(TagsWouldMove) as caught:
        copy(second, dst, [root2])
    assert dst.pushes == pushes and dst.resolve("r", "v1").digest == root1.descriptor.digest
    (move,) = caught.value.moves
    assert isinstance(move, TagMove)
    assert move.differences == ("file b.txt differs", "file gone.txt removed", "file c.txt added")
    assert "r:v1: sha256:" in caught.value.message and "file b.txt differs" in caught.value.message
    stats = copy(second, dst, [root2], on_change=OnChange.OVERWRITE)
    assert stats.tags_set == 1 and dst.resolve("r", "v1").digest == root2.descriptor.digest


def test_check_changes_with_overwrite_returns_the_moves_without_raising() -> None:
    first, root1 = _image({"a.txt": b"a"})
    dst = MemoryTarget()
    copy(first, dst, [root1])
    second, root2 = _image({"a.txt": b"A"})
    moves = check_changes(second, dst, [root2], OnChange.OVERWRITE)
    assert [m.reference for m in moves] == ["r:v1"]
    with pytest.raises(TagsWouldMove):
        check_changes(second, dst, [root2], OnChange.FAIL)


def test_the_message_shortens_digests() -> None:
    first, root1 = _image({"a.txt": b"a"})
    dst = MemoryTarget()
    copy(first, dst, [root1])
    second, root2 = _image({"a.txt": b"A"})
    with pytest.raises(TagsWouldMove) as caught:
        copy(second, dst, [root2])
    old, new = (d.split(":")[1][:12] for d in (root1.descriptor.digest, root2.descriptor.digest))
    assert f"sha256:{old} -> sha256:{new}" in caught.value.message
    assert root1.descriptor.digest not in caught.value.message
    assert hashlib.sha256(b"A").hexdigest() not in caught.value.message
