"""The `gl-ocm` command line. `app` is the typer application, `main` the console-script entry point.

Exit codes: 0 success, 1 failure (a target, a verification), 2 bad input or usage (spec, artefacts, arguments).
Each command module imports what its commands need inside their bodies, so `gl-ocm --help` starts fast.
"""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
