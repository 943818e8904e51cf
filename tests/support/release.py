"""Where the tests find the shipped specs and the shared reference data."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"
REFERENCE = REPO.parent / "shared" / "reference"
VERSION = "1473.0"
