"""The release spec as typed values: what the YAML files in `components/` say, after validation."""

from __future__ import annotations

import dataclasses

__all__ = [
    "Role",
    "Platform",
    "ExternalReference",
    "ComponentNames",
    "Flavor",
    "Container",
    "ReleaseSpec",
    "parse_cname",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """What a build artefact is: matched by file suffix, published with a media type and an OCM resource type."""

    name: str
    suffix: str
    media_type: str
    resource_type: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    name: str
    images: tuple[str, ...]  # role names; the first is the platform image


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExternalReference:
    name: str
    type: str
    url: str | None = None
    image_reference: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentNames:
    release: str  # holds the release index and every flavor's resources (glci's contract)
    container_images: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Flavor:
    """One build of a cname for one architecture (ADR 0035: flavor = `{cname}-{arch}`)."""

    cname: str
    arch: str
    platform: str
    feature_flags: tuple[str, ...]  # the cname's elements and flags, without the platform
    features: tuple[str, ...]  # the expanded feature set, as the build reports it
    extra_roles: tuple[str, ...] = ()
    platform_variant: str | None = None  # glci's `platform_variant` identity (OpenStack: vmware, metal)

    @property
    def name(self) -> str:
        return f"{self.cname}-{self.arch}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    name: str
    cname: str
    arch: str
    description: str = ""

    @property
    def name_arch(self) -> str:
        return f"{self.cname}-{self.arch}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseSpec:
    version: str
    commit: str
    release_date: str
    provider: str
    source_name: str
    source_url: str
    components: ComponentNames
    release_repository: str
    flavor_artifact_type: str
    roles: tuple[Role, ...]
    required_roles: tuple[str, ...]
    platforms: tuple[Platform, ...]
    flavors: tuple[Flavor, ...]
    containers: tuple[Container, ...]
    external_references: tuple[ExternalReference, ...]

    @property
    def commit_short(self) -> str:
        return self.commit[:8]

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)

    def platform(self, name: str) -> Platform:
        return next(p for p in self.platforms if p.name == name)

    def artefact_base_name(self, cname: str, arch: str) -> str:
        """ADR 0035 artifact base name: `{cname}-{arch}-{version}-{commit8}`."""
        return f"{cname}-{arch}-{self.version}-{self.commit_short}"


def parse_cname(cname: str) -> tuple[str, tuple[str, ...]]:
    """Split a canonical cname into its platform and its feature flags.

    `aws-gardener_prod_secureboot` -> (`aws`, (`gardener`, `_prod`, `_secureboot`)): elements are joined by `-`,
    flags are appended with `_` (python-gardenlinux-lib `get_flavor_from_feature_set`).
    """
    parts = cname.split("-")
    out: list[str] = []
    for part in parts:
        head, *flags = part.split("_")
        out.append(head)
        out.extend(f"_{f}" for f in flags)
    return out[0], tuple(out[1:])
