"""Per provider: read glci's publishing output from the published-image label, write the extension's CloudProfileConfig.

Each field name comes from the provider extension's documentation (`docs/operations/operations.md` of
gardener/gardener-extension-provider-{aws,azure,gcp,openstack,alicloud}); the examples are copied to
`tests/data/gardener/` and `docs/gardener.md` lists them. The shapes of glci's output are those of glci's
publishing targets (`published_aws_images`, `published_gallery_images`, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from ..errors import GardenerError
from ..ocm.labels import PUBLISHED_IMAGES_LABEL
from .providers import Provider

__all__ = ["ProfileFormat", "HyperVGeneration", "OpenStackVariant", "ImageChoice", "Image",
           "ProviderSpec", "PROVIDERS", "config_versions"]


class ProfileFormat(StrEnum):
    """`capabilities`: `capabilityFlavors` carrying `architecture` (Gardener >= 1.131, `spec.machineCapabilities`);
    `legacy`: per-version `architectures` and per-image `architecture`."""

    CAPABILITIES = "capabilities"
    LEGACY = "legacy"


class HyperVGeneration(StrEnum):
    V1 = "V1"
    V2 = "V2"


class OpenStackVariant(StrEnum):
    """glci's OpenStack variants: `vmware` (platform `openstack`) and `metal` (platform `openstackbaremetal`)."""

    VMWARE = "vmware"
    METAL = "metal"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageChoice:
    """Which of several published images of one flavor goes in: Azure's cloud and Hyper-V generation, OpenStack's
    variant."""

    hyper_v_generation: HyperVGeneration = HyperVGeneration.V2
    azure_cloud: str = "public"
    openstack_variant: OpenStackVariant = OpenStackVariant.VMWARE


@dataclasses.dataclass(frozen=True, slots=True)
class Image:
    region: str | None  # None where the image is global (Azure's community gallery image, GCP's image)
    ref: str


Extract = Callable[[Mapping[str, Any], ImageChoice, str], list[Image]]  # (label value, choice, where) -> images


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    provider: Provider
    platforms: tuple[str, ...]  # Garden Linux platforms whose images this provider runs
    api_version: str  # of the extension's CloudProfileConfig
    image_key: str  # the field that names the image
    regional: bool  # images per region (`regions[]`), or one image per architecture
    legacy_architecture: bool  # the legacy format has an `architecture` field (else only amd64 can be expressed)
    output_key: str  # glci's key, named in warnings
    extract: Extract


def _hint() -> str:
    return f"glci writes the label {PUBLISHED_IMAGES_LABEL}; publish the images again or correct the label"


