"""Where the tests find the shipped specs and the test oracles (tests/data, with provenance in its README)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"
DATA = REPO / "tests" / "data"
VERSION = "1473.0"


def publish_args(artefacts: Path, to: str, *extra: str, components: Path = COMPONENTS) -> list[str]:
    """`gl-ocm publish` arguments for release VERSION from `artefacts` to `to`."""
    return ["publish", VERSION, "--artefacts", str(artefacts), "--components", str(components), "--to", to, *extra]


def refused_publish(artefacts: Path, tmp_path: Path, *expected: str) -> str:
    """Publish must exit 2 without a traceback, name every expected text and leave the target untouched.

    Returns the output with its white space folded (the CLI may wrap long lines).
    """
    from typer.testing import CliRunner

    from gardenlinux_ocm.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, publish_args(artefacts, f"oci-layout:{out}"))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))
    text = " ".join(result.output.split())
    for e in expected:
        assert " ".join(e.split()) in text, text
    return text
