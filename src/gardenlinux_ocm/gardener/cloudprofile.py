"""A Gardener CloudProfile's machine images from a published release: descriptors in, a `spec` fragment out (pure).

The release's `gardenlinux` resources (type `virtual_machine_image`, identity platform, architecture, feature-flags
and, for OpenStack, platform_variant) are looked up in every descriptor given, so they are found in the release
component and in the components it references alike. Each one that glci has published carries the label
`gardener.cloud/gardenlinux/ci/published-image-metadata`; its value becomes the provider extension's
CloudProfileConfig, and the release version the CloudProfile's `spec.machineImages[].versions[]` entry.
`docs/gardener.md` names the documentation each field comes from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import GardenerError, NoPublishedImages, UsageError
from ..ocm.labels import (
    PLATFORM_IMAGE_RESOURCE,
    PLATFORM_IMAGE_TYPE,
    PLATFORM_VARIANT,
    PUBLISHED_IMAGES_LABEL,
    RELEASE_COMPONENT,
)
from ._provider_config import (
    PROVIDERS,
    HyperVGeneration,
    Image,
    ImageChoice,
    OpenStackVariant,
    ProfileFormat,
    ProviderSpec,
    config_versions,
)
from .providers import Provider

__all__ = [
    "Provider",
    "ProfileFormat",
    "HyperVGeneration",
    "OpenStackVariant",
    "ImageChoice",
    "ProfileOptions",
    "SkippedFlavor",
    "CloudProfileImages",
    "render_cloud_profile",
    "gardener_version",
    "parse_flavor_flags",
    "DEFAULT_IMAGE_NAME",
    "DEFAULT_FLAVOR_FLAGS",
]

DEFAULT_IMAGE_NAME = "gardenlinux"
DEFAULT_FLAVOR_FLAGS = "gardener,_prod"
_CRI = "containerd"  # Gardener's only CRI since v1.88 (docker was removed)
_VARIANT_OF_PLATFORM = {"openstack": OpenStackVariant.VMWARE.value, "openstackbaremetal": OpenStackVariant.METAL.value}
_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_VERSION_RE = re.compile(
    r"^(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    rf"(-{_ID}(?:\.{_ID})*)?(\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)


def parse_flavor_flags(text: str) -> frozenset[str]:
    """`gardener,_prod` -> {gardener, _prod}: a flavor goes in when its feature-flags are exactly these."""
    flags = frozenset(f.strip() for f in text.split(",") if f.strip())
    if not flags:
        raise UsageError(f"--flavor-flags {text!r} names no feature flag", hint=f"e.g. {DEFAULT_FLAVOR_FLAGS}")
    return flags


def gardener_version(version: str, release: str = "the release") -> str:
    """The release version as the three-part semver Gardener requires: `1877.3` -> `1877.3.0`, `1877` -> `1877.0.0`.

    A pre-release (`-rc1`) and build metadata (`+dev.1`) are kept: semver allows both, Gardener parses them, and
    dropping the metadata would make a build pass for the release it was made from.
    """
    m = _VERSION_RE.match(version)
    if m is None:
        raise GardenerError(
            f"{release}: version {version!r} cannot be a Gardener machine image version (MAJOR[.MINOR[.PATCH]], "
            "numbers without leading zeros, optional -PRERELEASE and +BUILD)",
            hint="Gardener requires semantic versions; publish the release under such a version")
    return ".".join(g or "0" for g in m.group(1, 2, 3)) + (m.group(4) or "") + (m.group(5) or "")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProfileOptions:
    provider: Provider
    format: ProfileFormat = ProfileFormat.CAPABILITIES
    image_name: str = DEFAULT_IMAGE_NAME  # spec.machineImages[].name
    flavor_flags: frozenset[str] = frozenset({"gardener", "_prod"})  # exactly these feature-flags
    choice: ImageChoice = ImageChoice()

    def __post_init__(self) -> None:
        if not self.image_name.strip():
            raise UsageError("--image-name is empty", hint=f"the default is {DEFAULT_IMAGE_NAME}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SkippedFlavor:
    """A selected flavor that has no image for this provider (and choice), and why."""

    component: str
    platform: str
    architecture: str
    feature_flags: str
    platform_variant: str | None
    reason: str

    def describe(self) -> str:
        platform = f"{self.platform}/{self.platform_variant}" if self.platform_variant else self.platform
        return f"{platform} {self.architecture} [{self.feature_flags}] in {self.component}: {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloudProfileImages:
    """The CloudProfile fragment for one provider: `spec.machineImages` and `spec.providerConfig`."""

    release: str  # component:version
    provider: Provider
    version: str  # as Gardener gets it
    document: dict[str, Any]
    skipped: tuple[SkippedFlavor, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"skipped {s.describe()}" for s in self.skipped)

    def to_bytes(self) -> bytes:
        """YAML in the order of the documented examples (same inputs, same bytes)."""
        import yaml  # here, not at import: `gl-ocm --help` loads this module for its option types

        return yaml.safe_dump(self.document, sort_keys=False, default_flow_style=False, allow_unicode=True).encode()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Flavor:
    component: str
    platform: str
    architecture: str
    feature_flags: str
    variant: str | None  # platform_variant, else the one glci derives from the platform
    published: Mapping[str, Any] | None  # the label's value

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.platform, self.variant or "", self.architecture, self.feature_flags

    def skip(self, reason: str) -> SkippedFlavor:
        return SkippedFlavor(component=self.component, platform=self.platform, architecture=self.architecture,
                             feature_flags=self.feature_flags, platform_variant=self.variant, reason=reason)


def _flag_set(text: str) -> frozenset[str]:
    return frozenset(f.strip() for f in text.split(",") if f.strip())


def _published(resource: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    labels = resource.get("labels")
    for label in labels if isinstance(labels, list) else []:
        if isinstance(label, Mapping) and label.get("name") == PUBLISHED_IMAGES_LABEL:
            value = label.get("value")
            if not isinstance(value, Mapping):
                raise GardenerError(f"{where}: the value of label {PUBLISHED_IMAGES_LABEL} is not a mapping",
                                    hint="glci writes the provider's publishing output there; publish again")
            return value
    return None


def _resource_flavor(component: str, resource: Mapping[str, Any]) -> _Flavor:
    identity = resource.get("extraIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    platform, arch = str(identity.get("platform", "")), str(identity.get("architecture", ""))
    flags = str(identity.get("feature-flags", ""))
    variant = identity.get(PLATFORM_VARIANT) or _VARIANT_OF_PLATFORM.get(platform)
    where = f"{component}: resource {PLATFORM_IMAGE_RESOURCE} {platform} {arch} [{flags}]"
    return _Flavor(component=component, platform=platform, architecture=arch, feature_flags=flags,
                   variant=str(variant) if variant else None, published=_published(resource, where))


def _flavors(descriptors: Sequence[Mapping[str, Any]]) -> list[_Flavor]:
    """Every `gardenlinux` image resource, once per identity (the same resource in two components counts once)."""
    found: dict[tuple[str, str, str, str], _Flavor] = {}
    for descriptor in descriptors:
        component = descriptor.get("component")
        if not isinstance(component, Mapping):
            continue
        resources = component.get("resources")
        for resource in resources if isinstance(resources, list) else []:
            if not isinstance(resource, Mapping) or (resource.get("name"), resource.get("type")) != (
                    PLATFORM_IMAGE_RESOURCE, PLATFORM_IMAGE_TYPE):
                continue
            flavor = _resource_flavor(str(component.get("name", "")), resource)
            kept = found.get(flavor.key)
            if kept is None or (kept.published is None and flavor.published is not None):
                found[flavor.key] = flavor
            elif flavor.published is not None and flavor.published != kept.published:
                raise GardenerError(
                    f"{flavor.platform} {flavor.architecture} [{flavor.feature_flags}]: {kept.component} and "
                    f"{flavor.component} carry different {PUBLISHED_IMAGES_LABEL} labels",
                    hint="the same image resource must carry the same publishing output in every component")
    return [found[k] for k in sorted(found)]


def _images(flavor: _Flavor, spec: ProviderSpec, options: ProfileOptions) -> tuple[list[Image], str]:
    """The flavor's images for this provider, or none and the reason."""
    if options.format is ProfileFormat.LEGACY and not spec.legacy_architecture and flavor.architecture != "amd64":
        return [], (f"the legacy {spec.provider} CloudProfileConfig has no architecture field (only amd64 is "
                    "documented); use --format capabilities")
    if flavor.published is None:
        return [], "not published (no published-image-metadata label)"
    where = f"{flavor.component}: {flavor.platform} {flavor.architecture} [{flavor.feature_flags}]"
    images = spec.extract(flavor.published, options.choice, where)
    if images:
        return images, ""
    detail = ""
    if spec.provider is Provider.AZURE:
        detail = (f" for Azure cloud {options.choice.azure_cloud!r} and Hyper-V generation "
                  f"{options.choice.hyper_v_generation.value}")
    elif spec.provider is Provider.OPENSTACK:
        detail = f" of variant {options.choice.openstack_variant.value}"
    return [], f"its published-image metadata has no {spec.output_key} entry{detail}"


