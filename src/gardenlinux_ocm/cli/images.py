"""`gl-ocm attach-images`: the clouds' publishing output, attached to a published release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import RegistryFactory, closing_target, guard, out, registry_unset, with_registry_options
from .options import JobsOpt, OutputFormat, OutputOpt, VersionArg
from .output import short_digest

if TYPE_CHECKING:
    from .. import api

__all__ = ["register", "PublishedImagesOpt"]

PublishedImagesOpt = Annotated[
    Path | None,
    typer.Option(
        "--published-images",
        metavar="FILE",
        help="YAML or JSON: flavor (CNAME-ARCH) -> the provider's publishing output, in glci's shapes "
        "(schemas/published-images.schema.json); becomes each flavor's published-image-metadata label.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add `attach-images` to the app."""

    @app.command("attach-images")
    @with_registry_options
    def attach_images(
        target: Annotated[str, typer.Argument(metavar="TARGET", help="Where the release's component versions are.")],
        version: VersionArg,
        published_images: Annotated[
            Path, typer.Argument(metavar="FILE", help="The publishing output (see publish --published-images).")
        ],
        jobs: JobsOpt = 4,
        output: OutputOpt = OutputFormat.TABLE,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Attach the clouds' publishing output to a published release.

        Each flavor's output becomes the published-image-metadata label of its gardenlinux resource, as glci
        writes it. The label is not signed: signatures stay valid. Attaching the same file again writes nothing.

        \b
        Example:
          gl-ocm attach-images oci-layout:build/oci 1473.0 published-images.yaml
        """
        from .. import api
        from ..gardener.published_images import load_published_images
        from ..targets import open_target

        def run() -> api.AttachResult:
            images = load_published_images(published_images)
            opts = registry()
            with closing_target(open_target(target, opts)) as dst:
                return api.attach_images(dst, version, images, jobs=jobs)

        result = guard(run)
        if output is OutputFormat.JSON:
            out.print_json(json.dumps({"target": result.target, "version": result.version,
                                       "attached": list(result.attached), "unchanged": list(result.unchanged),
                                       "before": result.before, "after": result.after}))
            return
        out.print(f"{len(result.attached)} flavor(s) attached, {len(result.unchanged)} unchanged on {result.target}",
                  highlight=False, soft_wrap=True)
        if result.attached:
            out.print(f"release {result.version}: {short_digest(result.before)} -> {short_digest(result.after)}",
                      highlight=False)
