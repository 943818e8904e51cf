"""External programs the tests run: a missing required one fails the test with the command that installs it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = ["require", "optional", "go_tool", "GO_TOOLS"]

GO_TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"  # what `make tools` builds (git-ignored)


def require(tool: str, package: str | None = None) -> str:
    """The path of `tool`; fails the test (never skips) when it is missing, naming the install command."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not on PATH: run `make system-deps` (or apt-get install -y {package or tool})", pytrace=False
        )
    return path


def optional(tool: str, package: str | None = None) -> str:
    """The path of a tool the README calls optional (podman); skips the test with the install hint when missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not on PATH (optional: apt-get install -y {package or tool})")
    return path


def go_tool(tool: str) -> str:
    """A reference client that `make tools` builds into `.tools/bin`.

    Missing, the test fails under CI (`.ci/run` builds them) and skips elsewhere, with the `make tools` hint.
    """
    path = GO_TOOLS / tool
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    message = f"{tool} is not built: run `make tools` (it builds the pinned Go clients into .tools/bin)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
