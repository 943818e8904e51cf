"""What a person reads: help at 80 columns, one report per publish, whole references, fast start, exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from gardenlinux_ocm.cli import app
from support.release import REPO, VERSION, publish_args

COMMANDS = ("lint", "sample-artefacts", "render", "publish", "assemble", "copy", "verify", "sign", "tag",
            "attach-images", "cloud-profile", "download")
ENV_80 = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
# A digest is either whole or shortened on purpose, with an ellipsis: never cut by a line break.
DIGEST_TOKEN = re.compile(r"sha256:([0-9a-f]*)(…?)")


def _gl_ocm(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gardenlinux_ocm", *args],
        capture_output=True,
        text=True,
        env=env or ENV_80,
        cwd=cwd,
        timeout=300,
    )


def _assert_whole_digests(text: str) -> None:
    for m in DIGEST_TOKEN.finditer(text):
        assert len(m.group(1)) == 64 or (m.group(2) == "…" and len(m.group(1)) >= 8), f"cut digest: {m.group(0)!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_at_80_columns_shows_every_option_whole(command: str) -> None:
    result = _gl_ocm(command, "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "<bool>" not in result.stdout and "…" not in result.stdout and "\\[" not in result.stdout
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                whole = re.search(rf"(^|[\s,/]){re.escape(opt)}([\s,=]|$)", result.stdout, re.M)
                assert whole, f"{opt} not shown whole"


def test_short_options_mean_the_same_everywhere() -> None:
    meaning: dict[str, str] = {}
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-[A-Za-z]", o)):
                seen = meaning.setdefault(short, longs[0])
                # -o is where the output goes: a directory for sample-artefacts, a file for render.
                assert seen == longs[0] or short == "-o", f"{name}: {short} is {longs[0]} here but {seen} elsewhere"


def test_help_imports_no_command_dependencies() -> None:
    """`gl-ocm --help` loads the CLI only: no schema, crypto, YAML or HTTP library (they cost most of the start)."""
    code = (
        "import sys, runpy\nsys.argv = ['gl-ocm', '--help']\n"
        "try:\n    runpy.run_module('gardenlinux_ocm', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('jsonschema', 'cryptography', 'yaml', 'requests', 'ocm', 'oci', 'rfc8785') "
        "if m in sys.modules]\nprint(' '.join(heavy), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV_80)
    assert "Usage" in result.stdout
    assert result.stderr.strip() == "", f"imported at start: {result.stderr.strip()}"


def test_publish_reports_each_tag_once_with_whole_references(samples: Path, tmp_path: Path) -> None:
    result = _gl_ocm(*publish_args(samples, "oci-layout:oci"), cwd=tmp_path)  # a short target: the title fits
    assert result.returncode == 0, result.stderr
    both = result.stdout + result.stderr
    assert all(len(line) <= 80 for line in both.splitlines()), [line for line in both.splitlines() if len(line) > 80]
    _assert_whole_digests(both)
    for tag in ("gardenlinux:1473.0-aws-gardener_prod-amd64", "gardenlinux:1473.0-container-arm64"):
        assert len(re.findall(rf"{re.escape(tag)}\s", both)) == 1, f"{tag} is not listed exactly once"
    assert f"github.com/gardenlinux/gardenlinux:{VERSION}" in result.stdout
    # 26 flavors, 6 container images, 2 container indexes and the release index (2 tags each), 2 components, and
    # the fallback tags of the two SBOM referrers
    assert "published:" in result.stdout and "42 tags set" in " ".join(result.stdout.split())
    assert re.search(r"referrers:\n  gdch-gardener_prod-amd64 sbom +sha256:", result.stdout), result.stdout


def test_copy_says_copied(published: Path, tmp_path: Path) -> None:
    result = _gl_ocm("copy", f"oci-layout:{published}", f"oci-layout:{tmp_path / 'mirror'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("copied ") and "published" not in result.stdout + result.stderr


def test_verbose_keeps_the_exit_code_of_bad_input(components: Path, tmp_path: Path) -> None:
    rel = components / "releases" / f"{VERSION}.yaml"
    rel.write_text(rel.read_text().replace("commit:", "comit:"))
    quiet = _gl_ocm("lint", "--components", str(components))
    verbose = _gl_ocm("--verbose", "lint", "--components", str(components))
    assert quiet.returncode == verbose.returncode == 2
    assert "Traceback" not in quiet.stderr and "Traceback" in verbose.stderr
    assert "unknown key 'comit'" in quiet.stderr and "unknown key 'comit'" in verbose.stderr


def test_module_and_script_agree() -> None:
    assert (REPO / "src" / "gardenlinux_ocm" / "__main__.py").is_file()
    result = _gl_ocm("--version")
    assert result.returncode == 0 and result.stdout.startswith("gl-ocm ")
