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
