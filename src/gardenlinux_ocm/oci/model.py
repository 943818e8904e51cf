"""OCI values: media types, descriptors, references and canonical JSON (pure)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from enum import StrEnum
from typing import Any

__all__ = [
    "MediaType",
    "Platform",
    "Descriptor",
    "EMPTY_JSON",
    "EMPTY_DESCRIPTOR",
    "canonical_json",
    "sha256_digest",
    "descriptor_for",
    "parse_descriptor",
    "is_manifest",
    "TAG_RE",
    "REPOSITORY_RE",
    "version_to_tag",
    "tag_to_version",
]


class MediaType(StrEnum):
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_EMPTY = "application/vnd.oci.empty.v1+json"
    OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
    OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    OCM_CONFIG = "application/vnd.ocm.software.component.config.v1+json"
    OCM_DESCRIPTOR_YAML_TAR = "application/vnd.ocm.software.component-descriptor.v2+yaml+tar"


MANIFEST_MEDIA_TYPES = frozenset(
    {MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST}
)
INDEX_MEDIA_TYPES = frozenset({MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST})

# https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
REPOSITORY_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    architecture: str
    os: str
    os_version: str | None = None
    variant: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.os_version is not None:
            out["os.version"] = self.os_version
        if self.variant is not None:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Platform:
        return cls(
            architecture=str(d.get("architecture", "")),
            os=str(d.get("os", "")),
            os_version=d.get("os.version"),
            variant=d.get("variant"),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """An OCI content descriptor. Annotations are stored as a sorted tuple so the value stays hashable."""

    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    platform: Platform | None = None
    artifact_type: str | None = None

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)

    def with_annotations(self, annotations: dict[str, str]) -> Descriptor:
        return dataclasses.replace(self, annotations=tuple(sorted(annotations.items())))

    def bare(self) -> Descriptor:
        """The same content without annotations, platform and artifact type (what identifies the bytes)."""
        return Descriptor(media_type=self.media_type, digest=self.digest, size=self.size)

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        return out


def parse_descriptor(d: dict[str, Any]) -> Descriptor:
    """Read a descriptor from its wire form; raises ValueError on a malformed one."""
    digest = d.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ValueError(f"descriptor has no valid sha256 digest: {digest!r}")
    size = d.get("size")
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"descriptor {digest} has no valid size: {size!r}")
    platform = d.get("platform")
    return Descriptor(
        media_type=str(d.get("mediaType", "")),
        digest=digest,
        size=size,
        annotations=tuple(sorted((d.get("annotations") or {}).items())),
        platform=Platform.from_dict(platform) if isinstance(platform, dict) else None,
        artifact_type=d.get("artifactType"),
    )


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor_for(data: bytes, media_type: str, **kwargs: Any) -> Descriptor:
    return Descriptor(media_type=media_type, digest=sha256_digest(data), size=len(data), **kwargs)


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_MEDIA_TYPES


EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR = descriptor_for(EMPTY_JSON, MediaType.OCI_EMPTY)


def version_to_tag(version: str) -> str:
    """OCM's version-to-tag mapping: `+` is not allowed in OCI tags and becomes `.build-`."""
    return version.replace("+", ".build-")


def tag_to_version(tag: str) -> str:
    """Reverse of `version_to_tag`: the last `.build-` becomes `+` again."""
    head, sep, tail = tag.rpartition(".build-")
    return f"{head}+{tail}" if sep else tag
