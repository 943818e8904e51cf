"""`gl-ocm tag`: alias tags of a release index (latest, 1877, ...), moved only after the release verifies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from .common import RegistryFactory, guard, opened_targets, out, registry_unset, with_registry_options
from .options import (
    OcmRepositoryOpt,
    OutputFormat,
    OutputOpt,
    VersionArg,
)

if TYPE_CHECKING:
    from ..aliases import TagResult

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `tag` to the app."""

    @app.command("tag")
    @with_registry_options
    def tag_cmd(
        target: Annotated[str, typer.Argument(metavar="TARGET", help="Where the release index is.")],
        version: VersionArg,
        alias: Annotated[
            list[str],
            typer.Option("--alias", metavar="TAG", help="Alias tag to point at the release (repeatable)."),
        ],
        ocm_repository: OcmRepositoryOpt = None,
        output: OutputOpt = OutputFormat.TABLE,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Point alias tags of the release index at a release, after it verifies.

        The aliases are recorded in the release component's gardenlinux.io/release/aliases label (not signed:
        signatures stay valid). A two-part version already has its X.Y.0 tag from publish.

        \b
        Example:
          gl-ocm tag 127.0.0.1:5000 1877.3 --alias 1877 --alias latest
        """
        from ..aliases import tag_release
        from ..targets import registry_opener

        def run() -> TagResult:
            from ..aliases import check_alias
            from ..spec.version import check_version

            check_version(version, what="VERSION")  # bad input is refused before a target is opened
            for name in alias:
                check_alias(name)
            opts = registry()
            with opened_targets(target, ocm_repository, opts) as (dst, home):
                return tag_release(dst, version, alias, ocm_repository=home, open_registry=registry_opener(opts))

        result = guard(run)
        if output is OutputFormat.JSON:
            out.print_json(json.dumps({"version": result.version, "index": result.index,
                                       "aliases": list(result.aliases), "moved": list(result.moved)}))
            return
        moved = ", ".join(result.moved) or "none (all already there)"
        out.print(f"{result.index}: aliases moved: {moved}", highlight=False, soft_wrap=True)
        out.print(f"recorded aliases of {result.version}: {', '.join(result.aliases)}", highlight=False)
