"""How component descriptors point at the OCI artefacts of a release, and how a copy re-points them (pure).

By reference (the default), a resource names where its artefact is, absolutely, as OCM's global access types do:

- a manifest or index: `ociArtifact` with `imageReference: <base>/<repository>:<tag>@<digest>`;
- a file (a layer of a flavor manifest): `ociBlob` with the repository `<base>/<repository>`, `mediaType`, `digest`
  and `size`. The repository is written twice, as `ref` (what OCM Go reads) and `imageReference` (what the OCM spec
  and gardener-ocm read): each reader ignores the field it does not know.

By value, files are `localBlob`s instead: layers of the component version's own manifest, so the OCM repository
carries every byte. Manifests stay `ociArtifact` by reference in both modes, and a file that is a layer of no OCI
artefact (a container's package list) is a `localBlob` in both. For transport (the default of a CTF), manifests are
`localBlob`s too, each holding its artefact as an OCM artifact set (`plan.transport`), so that everything resolves
from inside the CTF.

`base` is `HOST[:PORT][/PREFIX]`. A release that is not on a registry yet (an OCI layout, a CTF) names the reserved
base `LOCAL_BASE`; `gl-ocm copy` rewrites the accesses that name the source's base to the destination's base. Accesses
are not part of the normalised digest, so signatures stay valid across the rewrite.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "AccessMode",
    "Addressing",
    "ImageReference",
    "is_oci_artifact",
    "LOCAL_BASE",
    "oci_artifact_access",
    "oci_blob_access",
    "local_blob_access",
    "parse_image_reference",
    "rebase_descriptor",
    "strip_scheme",
]

LOCAL_BASE = "local.invalid"  # RFC 2606: a name that never resolves; "not on a registry yet"
OCI_ARTIFACT = "ociArtifact"
OCI_BLOB = "ociBlob"
LOCAL_BLOB = "localBlob"
_OCI_ARTIFACT_TYPES = frozenset({"ociartifact", "ociregistry", "ociimage", "ociartefact"})
_OCI_BLOB_TYPES = frozenset({"ociblob", "ociimagelayer"})


class AccessMode(StrEnum):
    REFERENCE = "reference"  # ociArtifact + ociBlob: the OCM repository holds descriptors only
    VALUE = "value"  # ociArtifact + localBlob: the OCM repository holds every file too
    TRANSPORT = "transport"  # localBlob only (OCI artefacts as artifact sets): resolvable inside a CTF

    @property
    def files_by_value(self) -> bool:
        return self is not AccessMode.REFERENCE


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Addressing:
    """Where the accesses of a release point: the registry base of its artefacts, and by reference or by value."""

    base: str = LOCAL_BASE
    mode: AccessMode = AccessMode.REFERENCE

    def image(self, repository: str, tag: str, digest: str) -> str:
        return f"{self.base}/{repository}:{tag}@{digest}"

    def repository(self, repository: str) -> str:
        return f"{self.base}/{repository}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageReference:
    """`HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]` split into its parts (empty strings for what is absent)."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"


_SCHEMES = ("http://", "https://", "oci://")


def strip_scheme(text: str) -> str:
    """A reference without the URL scheme that OCM v1 writes for the registries it transfers to
    (`http://127.0.0.1:5000/mirror/gardenlinux:1473.0@sha256:…`): the scheme is how to reach the registry, not part
    of the name."""
    for scheme in _SCHEMES:
        if text.lower().startswith(scheme):
            return text[len(scheme):]
    return text


def parse_image_reference(text: str) -> ImageReference | None:
    """Split an absolute reference (a URL scheme in front is dropped); None when it names no host (a Docker Hub
    short name, a relative reference)."""
    name, _, digest = strip_scheme(text).partition("@")
    host, sep, rest = name.partition("/")
    if not sep or not rest or not ("." in host or ":" in host or host == "localhost"):
        return None
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, ""
    return ImageReference(host=host, repository=repository, tag=tag, digest=digest)


def oci_artifact_access(addressing: Addressing, repository: str, tag: str, digest: str) -> dict[str, Any]:
    return {"type": OCI_ARTIFACT, "imageReference": addressing.image(repository, tag, digest)}


def oci_blob_access(
    addressing: Addressing, repository: str, media_type: str, digest: str, size: int
) -> dict[str, Any]:
    where = addressing.repository(repository)
    return {"type": OCI_BLOB, "ref": where, "imageReference": where, "mediaType": media_type, "digest": digest,
            "size": size}


def local_blob_access(media_type: str, digest: str) -> dict[str, Any]:
    return {"type": LOCAL_BLOB, "localReference": digest, "mediaType": media_type}


def _kind(access: Mapping[str, Any]) -> str:
    return str(access.get("type", "")).split("/")[0].lower()


def is_oci_artifact(access: Mapping[str, Any]) -> bool:
    """Whether an access is an `ociArtifact` under any of its names (`ociRegistry`, `ociImage`, `/v1`, …)."""
    return _kind(access) in _OCI_ARTIFACT_TYPES


def _rebase(value: Any, old: str, new: str) -> Any:
    """A reference string under `old/` (with or without a URL scheme in front) moved under `new/`; anything else
    unchanged."""
    if isinstance(value, str) and (bare := strip_scheme(value)).startswith(old + "/"):
        return new + bare[len(old):]
    return value


def _rebase_access(access: dict[str, Any], old: str, new: str) -> bool:
    """Re-point one access (and a localBlob's `globalAccess`) in place; True when something changed."""
    changed = False
    kind = _kind(access)
    fields = ("imageReference",) if kind in _OCI_ARTIFACT_TYPES else ("ref", "imageReference") \
        if kind in _OCI_BLOB_TYPES else ()
    for field in fields:
        moved = _rebase(access.get(field), old, new)
        if moved != access.get(field):
            access[field] = moved
            changed = True
    nested = access.get("globalAccess")
    if isinstance(nested, dict):
        changed = _rebase_access(nested, old, new) or changed
    return changed


def rebase_descriptor(descriptor: Mapping[str, Any], old: str, new: str) -> tuple[dict[str, Any], bool]:
    """A copy of the descriptor whose resource and source accesses under `old` name `new` instead.

    Returns the new descriptor and whether anything changed. Only accesses change, and they are outside the
    normalised digest, so every signature of the descriptor stays valid.
    """
    out = copy.deepcopy(dict(descriptor))
    if old == new:
        return out, False
    changed = False
    component = out.get("component")
    if not isinstance(component, dict):
        return out, False
    for key in ("resources", "sources"):
        for element in component.get(key) or []:
            access = element.get("access") if isinstance(element, dict) else None
            if isinstance(access, dict):
                changed = _rebase_access(access, old, new) or changed
    return out, changed

