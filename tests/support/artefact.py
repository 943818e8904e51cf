"""Small OCI artefacts for registry tests: one layer, the empty config, canonical manifest bytes."""

from __future__ import annotations

from gardenlinux_ocm.oci.model import Descriptor, MediaType, canonical_json, descriptor_for

__all__ = ["artefact"]


def artefact(layer: bytes) -> tuple[Descriptor, Descriptor, Descriptor, bytes]:
    """(layer, config, manifest descriptors, manifest bytes) of a one-layer OCI artefact."""
    layer_desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR)
    config = descriptor_for(b"{}", MediaType.OCI_EMPTY)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "artifactType": "application/vnd.gardenlinux.test",
            "config": config.to_dict(),
            "layers": [layer_desc.to_dict()],
        }
    )
    return layer_desc, config, descriptor_for(manifest, MediaType.OCI_MANIFEST), manifest
