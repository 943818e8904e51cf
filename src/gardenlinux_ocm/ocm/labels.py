"""The names of glci's descriptor contract, which Gardener's tooling reads: resources, identities, labels."""

from __future__ import annotations

__all__ = [
    "RELEASE_COMPONENT",
    "PLATFORM_IMAGE_RESOURCE",
    "PLATFORM_IMAGE_TYPE",
    "ROOTFS_RESOURCE",
    "BUILD_METADATA_LABEL",
    "PACKAGE_VERSIONS_LABEL",
    "PUBLISHED_IMAGES_LABEL",
    "IDENTITY_KEYS",
    "PLATFORM_VARIANT",
    "ALIASES_LABEL",
    "REFERRER_LABEL",
    "FLAVOR_RESOURCE",
]

RELEASE_COMPONENT = "github.com/gardenlinux/gardenlinux"
PLATFORM_IMAGE_RESOURCE = "gardenlinux"  # type PLATFORM_IMAGE_TYPE: the platform's disk image
PLATFORM_IMAGE_TYPE = "virtual_machine_image"
FLAVOR_RESOURCE = "flavor"  # the flavor manifest (ociArtifact); the subject of its files' referrers
ROOTFS_RESOURCE = "rootfs"  # type application/tar+vm-image-rootfs
BUILD_METADATA_LABEL = "gardener.cloud/gardenlinux/ci/build-metadata"  # {modifiers, buildTimestamp, debianPackages}
PACKAGE_VERSIONS_LABEL = "cloud.cnudie/dso/scanning-hints/package-versions"  # [{name, version}] from the .manifest
PUBLISHED_IMAGES_LABEL = "gardener.cloud/gardenlinux/ci/published-image-metadata"  # the provider's publishing output
PLATFORM_VARIANT = "platform_variant"
ALIASES_LABEL = "gardenlinux.io/release/aliases"  # the alias tags (latest, 1877, ...) of the release index
REFERRER_LABEL = "gardenlinux.io/referrer"  # a file's referrer manifest (mediaType, digest, size, artifactType)
IDENTITY_KEYS = ("platform", "architecture", "feature-flags")  # plus platform_variant where the flavor has one
