"""Option declarations shared by every `gl-ocm` command (one spelling, one help text)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "RenderFormat",
    "OutputFormat",
    "ComponentsOpt",
    "OutputOpt",
    "JobsOpt",
    "UserOpt",
    "PwStdinOpt",
    "PlainOpt",
    "CaOpt",
    "InsecureOpt",
]


class RenderFormat(StrEnum):
    YAML = "yaml"
    JSON = "json"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


ComponentsOpt = Annotated[
    Path, typer.Option("--components", "-c", help="Directory of the component specs.", envvar="GL_OCM_COMPONENTS")
]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", help="table for people, json for machines.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Parallel transfers.")]
UserOpt = Annotated[str | None, typer.Option("--username", help="Registry user; the password is read from stdin.")]
PwStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")]
PlainOpt = Annotated[
    bool | None,
    typer.Option("--plain-http/--no-plain-http", help="Force plain HTTP (default: only for loopback registries)."),
]
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca-file", exists=True, dir_okay=False, help="PEM bundle of CAs to trust for the registry."),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure-skip-tls-verify", help="Do not verify TLS certificates.")]
