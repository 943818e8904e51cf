"""The names of glci's descriptor contract, for the Gardener-facing commands (defined once, in `ocm.labels`)."""

from __future__ import annotations

from ..ocm.labels import (
    BUILD_METADATA_LABEL,
    IDENTITY_KEYS,
    PACKAGE_VERSIONS_LABEL,
    PLATFORM_IMAGE_RESOURCE,
    PLATFORM_VARIANT,
    PUBLISHED_IMAGES_LABEL,
    RELEASE_COMPONENT,
    ROOTFS_RESOURCE,
)

__all__ = [
    "RELEASE_COMPONENT",
    "PLATFORM_IMAGE_RESOURCE",
    "ROOTFS_RESOURCE",
    "BUILD_METADATA_LABEL",
    "PACKAGE_VERSIONS_LABEL",
    "PUBLISHED_IMAGES_LABEL",
    "IDENTITY_KEYS",
    "PLATFORM_VARIANT",
]
