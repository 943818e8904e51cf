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

# The bounds on peers, as `gl-ocm --help` (and so docs/cli.md) states them; tests/unit/cli/test_cli.py checks that
# the numbers are the code's defaults.
BOUNDS_EPILOG = """\b
Bounds on what a registry, token service, archive or signer sends; a peer
beyond one ends the run with exit 1 and one paragraph, in bounded time:
  GL_OCM_CONNECT_TIMEOUT  seconds to connect [default: 10]
  GL_OCM_READ_TIMEOUT     seconds to wait for each read [default: 120]
  GL_OCM_DEADLINE         seconds an operation may take, retries and its
                          answer's body included [default: 120]
  GL_OCM_RETRY_BUDGET     seconds of retry waits in one run [default: 600]
  --signer-timeout        seconds per signature of --signer-command [60]
Documents read: manifests and indexes 4 MiB, component descriptors 16 MiB,
token answers 256 KiB, at most 64 levels deep; YAML without anchors,
aliases or tags. Basic credentials go to a token service over HTTPS, over
plain HTTP only on the registry's own host."""

app = typer.Typer(
    name="gl-ocm",
    help="Publish Garden Linux releases as OCI artefacts and OCM component versions, and verify them.",
    epilog=BOUNDS_EPILOG,
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
