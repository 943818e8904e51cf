"""A handful of CLI checks: wiring, exit codes, and no tracebacks for user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import __version__
from gardenlinux_ocm.cli import app
from support.release import publish_args

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_lint_ok_and_bad(components: Path) -> None:
    assert runner.invoke(app, ["lint", "--components", str(components)]).exit_code == 0
    rel = components / "releases" / "1473.0.yaml"
    rel.write_text(rel.read_text().replace("commit:", "comit:"))
    result = runner.invoke(app, ["lint", "--components", str(components)])
    assert result.exit_code == 2
    assert "unknown key 'comit'" in result.output and "Traceback" not in result.output


def test_publish_missing_artefacts_exits_2_and_writes_nothing(components: Path, tmp_path: Path) -> None:
    target = tmp_path / "oci"
    result = runner.invoke(
        app,
        publish_args(tmp_path / "none", f"oci-layout:{target}", components=components),
    )
    assert result.exit_code == 2 and "does not exist" in result.output and not target.exists()


def test_publish_json_output(samples: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            *publish_args(samples, f"oci-layout:{tmp_path / 'oci'}"),
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stats"]["manifests_pushed"] == len(data["published"]) + len(data["fallback_tags_written"])
    assert [t["reference"].split(":")[0] for t in data["fallback_tags_written"]] == ["gardenlinux"] * 2  # the SBOMs
    assert {"kind": "index", "name": "gardenlinux:1473.0", "reference": "gardenlinux:1473.0"}.items() <= next(
        r for r in data["published"] if r["kind"] == "index"
    ).items()


def test_bad_target_is_usage_error(samples: Path) -> None:
    result = runner.invoke(
        app,
        publish_args(samples, "https://user:pw@example.com"),
    )
    assert result.exit_code == 2 and "user:pw" not in result.output and "***@example.com" in result.output


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--reference-base", "oci-layout:x"], "--reference-base 'oci-layout:x': write a registry base"),
        (["--reference-base", "https://h.example/x"], "without scheme or credentials"),
        (["--ocm-repository", "build/ocm"], "is neither oci-layout:DIR, ctf:PATH, ca:PATH nor a registry"),
        (["--ocm-repository", "ca:x"], "component archives are read-only here"),
        (["--access", "copy"], "'copy' is not one of 'reference', 'value'"),
    ],
)
def test_bad_addressing_options_exit_2_and_write_nothing(
    samples: Path, tmp_path: Path, extra: list[str], expected: str
) -> None:
    target = tmp_path / "oci"
    result = runner.invoke(app, publish_args(samples, f"oci-layout:{target}", *extra))
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not target.exists()


def test_render_names_the_registry_the_release_is_published_to(samples: Path) -> None:
    result = runner.invoke(app, ["render", "1473.0", "--artefacts", str(samples), "--format", "json",
                                 "--to", "registry.example.com/gardener-project/releases"])
    assert result.exit_code == 0, result.output
    release = json.loads(result.stdout)[-1]["component"]
    [index] = [r for r in release["resources"] if r["name"] == "release-index"]
    assert index["access"]["imageReference"].startswith(
        "registry.example.com/gardener-project/releases/gardenlinux:1473.0@sha256:")


def _commands() -> list[str]:
    import typer.main

    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]  # a click Group


def test_every_command_has_help_and_is_in_the_reference() -> None:
    import importlib.util

    from support.release import REPO

    spec = importlib.util.spec_from_file_location("cli_reference", REPO / "tools" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    assert sorted(c for c in reference.COMMANDS if c) == _commands()
    for command in _commands():
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"
        assert "Usage" in result.output


def test_cli_reference_matches_help() -> None:
    import subprocess
    import sys

    from support.release import REPO

    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
