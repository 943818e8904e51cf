"""Component descriptor -> the OCI objects of OCM's OCI repository mapping (pure).

`<base>/component-descriptors/<component name>:<version with + as .build->` is an OCI image manifest whose config is
`{"componentDescriptorLayer": <descriptor of layer 0>}`, layer 0 is the descriptor tar, and every further layer is a
local blob of the component, annotated with the identities of the resources that use it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ..oci.model import Descriptor, MediaType, canonical_json, descriptor_for, version_to_tag
from .render import resource_identity
from .serialise import descriptor_tar, descriptor_yaml

__all__ = ["PackedComponent", "pack_component", "component_repository", "COMPONENT_DESCRIPTORS", "CREATOR"]

COMPONENT_DESCRIPTORS = "component-descriptors"
CREATOR = "gardenlinux-ocm"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PackedComponent:
    name: str
    version: str
    repository: str
    tag: str
    descriptor: dict[str, Any]
    descriptor_yaml: bytes
    config: bytes
    layer: bytes
    manifest: bytes
    manifest_descriptor: Descriptor
    local_blobs: tuple[Descriptor, ...]


def component_repository(name: str) -> str:
    """OCM's `urlPath` name mapping (the default of every OCM implementation)."""
    return f"{COMPONENT_DESCRIPTORS}/{name}"


def pack_component(descriptor: Mapping[str, Any], blob_sizes: Mapping[str, int]) -> PackedComponent:
    """Build config, descriptor layer and manifest; `blob_sizes` gives the size of every local blob by digest."""
    comp = descriptor["component"]
    yaml_bytes = descriptor_yaml(descriptor)
    layer = descriptor_tar(yaml_bytes)
    layer_desc = descriptor_for(layer, MediaType.OCM_DESCRIPTOR_YAML_TAR)
    # Key order as OCM Go writes the config: mediaType, digest, size.
    config = json.dumps(
        {
            "componentDescriptorLayer": {
                "mediaType": layer_desc.media_type,
                "digest": layer_desc.digest,
                "size": layer_desc.size,
            }
        },
        separators=(",", ":"),
    ).encode()
    config_desc = descriptor_for(config, MediaType.OCM_CONFIG)

    users: dict[str, list[dict[str, Any]]] = {}
    media: dict[str, str] = {}
    for res in comp.get("resources") or []:
        access = res.get("access") or {}
        if access.get("type") in ("localBlob", "localBlob/v1", "LocalBlob", "LocalBlob/v1"):
            digest = access["localReference"]
            users.setdefault(digest, []).append({"kind": "resource", "identity": resource_identity(res)})
            media.setdefault(digest, access.get("mediaType", "application/octet-stream"))
    blobs = tuple(
        Descriptor(
            media_type=media[d],
            digest=d,
            size=blob_sizes[d],
            annotations=(("software.ocm.artifact", canonical_json(u).decode()),),
        )
        for d, u in users.items()
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": config_desc.to_dict(),
            "layers": [layer_desc.to_dict(), *(b.to_dict() for b in blobs)],
            "annotations": {
                "software.ocm.componentversion": f"{comp['name']}:{comp['version']}",
                "software.ocm.creator": CREATOR,
            },
        }
    )
    return PackedComponent(
        name=comp["name"],
        version=comp["version"],
        repository=component_repository(comp["name"]),
        tag=version_to_tag(comp["version"]),
        descriptor=dict(descriptor),
        descriptor_yaml=yaml_bytes,
        config=config,
        layer=layer,
        manifest=manifest,
        manifest_descriptor=descriptor_for(manifest, MediaType.OCI_MANIFEST),
        local_blobs=blobs,
    )
