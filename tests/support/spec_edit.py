"""Editing a private copy of the specs in a test, and the SpecError that loading it gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from gardenlinux_ocm.errors import SpecError
from gardenlinux_ocm.spec import load_release

__all__ = ["edit", "spec_error"]


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in the file by `new`; the text must be there (a stale fixture fails loudly)."""
    text = path.read_text()
    assert old in text, f"fixture text not found: {old!r}"
    path.write_text(text.replace(old, new, 1))


def spec_error(components: Path, version: str) -> SpecError:
    """The SpecError that loading release `version` from `components` raises."""
    with pytest.raises(SpecError) as info:
        load_release(components, version)
    return info.value
