"""Read component versions from any `ReadOnlyTarget`: OCM's OCI mapping as OCM Go v1, OCM2 and cc-utils write it.

A component version lives at `component-descriptors/<name>:<version with + as .build->`. The tag names an OCI image
manifest (config `componentDescriptorLayer`, layer 0 the descriptor, further layers the local blobs) or an OCI index
whose descriptor manifest is picked as the OCM spec says. Every media type of the current and the legacy
(`gardener.cloud.cnudie`) forms is accepted; small objects are checked against their digests as they are read, and
anything that is not a component version (not JSON, the wrong shape, a foreign `mediaType`) is a `VerificationError`
naming the manifest and the field, never a decode or attribute error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tarfile
from collections.abc import Iterable
from typing import Any

import yaml

from ..bounded import LIMITS, json_document, yaml_document
from ..errors import NotFound, VerificationError
from ..oci.model import (
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    Descriptor,
    MediaType,
    parse_descriptor,
    tag_to_version,
    version_to_tag,
)
from ..oci.target import ReadOnlyTarget
from .pack import component_repository
from .serialise import read_descriptor_tar

__all__ = [
    "ComponentVersion",
    "referenced_first",
    "CONFIG_MEDIA_TYPES",
    "DESCRIPTOR_MEDIA_TYPES",
    "fetch_component",
    "list_versions",
    "load_descriptor",
    "version_key",
    "read_small",
]

CONFIG_MEDIA_TYPES = frozenset({
    MediaType.OCM_CONFIG.value,
    "application/vnd.gardener.cloud.cnudie.component.config.v1+json",
    "application/vnd.oci.gardener.cloud.cnudie.component-descriptor-metadata.config.v2+json",
})
_TAR = frozenset({
    MediaType.OCM_DESCRIPTOR_YAML_TAR.value,
    "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+yaml+tar",
    "application/vnd.oci.gardener.cloud.cnudie.component-descriptor.config.v2+yaml+tar",
})
_PLAIN = frozenset({
    "application/vnd.ocm.software.component-descriptor.v2+json",
    "application/vnd.ocm.software.component-descriptor.v2+yaml",
    "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+json",
    "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+yaml",
})
DESCRIPTOR_MEDIA_TYPES = _TAR | _PLAIN
_MAX_MANIFEST = 4 << 20
_MAX_DESCRIPTOR = 64 << 20
_DESCRIPTOR_ANNOTATION = "software.ocm.descriptor"
_VERSION_ANNOTATION = "software.ocm.componentversion"
_DIGEST_TAG_RE = re.compile(r"^sha256[-.:][a-f0-9]{64}")
_SEMVER_RE = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentVersion:
    """One component version as stored: its descriptor and the OCI objects that carry it."""

    name: str
    version: str
    repository: str
    tag: str
    descriptor: dict[str, Any]
    descriptor_bytes: bytes  # the YAML or JSON as stored (inside the tar for `+yaml+tar`)
    manifest_descriptor: Descriptor
    manifest: bytes
    config: Descriptor
    descriptor_layer: Descriptor
    layers: tuple[Descriptor, ...]  # every layer of the manifest except the descriptor layer: the local blobs

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}@{self.manifest_descriptor.digest}"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when present
    """Safe YAML that keeps timestamps as strings, as Go's YAML-to-JSON conversion does."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_descriptor(data: bytes, where: str) -> dict[str, Any]:
    """Parse descriptor YAML or JSON (JSON is YAML) within the bounds of `bounded.yaml_document` (`RefusedDocument`
    beyond them); raises `VerificationError` unless it is a mapping."""
    try:
        doc = yaml_document(data, what="component descriptor", where=where, limit=LIMITS.descriptor, loader=_Loader)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise VerificationError(f"{where}: the component descriptor is not valid YAML or JSON: {e}") from e
    if not isinstance(doc, dict):
        raise VerificationError(f"{where}: the component descriptor is not a mapping")
    return doc