def _items(value: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise GardenerError(f"{where}: `{key}` of the published-image metadata is not a list of mappings",
                            hint=_hint())
    return items


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise GardenerError(f"{where}: the published-image metadata has an entry without `{key}`", hint=_hint())
    return value


def _aws(value: Mapping[str, Any], choice: ImageChoice, where: str) -> list[Image]:
    return [Image(_text(i, "aws_region_id", where), _text(i, "ami_id", where))
            for i in _items(value, "published_aws_images", where)]


def _azure(value: Mapping[str, Any], choice: ImageChoice, where: str) -> list[Image]:
    wanted = (choice.azure_cloud, choice.hyper_v_generation.value)
    items = _items(value, "published_gallery_images", where)
    ids = sorted({_text(i, "community_gallery_image_id", where) for i in items
                  if (_text(i, "azure_cloud", where), _text(i, "hyper_v_generation", where)) == wanted})
    if len(ids) > 1:
        raise GardenerError(f"{where}: {len(ids)} community gallery images for Azure cloud {choice.azure_cloud!r} "
                            f"and Hyper-V generation {choice.hyper_v_generation.value}: {', '.join(ids)}", hint=_hint())
    return [Image(None, ids[0])] if ids else []


def _gcp(value: Mapping[str, Any], choice: ImageChoice, where: str) -> list[Image]:
    if "gcp_image_name" not in value and "gcp_project_name" not in value:
        return []
    project, name = _text(value, "gcp_project_name", where), _text(value, "gcp_image_name", where)
    return [Image(None, f"projects/{project}/global/images/{name}")]


def _openstack(value: Mapping[str, Any], choice: ImageChoice, where: str) -> list[Image]:
    """Images of the chosen variant; one without `variant` (older glci) belongs to its flavor's variant."""
    return [Image(_text(i, "region_name", where), _text(i, "image_id", where))
            for i in _items(value, "published_openstack_images", where)
            if i.get("variant") in (None, "", choice.openstack_variant.value)]


def _alicloud(value: Mapping[str, Any], choice: ImageChoice, where: str) -> list[Image]:
    return [Image(_text(i, "region_id", where), _text(i, "image_id", where))
            for i in _items(value, "published_alicloud_images", where)]


def _api(provider: str) -> str:
    return f"{provider}.provider.extensions.gardener.cloud/v1alpha1"


PROVIDERS: Mapping[Provider, ProviderSpec] = {
    Provider.AWS: ProviderSpec(provider=Provider.AWS, platforms=("aws",), api_version=_api("aws"), image_key="ami",
                               regional=True, legacy_architecture=True, output_key="published_aws_images",
                               extract=_aws),
    Provider.AZURE: ProviderSpec(provider=Provider.AZURE, platforms=("azure",), api_version=_api("azure"),
                                 image_key="communityGalleryImageID", regional=False, legacy_architecture=True,
                                 output_key="published_gallery_images", extract=_azure),
    Provider.GCP: ProviderSpec(provider=Provider.GCP, platforms=("gcp",), api_version=_api("gcp"), image_key="image",
                               regional=False, legacy_architecture=True, output_key="gcp_image_name",
                               extract=_gcp),
    Provider.OPENSTACK: ProviderSpec(provider=Provider.OPENSTACK, platforms=("openstack", "openstackbaremetal"),
                                     api_version=_api("openstack"), image_key="id", regional=True,
                                     legacy_architecture=True, output_key="published_openstack_images",
                                     extract=_openstack),
    Provider.ALICLOUD: ProviderSpec(provider=Provider.ALICLOUD, platforms=("ali",), api_version=_api("alicloud"),
                                    image_key="id", regional=True, legacy_architecture=False,
                                    output_key="published_alicloud_images", extract=_alicloud),
}


def _flavor(spec: ProviderSpec, arch: str, images: Sequence[Image]) -> dict[str, Any]:
    capabilities = {"architecture": [arch]}
    if spec.regional:
        return {"capabilities": capabilities, "regions": [{"name": i.region, spec.image_key: i.ref} for i in images]}
    return {spec.image_key: images[0].ref, "capabilities": capabilities}


def _region(spec: ProviderSpec, name: str | None, ref: str, arch: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, spec.image_key: ref}
    if spec.legacy_architecture:
        entry["architecture"] = arch
    return entry


def config_versions(spec: ProviderSpec, version: str, by_arch: Mapping[str, Sequence[Image]],
                    fmt: ProfileFormat) -> list[dict[str, Any]]:
    """The CloudProfileConfig's `machineImages[].versions[]` entries of one version.

    `by_arch` maps each architecture to its images, sorted by region. Capabilities: one version with a
    `capabilityFlavors` entry per architecture. Legacy: regional providers list every (region, architecture) in one
    version's `regions`; global ones repeat the version once per architecture, as the GCP example does.
    """
    archs = sorted(by_arch)
    if fmt is ProfileFormat.CAPABILITIES:
        return [{"version": version, "capabilityFlavors": [_flavor(spec, a, by_arch[a]) for a in archs]}]
    if spec.regional:
        rows = sorted((i.region or "", a, i.ref) for a in archs for i in by_arch[a])
        return [{"version": version, "regions": [_region(spec, r, ref, a) for r, a, ref in rows]}]
    return [{"version": version, spec.image_key: by_arch[a][0].ref, "architecture": a} for a in archs]