def _by_region(arch: str, images: Sequence[Image], release: str, provider: Provider) -> list[Image]:
    """One image per region (or one global image), sorted; two different ones for the same place are an error."""
    chosen: dict[str, str] = {}
    for image in images:
        place = image.region or ""
        if chosen.setdefault(place, image.ref) != image.ref:
            where = f" in region {place}" if place else ""
            raise GardenerError(
                f"{release}: two {provider} images for {arch}{where}: {chosen[place]} and {image.ref}",
                hint="more than one flavor matches; narrow the selection with --flavor-flags")
    return [Image(region or None, chosen[region]) for region in sorted(chosen)]


def _core(options: ProfileOptions, version: str, archs: Sequence[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": version, "cri": [{"name": _CRI}]}
    if options.format is ProfileFormat.CAPABILITIES:
        entry["capabilityFlavors"] = [{"architecture": [a]} for a in archs]
    else:
        entry["architectures"] = list(archs)
    return {"name": options.image_name, "versions": [entry]}


def _no_images(release: str, spec: ProviderSpec, options: ProfileOptions, flavors: Sequence[_Flavor],
               selected: Sequence[_Flavor], skipped: Sequence[SkippedFlavor]) -> NoPublishedImages:
    flags = ",".join(sorted(options.flavor_flags))
    if skipped:
        listed = "; ".join(s.describe() for s in skipped)
        return NoPublishedImages(f"release {release} has no published images for provider {spec.provider}: {listed}",
                             hint=f"publish the images with glci (it adds the label {PUBLISHED_IMAGES_LABEL} to each "
                                  f"{PLATFORM_IMAGE_RESOURCE} resource), or select other flavors with --flavor-flags")
    platforms = "/".join(spec.platforms)
    mine = sorted({f.feature_flags for f in flavors if f.platform in spec.platforms})
    openstack = spec.provider is Provider.OPENSTACK
    variant = f" of variant {options.choice.openstack_variant.value}" if openstack else ""
    hint = f"the release has no {platforms} flavor with a {PLATFORM_IMAGE_RESOURCE} resource"
    if mine:
        hint = (f"its {platforms} flavors have the feature flags {' | '.join(mine)}; choose with --flavor-flags"
                + (" and --openstack-variant" if openstack else ""))
    return NoPublishedImages(f"release {release} has no published images for provider {spec.provider}: it has no "
                             f"{platforms} flavor{variant} with feature flags {flags}", hint=hint)


def _selects(flavor: _Flavor, spec: ProviderSpec, options: ProfileOptions) -> bool:
    """The provider's platform, exactly the feature flags asked for, and for OpenStack the variant asked for."""
    if flavor.platform not in spec.platforms or _flag_set(flavor.feature_flags) != options.flavor_flags:
        return False
    return spec.provider is not Provider.OPENSTACK or flavor.variant == options.choice.openstack_variant.value


def _release(descriptors: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    for descriptor in descriptors:
        component = descriptor.get("component")
        if isinstance(component, Mapping) and component.get("name") == RELEASE_COMPONENT:
            return RELEASE_COMPONENT, str(component.get("version", ""))
    raise GardenerError(f"the component descriptors given do not include the release component {RELEASE_COMPONENT}",
                        hint=f"read {RELEASE_COMPONENT}:VERSION and the components it references")


def render_cloud_profile(descriptors: Sequence[Mapping[str, Any]], options: ProfileOptions) -> CloudProfileImages:
    """The CloudProfile's `spec.machineImages` entry and the provider's `spec.providerConfig` for one release.

    `descriptors` are the release component and the ones it references (any order). Selected are the flavors of
    the provider's platforms whose feature-flags are exactly `options.flavor_flags` (and, for OpenStack, of the
    chosen variant); one without images is skipped and listed in `skipped`. Raises `GardenerError` when no selected
    flavor has an image for the provider, or when two give different images for the same architecture and region.
    """
    name, raw_version = _release(descriptors)
    release = f"{name}:{raw_version}"
    version = gardener_version(raw_version, release)
    spec = PROVIDERS[options.provider]
    flavors = _flavors(descriptors)
    selected = [f for f in flavors if _selects(f, spec, options)]
    found: dict[str, list[Image]] = {}
    skipped: list[SkippedFlavor] = []
    for flavor in selected:
        images, reason = _images(flavor, spec, options)
        if reason:
            skipped.append(flavor.skip(reason))
        else:
            found.setdefault(flavor.architecture, []).extend(images)
    if not found:
        raise _no_images(release, spec, options, flavors, selected, skipped)
    by_arch = {a: _by_region(a, found[a], release, spec.provider) for a in sorted(found)}
    provider_config = {"apiVersion": spec.api_version, "kind": "CloudProfileConfig",
                       "machineImages": [{"name": options.image_name,
                                          "versions": config_versions(spec, version, by_arch, options.format)}]}
    document = {"spec": {"machineImages": [_core(options, version, list(by_arch))], "providerConfig": provider_config}}
    return CloudProfileImages(release=release, provider=spec.provider, version=version, document=document,
                              skipped=tuple(skipped))