def read_small(target: ReadOnlyTarget, repository: str, desc: Descriptor, limit: int) -> bytes:
    """Read a small object whole and check its size and digest (targets need not verify on fetch)."""
    where = f"{target.name}/{repository}@{desc.digest}"
    if desc.size > limit:
        raise VerificationError(f"{where}: {desc.size} bytes exceeds the limit of {limit} bytes for this object")
    with target.fetch(repository, desc) as f:
        data = f.read(desc.size + 1)
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if len(data) != desc.size or got != desc.digest:
        raise VerificationError(f"{where}: content does not match its descriptor",
                                hint=f"expected {desc.digest} ({desc.size} bytes), found {got} ({len(data)} bytes)")
    return data


def _json(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json_document(data, what="manifest", where=where, limit=LIMITS.manifest)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VerificationError(f"{where}: not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise VerificationError(f"{where}: not a JSON object")
    return doc


def _descriptor(value: Any, where: str, what: str) -> Descriptor:
    """A descriptor of a manifest or index, or a `VerificationError` that names the manifest and the field."""
    if not isinstance(value, dict):
        raise VerificationError(f"{where}: malformed manifest: `{what}` is not a descriptor object")
    if not isinstance(value.get("annotations") or {}, dict):
        raise VerificationError(f"{where}: malformed manifest: `{what}.annotations` is not a mapping")
    try:
        return parse_descriptor(value)
    except (ValueError, TypeError) as e:
        raise VerificationError(f"{where}: malformed manifest: `{what}`: {e}") from e


def _list(doc: dict[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise VerificationError(f"{where}: malformed manifest: no `{key}` list")
    return value


def _annotations(entry: dict[str, Any]) -> dict[str, Any]:
    value = entry.get("annotations")
    return value if isinstance(value, dict) else {}


def _pick_from_index(doc: dict[str, Any], where: str) -> Descriptor:
    """The descriptor manifest of an index: annotated `software.ocm.descriptor`, else the annotated one, else [0]."""
    entries = [e for e in _list(doc, "manifests", where) if isinstance(e, dict)]
    if not entries:
        raise VerificationError(f"{where}: the index at the tag lists no manifests")
    marked = [e for e in entries if _annotations(e).get(_DESCRIPTOR_ANNOTATION) == "true"]
    if len(marked) > 1:
        raise VerificationError(f"{where}: {len(marked)} index entries are marked {_DESCRIPTOR_ANNOTATION}")
    named = [e for e in entries if _VERSION_ANNOTATION in _annotations(e)]
    return _descriptor((marked or named or entries)[0], where, "manifests[]")


def _media_type(doc: dict[str, Any], where: str) -> str | None:
    """The manifest's own `mediaType`: absent, or one of the OCI and Docker manifest types."""
    value = doc.get("mediaType")
    if value is not None and value not in MANIFEST_MEDIA_TYPES:
        raise VerificationError(f"{where}: not an OCI manifest or index: mediaType {value!r}",
                                hint=f"expected one of {', '.join(sorted(MANIFEST_MEDIA_TYPES))}")
    return value if isinstance(value, str) else None


def fetch_component(target: ReadOnlyTarget, component: str, version: str) -> ComponentVersion:
    """Read a component version: resolve the tag, read the manifest and config, parse the descriptor.

    Raises `NotFound` when the tag does not exist and `VerificationError` when what is there is no component version.
    """
    repository = component_repository(component)
    tag = version_to_tag(version)
    where = f"{target.name}/{repository}:{tag}"
    top = target.resolve(repository, tag)
    manifest_desc = top
    data = read_small(target, repository, top, _MAX_MANIFEST)
    doc = _json(data, where)
    if top.media_type in INDEX_MEDIA_TYPES or _media_type(doc, where) in INDEX_MEDIA_TYPES:
        manifest_desc = _pick_from_index(doc, where)
        where = f"{target.name}/{repository}@{manifest_desc.digest}"
        data = read_small(target, repository, manifest_desc, _MAX_MANIFEST)
        doc = _json(data, where)
        if _media_type(doc, where) in INDEX_MEDIA_TYPES:
            raise VerificationError(f"{where}: the index at the tag lists another index, not a manifest")
    config = _descriptor(doc.get("config"), where, "config")
    layers = tuple(_descriptor(d, where, f"layers[{i}]") for i, d in enumerate(_list(doc, "layers", where)))
    if config.media_type not in CONFIG_MEDIA_TYPES:
        raise VerificationError(f"{where} is not an OCM component version: config media type {config.media_type!r}",
                                hint=f"expected one of {', '.join(sorted(CONFIG_MEDIA_TYPES))}")
    layer = _descriptor_layer(target, repository, config, layers, where)
    raw = read_small(target, repository, layer, _MAX_DESCRIPTOR)
    if layer.media_type in _TAR:
        try:
            raw = read_descriptor_tar(raw)
        except (ValueError, tarfile.TarError) as e:
            raise VerificationError(f"{where}: unreadable descriptor layer: {e}") from e
    descriptor = load_descriptor(raw, where)
    return ComponentVersion(
        name=component, version=version, repository=repository, tag=tag, descriptor=descriptor,
        descriptor_bytes=raw, manifest_descriptor=manifest_desc.bare(), manifest=data, config=config,
        descriptor_layer=layer, layers=tuple(d for d in layers if d.digest != layer.digest),
    )


def referenced_first(target: ReadOnlyTarget, roots: Iterable[tuple[str, str]], *,
                     missing_ok: bool = False) -> list[ComponentVersion]:
    """The component versions reachable from `roots` (name, version), each after the ones it references.

    Depth-first; a cycle is cut where it closes (verify reports cycles). A referenced component version that does
    not exist raises `NotFound`, or is left out with `missing_ok`.
    """
    order: list[ComponentVersion] = []
    seen: set[tuple[str, str]] = set()

    def visit(name: str, version: str) -> None:
        if (name, version) in seen:
            return
        seen.add((name, version))
        try:
            cv = fetch_component(target, name, version)
        except NotFound:
            if missing_ok:
                return
            raise
        component = cv.descriptor.get("component")
        refs = component.get("componentReferences") if isinstance(component, dict) else None
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, dict):
                visit(str(ref.get("componentName", "")), str(ref.get("version", "")))
        order.append(cv)

    for name, version in roots:
        visit(name, version)
    return order


def _descriptor_layer(target: ReadOnlyTarget, repository: str, config: Descriptor, layers: tuple[Descriptor, ...],
                      where: str) -> Descriptor:
    """The layer the config names (`componentDescriptorLayer`), else the first layer with a descriptor media type."""
    cfg = _json(read_small(target, repository, config, _MAX_MANIFEST), f"{where} config")
    named = cfg.get("componentDescriptorLayer")
    if isinstance(named, dict) and isinstance(named.get("digest"), str):
        match = [d for d in layers if d.digest == named["digest"]]
        if match:
            return match[0]
        raise VerificationError(f"{where}: the config names descriptor layer {named['digest']}, "
                                "which is not a layer of the manifest")
    candidates = [d for d in layers if d.media_type in DESCRIPTOR_MEDIA_TYPES]
    if not candidates:
        raise VerificationError(f"{where}: no layer holds a component descriptor",
                                hint=f"expected a layer of type {MediaType.OCM_DESCRIPTOR_YAML_TAR.value}")
    return candidates[0]


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key for versions by semver precedence (build metadata last resort); non-semver versions sort first."""
    m = _SEMVER_RE.match(version)
    if not m:
        return (0, (), (), version)
    core = tuple(int(g or 0) for g in m.group(1, 2, 3))
    pre = m.group(4)
    # A release ranks above its pre-releases; numeric identifiers rank below alphanumeric ones (semver 11.4).
    rank: tuple[Any, ...] = (1,) if pre is None else (
        0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return (1, core, rank, version)


def list_versions(target: ReadOnlyTarget, component: str) -> list[str]:
    """The versions of a component on the target, newest first (tags mapped back: `.build-` -> `+`)."""
    try:
        tags = target.tags(component_repository(component))
    except NotFound:
        return []
    versions = {tag_to_version(t) for t in tags if not _DIGEST_TAG_RE.match(t)}
    return sorted(versions, key=version_key, reverse=True)
