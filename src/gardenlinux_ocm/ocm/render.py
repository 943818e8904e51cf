"""Release plan parts -> OCM component descriptors, schema v2 (pure).

Resources point at the OCI artefacts by tag and digest, as `ocm.access` builds them from an `Addressing`: manifests
and indexes as absolute `ociArtifact` references, files as `ociBlob`s of the release repository (by reference) or as
`localBlob`s of the component version (by value). A file published as a referrer of its flavor manifest is the same
blob in the same repository; its signed label `gardenlinux.io/referrer` names the referrer manifest. See
docs/design.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..oci.model import Descriptor
from ..spec.model import Container, Flavor, ReleaseSpec
from .access import Addressing, local_blob_access, oci_artifact_access, oci_blob_access
from .labels import (
    BUILD_METADATA_LABEL,
    FLAVOR_RESOURCE,
    PACKAGE_VERSIONS_LABEL,
    PLATFORM_IMAGE_RESOURCE,
    PLATFORM_VARIANT,
    REFERRER_LABEL,
    ROOTFS_RESOURCE,
)

__all__ = [
    "OciArtefactRef",
    "FileResource",
    "FlavorParts",
    "flavor_identity",
    "render_container_images",
    "render_release",
    "resource_identity",
    "EXCLUDED_DIGEST",
]

EXCLUDED_DIGEST = {
    "hashAlgorithm": "NO-DIGEST",
    "normalisationAlgorithm": "EXCLUDE-FROM-SIGNATURE",
    "value": "NO-DIGEST",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OciArtefactRef:
    """A published OCI manifest or index: repository, tag and descriptor."""

    repository: str
    tag: str
    descriptor: Descriptor


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FileResource:
    """A build artefact file: a layer in `repository`, or in no OCI artefact (None: always a local blob)."""

    repository: str | None
    role: str
    resource_type: str
    media_type: str
    digest: str
    size: int
    part: tuple[str, str] | None = None  # a pattern role's identity key and what `*` stood for: ("stage", "chroot")
    referrer: Descriptor | None = None  # the referrer manifest that holds the file, when it is no layer

    def identity(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, self.part[0]: self.part[1]} if self.part else base


def _digest(normalisation: str, digest: str) -> dict[str, str]:
    return {"hashAlgorithm": "SHA-256", "normalisationAlgorithm": normalisation, "value": digest.split(":", 1)[1]}


def _oci_resource(
    at: Addressing, name: str, type_: str, version: str, ref: OciArtefactRef, extra: dict[str, str]
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "name": name,
        "version": version,
        "type": type_,
        "relation": "local",
        "access": oci_artifact_access(at, ref.repository, ref.tag, ref.descriptor.digest),
        "digest": _digest("ociArtifactDigest/v1", ref.descriptor.digest),
    }
    if extra:
        res["extraIdentity"] = extra
    return res


def _blob_resource(at: Addressing, name: str, version: str, f: FileResource, extra: dict[str, str]) -> dict[str, Any]:
    if at.mode.files_by_value or f.repository is None:
        access = local_blob_access(f.media_type, f.digest)
    else:
        access = oci_blob_access(at, f.repository, f.media_type, f.digest, f.size)
    res: dict[str, Any] = {
        "name": name,
        "version": version,
        "type": f.resource_type,
        "relation": "local",
        "access": access,
        "digest": _digest("genericBlobDigest/v1", f.digest),
    }
    if extra:
        res["extraIdentity"] = extra
    if f.referrer is not None:
        res["labels"] = [{"name": REFERRER_LABEL, "value": f.referrer.to_dict(), "signing": True}]
    return res


def resource_identity(resource: dict[str, Any]) -> dict[str, str]:
    return {"name": resource["name"], **resource.get("extraIdentity", {})}


def _component(
    spec: ReleaseSpec,
    name: str,
    resources: list[dict[str, Any]],
    *,
    sources: list[dict[str, Any]] | None = None,
    references: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "meta": {"schemaVersion": "v2"},
        "component": {
            "name": name,
            "version": spec.version,
            "provider": spec.provider,
            "creationTime": spec.release_date,
            "repositoryContexts": [],
            "labels": [],
            "sources": sources or [],
            "componentReferences": references or [],
            "resources": resources,
        },
    }


def flavor_identity(flavor: Flavor) -> dict[str, str]:
    """glci's identity of a flavor's resources: platform, architecture, the cname's feature flags, and the platform
    variant where the spec gives one."""
    identity = {"platform": flavor.platform, "architecture": flavor.arch}
    identity["feature-flags"] = ",".join(flavor.feature_flags)
    if flavor.platform_variant:
        identity[PLATFORM_VARIANT] = flavor.platform_variant
    return identity


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlavorParts:
    """What the descriptor says about one flavor: its manifest, its files and its packages (name, version)."""

    flavor: Flavor
    manifest: OciArtefactRef
    files: Sequence[FileResource]
    packages: Sequence[tuple[str, str]] = ()


def _label(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value}


def _flavor_labels(spec: ReleaseSpec, parts: FlavorParts, resource: str) -> list[dict[str, Any]]:
    """glci's labels: build metadata on the platform image and the rootfs (with the package list on the rootfs),
    package versions (for scanners) on the platform image."""
    metadata: dict[str, Any] = {"modifiers": list(parts.flavor.feature_flags), "buildTimestamp": spec.release_date}
    if resource == ROOTFS_RESOURCE:
        return [_label(BUILD_METADATA_LABEL, {**metadata, "debianPackages": [f"{n} {v}" for n, v in parts.packages]})]
    if resource != PLATFORM_IMAGE_RESOURCE:
        return []
    labels = [_label(BUILD_METADATA_LABEL, metadata)]
    if parts.packages:
        versions = [{"name": n, "aliases": [], "version": v} for n, v in parts.packages]
        labels.append(_label(PACKAGE_VERSIONS_LABEL, versions))
    return labels


def _flavor_resources(spec: ReleaseSpec, parts: FlavorParts, at: Addressing) -> list[dict[str, Any]]:
    """The flavor manifest and one resource per file, all with the flavor's identity; glci's two named as glci does."""
    identity = flavor_identity(parts.flavor)
    out = [_oci_resource(at, FLAVOR_RESOURCE, "ociArtifact", spec.version, parts.manifest, identity)]
    platform_image = spec.platform(parts.flavor.platform).images[:1]
    for f in parts.files:
        name = PLATFORM_IMAGE_RESOURCE if f.role in platform_image else f.role
        resource = _blob_resource(at, name, spec.version, f, f.identity(identity))
        labels = _flavor_labels(spec, parts, name)
        if labels:
            resource["labels"] = [*labels, *resource.get("labels", [])]
        out.append(resource)
    return out


def render_container_images(
    spec: ReleaseSpec,
    containers: Sequence[tuple[Container, OciArtefactRef, Sequence[FileResource]]],
    indexes: Sequence[tuple[str, OciArtefactRef]],
    at: Addressing,
) -> dict[str, Any]:
    """Every container image: per architecture (identity architecture and os), and the multi-arch index of each
    container in its own repository (no identity beyond the name)."""
    resources: list[dict[str, Any]] = []
    for container, ref, files in containers:
        identity = {"architecture": container.arch, "os": "linux"}
        resources.append(_oci_resource(at, container.name, "ociImage", spec.version, ref, identity))
        resources.extend(
            _blob_resource(at, f"{container.name}-{f.role}", spec.version, f, f.identity(identity)) for f in files
        )
    for name, index in indexes:
        resources.append(_oci_resource(at, name, "ociImage", spec.version, index, {}))
    return _component(spec, spec.components.container_images, resources)


def render_release(
    spec: ReleaseSpec, index: OciArtefactRef, flavors: Sequence[FlavorParts], at: Addressing
) -> dict[str, Any]:
    """The release: git source, the release index, every flavor's resources (glci's contract: one lookup finds the
    cloud images), external references, and the container images as a referenced component."""
    resources = [_oci_resource(at, "release-index", "ociImage", spec.version, index, {})]
    for parts in flavors:
        resources.extend(_flavor_resources(spec, parts, at))
    for ext in spec.external_references:
        access: dict[str, Any]
        if ext.url is not None:
            access = {"type": "wget", "url": ext.url}
        else:
            access = {"type": "ociArtifact", "imageReference": ext.image_reference}
        resources.append(
            {
                "name": ext.name,
                "version": spec.version,
                "type": ext.type,
                "relation": "external",
                "access": access,
                "digest": dict(EXCLUDED_DIGEST),
            }
        )
    sources = [
        {
            "name": spec.source_name,
            "version": spec.version,
            "type": "git",
            "access": {
                "type": "gitHub",
                "repoUrl": spec.source_url,
                "commit": spec.commit,
                "ref": f"refs/tags/{spec.version}",
            },
        }
    ]
    references = [
        {"name": "container-images", "componentName": spec.components.container_images, "version": spec.version},
    ]
    return _component(spec, spec.components.release, resources, sources=sources, references=references)
