"""The Gardener commands: `gl-ocm cloud-profile`, a CloudProfile's machine images from a published release.

The command reads the release component and the components it references from the target, hands the descriptors
to `gardener.cloudprofile.render_cloud_profile` (pure) and writes the YAML; errors go through the shared guard, registry
options through the shared builder. Exit codes: 0 written, 1 no published images (or unreadable release), 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..gardener.cloudprofile import (
    DEFAULT_FLAVOR_FLAGS,
    DEFAULT_IMAGE_NAME,
    HyperVGeneration,
    OpenStackVariant,
    ProfileFormat,
    Provider,
)
from .common import RegistryFactory, closing_target, err, guard, registry_unset, with_registry_options
from .options import VersionArg

if TYPE_CHECKING:
    from ..gardener.cloudprofile import CloudProfileImages

__all__ = ["register"]

SourceArg = Annotated[str, typer.Argument(
    metavar="TARGET", help="oci-layout:DIR, ctf:PATH, ca:PATH or a registry base (HOST, optional :PORT and /PREFIX).")]


def register(app: typer.Typer) -> None:
    """Add `cloud-profile` to the app."""

    @app.command("cloud-profile")
    @with_registry_options
    def cloud_profile_cmd(
        target: SourceArg,
        version: VersionArg,
        provider: Annotated[Provider, typer.Option(
            "--provider", "-p", help="The Gardener provider extension whose CloudProfileConfig to write.",
            show_default=False)],
        fmt: Annotated[ProfileFormat, typer.Option(
            "--format", "-f", help="capabilities (capabilityFlavors with an architecture capability, for "
            "CloudProfiles with spec.machineCapabilities) or legacy (architectures per version, architecture per "
            "image).")] = ProfileFormat.CAPABILITIES,
        image_name: Annotated[str, typer.Option(
            "--image-name", metavar="NAME", help="The machine image name (spec.machineImages[].name).")
        ] = DEFAULT_IMAGE_NAME,
        flavor_flags: Annotated[str, typer.Option(
            "--flavor-flags", metavar="FLAGS", help="The flavors to include: exactly these feature-flags, "
            "comma-separated.")] = DEFAULT_FLAVOR_FLAGS,
        hyper_v_generation: Annotated[HyperVGeneration, typer.Option(
            "--hyper-v-generation", help="Azure: the Hyper-V generation of the community gallery images.")
        ] = HyperVGeneration.V2,
        azure_cloud: Annotated[str, typer.Option(
            "--azure-cloud", metavar="CLOUD", help="Azure: the cloud glci published to (public or china).")
        ] = "public",
        openstack_variant: Annotated[OpenStackVariant, typer.Option(
            "--openstack-variant", help="OpenStack: vmware (platform openstack) or metal (platform "
            "openstackbaremetal); one CloudProfile holds one.")] = OpenStackVariant.VMWARE,
        output_file: Annotated[Path | None, typer.Option(
            "--output-file", "-o", metavar="FILE", help="Write here instead of stdout.")] = None,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Write a Gardener CloudProfile's machine images for a published release, for one provider.

        Reads the gardenlinux resources of the release and of the components it references; each published flavor
        carries glci's label gardener.cloud/gardenlinux/ci/published-image-metadata. The output is a spec fragment:
        spec.machineImages (version as three-part semver, architectures, cri) and spec.providerConfig (the provider
        extension's CloudProfileConfig). A selected flavor without images is skipped with a warning; a provider with
        none at all is bad input (exit 2).

        \b
        Examples:
          gl-ocm cloud-profile oci-layout:build/oci 1877.3 --provider aws
          gl-ocm cloud-profile ghcr.io/gardenlinux 1877.3 -p azure --format legacy \\
            -o azure.yaml
        """
        from ..gardener.cloudprofile import ImageChoice, ProfileOptions, parse_flavor_flags, render_cloud_profile
        from ..ocm.fetch import referenced_first
        from ..ocm.labels import RELEASE_COMPONENT
        from ..targets import open_source

        def run() -> CloudProfileImages:
            options = ProfileOptions(
                provider=provider, format=fmt, image_name=image_name, flavor_flags=parse_flavor_flags(flavor_flags),
                choice=ImageChoice(hyper_v_generation=hyper_v_generation, azure_cloud=azure_cloud,
                                   openstack_variant=openstack_variant))
            opts = registry()
            with closing_target(open_source(target, opts)) as src:
                order = referenced_first(src, [(RELEASE_COMPONENT, version)])
            return render_cloud_profile([cv.descriptor for cv in order], options)

        result: CloudProfileImages = guard(run)
        if result.warnings:
            from rich.markup import escape

            err.print("[yellow]warning:[/] " + escape("\n  ".join(result.warnings)), highlight=False, soft_wrap=True)
        data = result.to_bytes()
        if output_file:
            guard(lambda: output_file.write_bytes(data))
            err.print(f"wrote the {result.provider} machine images of {result.release} to {output_file}",
                      highlight=False, soft_wrap=True)
        else:
            sys.stdout.buffer.write(data)
