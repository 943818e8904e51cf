"""External programs the tests run: a missing required one fails the test with the command that installs it."""

from __future__ import annotations

import shutil

import pytest

__all__ = ["require", "optional"]


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
