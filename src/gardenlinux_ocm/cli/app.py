"""The typer application: global options (`--version`, `--verbose`) and the command groups it wires together."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer._click import _textwrap

from . import download, gardener, images, release, tags, trust
from .common import out, state

__all__ = ["app", "main"]


class _HelpWrapper(_textwrap.TextWrapper):
    """Click's help wrapper, but never splitting a reference such as oci-layout:build/oci at its hyphen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "break_on_hyphens": False})


_textwrap.TextWrapper = _HelpWrapper  # type: ignore[misc]  # click looks the class up here on every wrap

app = typer.Typer(
    name="gl-ocm",
    help="Publish Garden Linux releases as OCI artefacts and OCM component versions, and verify them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"gl-ocm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details; show tracebacks.")] = False,
) -> None:
    import logging

    state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


release.register(app)
trust.register(app)
gardener.register(app)
images.register(app)
tags.register(app)
download.register(app)


def main() -> None:
    app(prog_name="gl-ocm")


if __name__ == "__main__":
    main()
