"""The release spec as typed values: what the YAML files in `components/` say, after validation."""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum

__all__ = [
    "Attach",
    "Role",
    "Platform",
    "ExternalReference",
    "ComponentNames",
    "Flavor",
    "Container",
    "ReleaseSpec",
    "parse_cname",
    "repository_name",
]

_PART = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)*")


class Attach(StrEnum):
    """How a flavor's file is published: a layer of the flavor manifest, or a referrer of it (an artifact of its own
    whose `subject` is the flavor manifest, found through the OCI 1.1 referrers API or its fallback tag)."""

    LAYER = "layer"
    REFERRER = "referrer"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """What a build artefact is: matched by file suffix, published with a media type and an OCM resource type.

    A role given by `pattern` instead (`*.log`, `*.test.log`) matches any number of files per flavor: what `*` stands
    for (the part: `raw`, `chroot`) goes into the resource's identity under `identity` and may be named in the media
    type as `{*}`. A fixed suffix wins over a pattern, a longer pattern over a shorter one.
    """

    name: str
    suffix: str | None
    media_type: str
    resource_type: str
    pattern: str | None = None
    identity: str | None = None  # a pattern role's extraIdentity key for the part
    attach: Attach = Attach.LAYER
    artifact_type: str | None = None  # a referrer's artifactType, when not the media type

    @property
    def file_form(self) -> str:
        """How the role's files end, as the spec writes it (`tar`, `*.log`)."""
        return self.suffix if self.suffix is not None else str(self.pattern)

    def part_of(self, suffix: str) -> str | None:
        """What this pattern role's `*` stands for in a file's suffix (everything after the commit), or None."""
        if self.pattern is None:
            return None
        tail = self.pattern[1:]  # the pattern is `*` followed by a literal that starts with a dot
        part = suffix[: -len(tail)] if suffix.endswith(tail) else ""
        return part if _PART.fullmatch(part) else None

    def media_type_for(self, part: str | None) -> str:
        return self.media_type.replace("{*}", part) if part is not None else self.media_type

    def artifact_type_for(self, part: str | None) -> str:
        """A referrer's `artifactType`: the spec's, else the file's media type."""
        form = self.artifact_type or self.media_type
        return form.replace("{*}", part) if part is not None else form


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
    """One architecture of a container image the release builds (`base`, `python-dev`, `bare-python`).

    Each container has its own repository and a multi-arch index tagged with the version there, except the one in
    the release repository (`in_release_index`): its images are listed in the release index itself, so that
    `podman pull <base>/<release repository>:<version>` gets it.
    """

    name: str
    cname: str  # as the build names it; may hold capitals (`container-pythonDev`)
    arch: str
    repository: str
    in_release_index: bool = False
    description: str = ""
    archive: str | None = None  # the OCI archive's relative path in the build output, when not `<base name>.oci`

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

    def container_archive(self, container: Container) -> str:
        """Where a container's OCI archive is in the build output: the spec's `archive`, or `<base name>.oci`."""
        return container.archive or f"{self.artefact_base_name(container.cname, container.arch)}.oci"


def repository_name(cname: str) -> str:
    """The repository name of a container cname: lower case, a capital starting a new word (`container-pythonDev`
    -> `container-python-dev`), as Garden Linux's publishing workflow names them."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", cname).lower()


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
