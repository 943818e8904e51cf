"""Use cases on the specs alone: lint them, write sample build outputs."""


from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..spec import lint_components, load_release

if TYPE_CHECKING:
    pass


def lint(components: Path) -> list[str]:
    """Validate every spec in `components/`; returns the release versions found."""
    return lint_components(components)


def sample_artefacts(components: Path, version: str, out: Path) -> list[Path]:
    from ..artefacts.samples import write_samples

    return write_samples(load_release(components, version), out)
