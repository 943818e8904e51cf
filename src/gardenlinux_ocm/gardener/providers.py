"""The cloud providers Garden Linux images are published to, and which platform publishes to which (glci's
`CanPublish`): ali to alicloud, openstack and openstackbaremetal to openstack, aws, azure and gcp to themselves."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = ["Provider", "PLATFORM_PROVIDERS"]


class Provider(StrEnum):
    """A provider: where glci publishes (one output shape each) and a Gardener provider extension (`spec.type`)."""

    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    OPENSTACK = "openstack"
    ALICLOUD = "alicloud"


PLATFORM_PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        "aws": Provider.AWS,
        "azure": Provider.AZURE,
        "gcp": Provider.GCP,
        "ali": Provider.ALICLOUD,
        "openstack": Provider.OPENSTACK,
        "openstackbaremetal": Provider.OPENSTACK,
    }
)
