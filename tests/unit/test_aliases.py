"""Alias tags of the release index: moved only after the release verifies, recorded, signatures kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.ocm.labels import ALIASES_LABEL, RELEASE_COMPONENT
from support.release import VERSION, publish_args

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stdout if code == 0 else " ".join(result.output.split())


def _aliases(layout: Path, version: str = VERSION) -> list[str]:
    labels = fetch_component(LayoutTarget(layout, read_only=True), RELEASE_COMPONENT, version).descriptor[
        "component"]["labels"]
    return next(label["value"] for label in labels if label["name"] == ALIASES_LABEL)


def test_aliases_move_after_verify_are_recorded_and_keep_the_signature(
    samples: Path, tmp_path: Path, key_files: tuple[Path, Path]
) -> None:
    layout = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{layout}", "--sign-key", str(key_files[0])))
    target = LayoutTarget(layout, read_only=True)
    index = target.resolve("gardenlinux", VERSION).digest
    assert target.resolve("gardenlinux", f"{VERSION}.0").digest == index  # X.Y.0 from publish
    out = json.loads(_cli("tag", f"oci-layout:{layout}", VERSION, "--alias", "latest", "--alias", "1473",
                          "--output", "json"))
    assert out["moved"] == ["latest", "1473"] and out["aliases"] == ["1473", "latest"]
    assert {LayoutTarget(layout).resolve("gardenlinux", a).digest for a in ("latest", "1473")} == {index}
    assert _aliases(layout) == ["1473", "latest"]
    _cli("verify", f"oci-layout:{layout}", "--public-key", str(key_files[1]))
    again = json.loads(_cli("tag", f"oci-layout:{layout}", VERSION, "--alias", "latest", "--output", "json"))
    assert again["moved"] == [] and again["aliases"] == ["1473", "latest"]


def test_a_release_that_does_not_verify_gets_no_alias(published: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    index = json.loads((layout / "gardenlinux" / "index.json").read_bytes())
    flavor = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"].endswith(
        "aws-gardener_prod-amd64"))
    layer = json.loads((layout / "gardenlinux" / "blobs" / "sha256" / flavor["digest"][7:]).read_bytes())["layers"][0]
    (layout / "gardenlinux" / "blobs" / "sha256" / layer["digest"][7:]).write_bytes(b"short")
    before = (layout / "gardenlinux" / "index.json").read_bytes()
    out = _cli("tag", f"oci-layout:{layout}", VERSION, "--alias", "latest", code=1)
    assert "does not verify, so no alias was moved" in out
    assert (layout / "gardenlinux" / "index.json").read_bytes() == before


def test_bad_aliases_exit_2(published: Path) -> None:
    for alias in ("-latest", "a/b", "sha256-" + "0" * 64):
        _cli("tag", f"oci-layout:{published}", VERSION, "--alias", alias, code=2)
    _cli("tag", f"oci-layout:{published}", "1473", "--alias", "latest", code=2)


def test_an_alias_moves_to_the_next_release(samples: Path, tmp_path: Path, components: Path) -> None:
    release = components / "releases" / f"{VERSION}.yaml"
    (components / "releases" / "1473.1.yaml").write_text(release.read_text().replace('"1473.0"', '"1473.1"'))
    newer = tmp_path / "art-1473.1"
    api.sample_artefacts(components, "1473.1", newer)
    layout = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{layout}", components=components))
    _cli("tag", f"oci-layout:{layout}", VERSION, "--alias", "latest")
    _cli("publish", "1473.1", "--artefacts", str(newer), "--components", str(components), "--to",
         f"oci-layout:{layout}")
    _cli("tag", f"oci-layout:{layout}", "1473.1", "--alias", "latest")
    target = LayoutTarget(layout, read_only=True)
    assert target.resolve("gardenlinux", "latest").digest == target.resolve("gardenlinux", "1473.1").digest
    assert _aliases(layout, "1473.1") == ["latest"] and _aliases(layout) == ["latest"]  # each records what it got


RELEASE_TAGS = ["1474.0", VERSION, "1473.0.0", "1473.0.build-ci.1", "1473.0-aws-gardener_prod-amd64",
                "1473.0-container-amd64", "1474.0-kvm-gardener_prod-arm64", "latest.sig", "sha256-" + "a" * 64]


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_an_alias_never_takes_a_release_signature_or_fallback_tag(published: Path, tmp_path: Path) -> None:
    """Refused as bad input before any target is opened: a layout, a CTF and a registry that does not exist."""
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    before = _tree(layout)
    for alias in RELEASE_TAGS:
        for target in (f"oci-layout:{layout}", f"ctf:{tmp_path / 'ctf'}", "127.0.0.1:9"):
            out = _cli("tag", target, VERSION, "--alias", "latest", "--alias", alias, code=2)
            assert repr(alias) in out, out
    assert _tree(layout) == before
    assert not (tmp_path / "ctf").exists()


def test_an_existing_tag_that_is_no_alias_is_not_moved(published: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    target = LayoutTarget(layout)
    flavor = target.resolve("gardenlinux", "1473.0-aws-gardener_prod-amd64")
    target.tag("gardenlinux", flavor, "stable")  # a tag made by hand, at a flavor manifest
    before = _tree(layout)
    out = _cli("tag", f"oci-layout:{layout}", VERSION, "--alias", "latest", "--alias", "stable", code=2)
    assert "gardenlinux:stable points at a manifest (application/vnd.oci.image.manifest.v1+json), not at a release " \
        "index" in out
    assert _tree(layout) == before  # not even `latest`, nor the aliases label
