"""The JSON documents of an OCI archive, checked (pure): `oci-layout`, image indexes, image manifests, image configs.

Each check returns what it found and a list of problems, so one pass over an archive reports all of them.
"""

from __future__ import annotations

import re
from typing import Any

from ..bounded import LIMITS, json_document
from ..errors import RefusedDocument
from ..oci.model import INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, Descriptor, MediaType, Platform, parse_descriptor

__all__ = ["blob_name", "loads", "check_layout", "check_index", "check_manifest", "check_config"]

_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_CONFIG_MEDIA_TYPES = frozenset({MediaType.OCI_CONFIG.value, _DOCKER_CONFIG})
_LAYER_MEDIA_TYPES = frozenset(
    {
        f"application/vnd.oci.image.layer.{kind}v1.tar{compression}"
        for kind in ("", "nondistributable.")
        for compression in ("", "+gzip", "+zstd")
    }
    | {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
# https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
_ANY_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def blob_name(digest: str) -> str:
    """Where a blob lies in an image layout: `blobs/<algorithm>/<encoded>`."""
    algorithm, encoded = digest.split(":", 1)
    return f"blobs/{algorithm}/{encoded}"


def loads(data: bytes, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a JSON object; returns it, or None and the problem (invalid UTF-8 or JSON, too deep, not an object)."""
    try:
        obj = json_document(data, what=what, where="", limit=LIMITS.index)
    except ValueError as e:
        return None, f"{what} is not valid JSON: {e}"
    except RefusedDocument as e:
        return None, e.message.removeprefix("the ")
    if not isinstance(obj, dict):
        return None, f"{what} is JSON but not an object"
    return obj, None


def check_layout(obj: dict[str, Any]) -> list[str]:
    version = obj.get("imageLayoutVersion")
    return [] if isinstance(version, str) and version else ["oci-layout has no imageLayoutVersion"]


def _schema_version(obj: dict[str, Any], what: str) -> list[str]:
    version = obj.get("schemaVersion")
    return [] if version == 2 and not isinstance(version, bool) else [f"{what}: schemaVersion is {version!r}, not 2"]


def _descriptor(raw: object, what: str, allowed: frozenset[str], kind: str) -> tuple[Descriptor | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{what} is not a descriptor (a JSON object)"]
    try:
        desc = parse_descriptor(raw)
    except ValueError as e:
        return None, [f"{what}: {e}"]
    if desc.media_type not in allowed:
        return None, [f"{what} {desc.digest} has media type {desc.media_type!r}, not {kind}"]
    return desc, []


def check_index(obj: dict[str, Any], what: str) -> tuple[list[Descriptor], list[str]]:
    """The manifests an image index lists, and what is wrong with it."""
    problems = _schema_version(obj, what)
    media_type = obj.get("mediaType")
    if media_type is not None and media_type not in INDEX_MEDIA_TYPES:
        problems.append(f"{what}: mediaType is {media_type!r}, not an image index")
    entries = obj.get("manifests")
    if not isinstance(entries, list):
        return [], [*problems, f"{what} has no 'manifests' list"]
    out: list[Descriptor] = []
    for i, raw in enumerate(entries):
        desc, found = _descriptor(raw, f"{what} manifests[{i}]", MANIFEST_MEDIA_TYPES, "an image manifest or index")
        problems.extend(found)
        if desc is not None:
            out.append(desc)
    return out, problems


def check_manifest(
    desc: Descriptor, obj: dict[str, Any]
) -> tuple[Descriptor | None, tuple[Descriptor, ...], list[str]]:
    """The config and layers of an image manifest, and what is wrong with it."""
    what = f"manifest {desc.digest}"
    problems = _schema_version(obj, what)
    media_type = obj.get("mediaType")
    if media_type is not None and media_type != desc.media_type:
        problems.append(f"{what}: mediaType is {media_type!r}, its descriptor says {desc.media_type!r}")
    if "config" not in obj:
        problems.append(f"{what} has no config")
        config = None
    else:
        config, found = _descriptor(obj["config"], f"{what} config", _CONFIG_MEDIA_TYPES, "an image config")
        problems.extend(found)
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list):
        return config, (), [*problems, f"{what} has no 'layers' list"]
    layers: list[Descriptor] = []
    for i, raw in enumerate(raw_layers):
        layer, found = _descriptor(raw, f"{what} layers[{i}]", _LAYER_MEDIA_TYPES, "an image layer")
        problems.extend(found)
        if layer is not None:
            layers.append(layer)
    return config, tuple(layers), problems


def check_config(obj: dict[str, Any], what: str, layers: int) -> tuple[Platform, list[str]]:
    """The platform of an image config (architecture and os are required), and what is wrong with it."""
    problems: list[str] = []
    for key in ("architecture", "os"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            problems.append(f"{what} has no {key}")
    rootfs = obj.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(diff_ids, list):
        problems.append(f"{what} has no rootfs of type 'layers' with a diff_ids list")
    elif len(diff_ids) != layers:
        problems.append(f"{what} lists {len(diff_ids)} diff_ids for {layers} layer(s) of its manifest")
    elif not all(isinstance(d, str) and _ANY_DIGEST.match(d) for d in diff_ids):
        problems.append(f"{what}: rootfs.diff_ids holds a malformed digest")
    platform = Platform(architecture=str(obj.get("architecture") or ""), os=str(obj.get("os") or ""))
    return platform, problems
