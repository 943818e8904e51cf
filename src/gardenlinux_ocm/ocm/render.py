"""Release plan parts -> OCM component descriptors, schema v2 (pure).

Resources point at the OCI artefacts by tag and digest, as `ocm.access` builds them from an `Addressing`: manifests
and indexes as absolute `ociArtifact` references, files as `ociBlob`s of the release repository (by reference) or as
`localBlob`s of the component version (by value). See docs/design.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..oci.model import Descriptor
from ..spec.model import Container, Flavor, ReleaseSpec
from .access import AccessMode, Addressing, local_blob_access, oci_artifact_access, oci_blob_access

__all__ = [
    "OciArtefactRef",
    "FileResource",
    "render_cloud_images",
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
PLATFORM_IMAGE_RESOURCE = "gardenlinux"
FLAVOR_RESOURCE = "flavor"


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
    if at.mode is AccessMode.VALUE or f.repository is None:
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
    """Gardener's identity of a cloud image: platform, architecture and the cname's feature flags."""
    return {"platform": flavor.platform, "architecture": flavor.arch, "feature-flags": ",".join(flavor.feature_flags)}


def render_cloud_images(
    spec: ReleaseSpec, flavors: Sequence[tuple[Flavor, OciArtefactRef, Sequence[FileResource]]], at: Addressing
) -> dict[str, Any]:
    """One resource for each flavor manifest and one for each of its files, identified like Gardener does."""
    resources: list[dict[str, Any]] = []
    for flavor, ref, files in flavors:
        identity = flavor_identity(flavor)
        resources.append(_oci_resource(at, FLAVOR_RESOURCE, "ociArtifact", spec.version, ref, identity))
        platform_image = spec.platform(flavor.platform).images[:1]
        for f in files:
            name = PLATFORM_IMAGE_RESOURCE if f.role in platform_image else f.role
            resources.append(_blob_resource(at, name, spec.version, f, identity))
    return _component(spec, spec.components.cloud_images, resources)


def render_container_images(
    spec: ReleaseSpec, containers: Sequence[tuple[Container, OciArtefactRef, Sequence[FileResource]]], at: Addressing
) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for container, ref, files in containers:
        identity = {"architecture": container.arch, "os": "linux"}
        resources.append(_oci_resource(at, container.name, "ociImage", spec.version, ref, identity))
        resources.extend(_blob_resource(at, f"{container.name}-{f.role}", spec.version, f, identity) for f in files)
    return _component(spec, spec.components.container_images, resources)


def render_release(spec: ReleaseSpec, index: OciArtefactRef, at: Addressing) -> dict[str, Any]:
    """The release: git source, the release index, external references, and the two sub-components."""
    resources = [_oci_resource(at, "release-index", "ociImage", spec.version, index, {})]
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
        {"name": "cloud-images", "componentName": spec.components.cloud_images, "version": spec.version},
        {"name": "container-images", "componentName": spec.components.container_images, "version": spec.version},
    ]
    return _component(spec, spec.components.release, resources, sources=sources, references=references)
