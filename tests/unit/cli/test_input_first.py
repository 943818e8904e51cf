"""Every VERSION argument (and the version of a COMPONENT) is checked before any I/O, the same way on every command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app

runner = CliRunner()
BAD = ["../1473.0", "1473", "1473.0/x", "v1473.0", ""]
COMMANDS = {
    "sample-artefacts": ["sample-artefacts", "{v}", "-o", "out"],
    "render": ["render", "{v}"],
    "publish": ["publish", "{v}", "--to", "oci-layout:out"],
    "assemble": ["assemble", "{v}", "--to", "oci-layout:out"],
    "cloud-profile": ["cloud-profile", "oci-layout:out", "{v}", "-p", "aws"],
    "attach-images": ["attach-images", "oci-layout:out", "{v}", "images.yaml"],
    "tag": ["tag", "oci-layout:out", "{v}", "--alias", "latest"],
    "download": ["download", "oci-layout:out", "{v}", "--flavor", "aws-gardener_prod-amd64", "-o", "out"],
    "copy": ["copy", "oci-layout:out", "oci-layout:out2", "--version", "{v}"],
}


@pytest.mark.parametrize("version", BAD, ids=["path", "bare-major", "slash", "v-prefix", "empty"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_version_is_exit_2_before_any_io(tmp_path: Path, command: str, version: str) -> None:
    (tmp_path / "images.yaml").write_text("{}\n")
    args = [a.replace("{v}", version) for a in COMMANDS[command]]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "version" in result.output.lower() or "VERSION" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.yaml"]  # nothing made, nothing opened


@pytest.mark.parametrize("component", ["github.com/gardenlinux/gardenlinux:../1473.0", "Not A Name:1473.0",
                                       "github.com/gardenlinux/gardenlinux:1473.0/x"])
@pytest.mark.parametrize("command", ["verify", "sign"])
def test_a_bad_component_reference_is_exit_2(tmp_path: Path, command: str, component: str) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not read\n")
    extra = ["--signer-command", "true"] if command == "sign" else []
    result = runner.invoke(app, [command, f"oci-layout:{tmp_path / 'out'}", component, *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
