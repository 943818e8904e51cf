"""Reading the `gardenlinux.io/referrer` label of a descriptor (pure): which file resources were published as OCI
referrers, and the flavor manifest resource each refers to. Verify and copy read it the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .labels import FLAVOR_RESOURCE, REFERRER_LABEL

__all__ = ["referrer_label", "referrer_flavor"]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def referrer_label(resource: Mapping[str, Any]) -> Any:
    """The value of a resource's referrer label (the referrer manifest's descriptor), or None without one."""
    return next((lab.get("value") for lab in _dicts(resource.get("labels")) if lab.get("name") == REFERRER_LABEL),
                None)


def referrer_flavor(descriptor: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `flavor` resource whose identity the file resource's identity contains (a pattern role adds its part to
    the flavor's identity), or None."""
    component = descriptor.get("component")
    resources = _dicts(component.get("resources")) if isinstance(component, Mapping) else []
    identity = _identity(resource).items()
    return next((r for r in resources if r.get("name") == FLAVOR_RESOURCE and _identity(r).items() <= identity), None)


def _identity(resource: Mapping[str, Any]) -> dict[str, Any]:
    extra = resource.get("extraIdentity")
    return extra if isinstance(extra, dict) else {}
