"""Normalise OCM component descriptors exactly as OCM Go does, so that digests and signatures interoperate (pure).

The input is the v2 dict form of a descriptor (`meta`, `component`, `signatures`, ...). Four algorithms exist:

- `jsonNormalisation/v3` (= `jsonNormalisation/v4alpha1`, the default): RFC 8785 JCS over the descriptor with `meta`,
  `signatures`, `nestedDigests`, `repositoryContexts`, `access`, `srcRefs` and non-signing labels removed.
- `jsonNormalisation/v2`: v3 plus the legacy "version into extraIdentity" defaulting of duplicate resources.
- `jsonNormalisation/v1`: the legacy entry-list form (every object a list of single-key objects sorted by key),
  `meta` kept, sources dropped. Only for checking old signatures; never produce it.

OCM Go normalises a typed model, so optional fields that are null or empty vanish (Go `omitempty`); this module drops
them the same way. Sources: open-component-model/ocm `api/ocm/compdesc/normalizations/*`,
`api/ocm/compdesc/versions/v2/signing.go`, `api/tech/signing/norm/entry/norm.go`.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import rfc8785

from gardenlinux_ocm.bounded import LIMITS, json_document
from gardenlinux_ocm.errors import RefusedDocument, SigningError

__all__ = ["NormalisationAlgorithm", "normalise", "descriptor_digest"]


class NormalisationAlgorithm(StrEnum):
    """Descriptor normalisation algorithms, by their wire names."""

    JSON_V1 = "jsonNormalisation/v1"
    JSON_V2 = "jsonNormalisation/v2"
    JSON_V3 = "jsonNormalisation/v3"
    JSON_V4ALPHA1 = "jsonNormalisation/v4alpha1"


_HASHES = {"SHA256": "sha256", "SHA512": "sha512"}
_NONE_ACCESS_TYPES = frozenset({"none", "None"})
_SIGNED_LABEL_KEYS = ("name", "version", "value")
_LABEL_FIELDS = ("name", "value", "access", "digest", "version", "signing", "merge")
_LABEL_OMITEMPTY = frozenset({"access", "digest", "version", "signing", "merge"})
_RESOURCE_OMITEMPTY = frozenset({"extraIdentity", "labels", "relation", "srcRefs", "digest"})
_ELEMENT_OMITEMPTY = frozenset({"extraIdentity", "labels", "digest"})
# Go's encoding/json escapes (HTML-safe, as json.Marshal inside each entry of the v1 form does).
_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f\ud800-\udfff]')


def normalise(
    descriptor: Mapping[str, Any],
    algorithm: str = NormalisationAlgorithm.JSON_V3,
    *,
    legacy_v1_extra_identity: bool = False,
) -> bytes:
    """Return the normalised bytes of `descriptor` that OCM Go hashes for `algorithm`.

    `legacy_v1_extra_identity` selects the older `jsonNormalisation/v1` that left an empty `extraIdentity` out
    instead of writing `null`; signatures made by OCM releases of that time need it.
    """
    algo = _algorithm(algorithm)
    plain = _plain(descriptor, "descriptor")
    component = plain.get("component")
    if not isinstance(component, dict):
        raise SigningError(
            "cannot normalise the component descriptor: it has no 'component' mapping",
            hint="pass the v2 dict form of the descriptor (keys 'meta' and 'component')",
        )
    resources = _list(component, "resources")
    if algo is NormalisationAlgorithm.JSON_V1:
        normalised = _v1_descriptor(
            component, _default_version_into_extra_identity(resources), legacy_v1_extra_identity
        )
        return _go_json(_entries(normalised)).encode("utf-8")
    if algo is NormalisationAlgorithm.JSON_V2:
        resources = _default_version_into_extra_identity(resources)
    try:
        return bytes(rfc8785.dumps({"component": _jcs_component(component, resources)}))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SigningError(f"cannot normalise the component descriptor with {algo}: {exc}") from exc


def descriptor_digest(
    descriptor: Mapping[str, Any],
    algorithm: str = NormalisationAlgorithm.JSON_V3,
    hash_algorithm: str = "SHA-256",
    *,
    legacy_v1_extra_identity: bool = False,
) -> str:
    """Return the lower-case hex digest of the normalised descriptor: the value OCM stores in `signatures[].digest`.

    `hash_algorithm` is matched case-insensitively (`SHA-256`, `sha256`, `SHA-512`), as OCM Go does.
    """
    name = _HASHES.get(hash_algorithm.upper().replace("-", ""))
    if name is None:
        raise SigningError(
            f"unsupported hash algorithm {hash_algorithm!r} for the descriptor digest",
            hint="use one of: SHA-256, SHA-512",
        )
    data = normalise(descriptor, algorithm, legacy_v1_extra_identity=legacy_v1_extra_identity)
    return hashlib.new(name, data).hexdigest()


def _algorithm(algorithm: str) -> NormalisationAlgorithm:
    """Map a wire name to the enum, or fail with the list of supported names."""
    try:
        return NormalisationAlgorithm(algorithm)
    except ValueError:
        supported = ", ".join(a.value for a in NormalisationAlgorithm)
        raise SigningError(
            f"unsupported normalisation algorithm {algorithm!r}",
            hint=f"use one of: {supported}",
        ) from None


def _plain(value: Any, where: str) -> Any:
    """Deep-copy mappings and sequences into dicts and lists, so nothing the caller owns is touched."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SigningError(f"cannot normalise the component descriptor: {where} has a non-string key {key!r}")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _list(mapping: Mapping[str, Any], key: str) -> list[Any]:
    """Return `mapping[key]` as a list, defaulting a missing or null value to [] as OCM's `Default()` does."""
    value = mapping.get(key)
    return list(value) if isinstance(value, list) else []


def _is_empty(value: Any) -> bool:
    """Tell whether Go's `omitempty` would leave this value out."""
    return value is None or value is False or (isinstance(value, str | dict | list) and not value)


def _omit_empty(mapping: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Drop the `omitempty` fields among `keys` that are null or empty."""
    optional = frozenset(keys)
    return {k: v for k, v in mapping.items() if not (k in optional and _is_empty(v))}


def _default_version_into_extra_identity(resources: list[Any]) -> list[Any]:
    """Add `version` to the extraIdentity of resources that clash on name + extraIdentity (v1/v2 legacy rule).

    Mirrors OCM's `legacy.DefaultingOfVersionIntoExtraIdentity`: items are updated in order, so the last of a group of
    duplicates stays as it is.
    """
    out = list(resources)
    for i, res in enumerate(out):
        if not isinstance(res, dict):
            continue
        eid = dict(res.get("extraIdentity") or {})
        for j, peer in enumerate(out):
            if i == j or not isinstance(peer, dict) or peer.get("name") != res.get("name"):
                continue
            if dict(peer.get("extraIdentity") or {}) != eid:
                continue
            out[i] = {**res, "extraIdentity": {**eid, "version": res.get("version") or ""}}
            break
    return out


def _signed_labels(labels: Any) -> list[dict[str, Any]]:
    """Keep only labels with `signing: true`, and from each only name, version, value and signing."""
    kept: list[dict[str, Any]] = []
    for label in labels if isinstance(labels, list) else ():
        if isinstance(label, dict) and label.get("signing") in (True, "true"):
            entry = _omit_empty({k: label[k] for k in _SIGNED_LABEL_KEYS if k in label}, ("version",))
            kept.append({**entry, "signing": True})
    return kept


def _typed_labels(labels: Any) -> list[dict[str, Any]]:
    """Return labels as Go's typed `Label` serialises them: known fields only, empty optional fields dropped."""
    out: list[dict[str, Any]] = []
    for label in labels if isinstance(labels, list) else ():
        if isinstance(label, dict):
            out.append(_omit_empty({k: label[k] for k in _LABEL_FIELDS if k in label}, _LABEL_OMITEMPTY))
    return out


def _with_labels(mapping: dict[str, Any], labels: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace `labels` in `mapping`, leaving the key out when there are none (OCM's `ExcludeEmpty`)."""
    out = {k: v for k, v in mapping.items() if k != "labels"}
    if labels:
        out["labels"] = labels
    return out


def _json_object(text: str) -> dict[str, Any] | None:
    """Parse a JSON-encoded provider object; None when the string is a plain provider name."""
    try:
        parsed = json_document(text, what="provider label", where="a component descriptor", limit=LIMITS.error)
    except (ValueError, RefusedDocument):
        return None
    return parsed if isinstance(parsed, dict) else None


def _provider(value: Any) -> dict[str, Any]:
    """Return the provider as OCM's internal model holds it: an object with `name` and optional `labels`."""
    if isinstance(value, str):
        parsed = _json_object(value)
        provider = {"name": value} if parsed is None else parsed
    elif isinstance(value, dict):
        provider = value
    else:
        raise SigningError(f"cannot normalise the component descriptor: provider {value!r} is neither text nor object")
    return _with_labels({"name": provider.get("name", "")}, _signed_labels(provider.get("labels")))


def _v1_provider(value: Any) -> Any:
    """Return the v1 provider: the plain name, or the object when it has labels (OCM Go round-trips it as JSON)."""
    provider = _provider(value)
    raw = _json_object(value) if isinstance(value, str) else value
    has_labels = isinstance(raw, dict) and bool(raw.get("labels"))
    return provider if has_labels else provider["name"]


def _timestamp(value: Any) -> str:
    """Format `creationTime` as Go's `Timestamp` does: UTC, rounded to the second, RFC 3339 with `Z`."""
    try:
        when = value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise SigningError(f"cannot normalise the descriptor: creationTime {value!r} is not RFC 3339") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    when = when.astimezone(datetime.UTC)
    if when.microsecond >= 500_000:
        when += datetime.timedelta(seconds=1)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _component_base(component: dict[str, Any]) -> dict[str, Any]:
    """Fields common to all algorithms: everything but contexts and element lists; signed labels; Go timestamp."""
    skip = {"repositoryContexts", "resources", "sources", "componentReferences", "provider", "labels", "creationTime"}
    out = {k: v for k, v in component.items() if k not in skip}
    if component.get("creationTime") is not None:
        out["creationTime"] = _timestamp(component["creationTime"])
    return _with_labels(out, _signed_labels(component.get("labels")))


def _resource(res: Any) -> dict[str, Any]:
    """Normalise one resource: no access or srcRefs, signed labels only, no digest when the access is `none`."""
    if not isinstance(res, dict):
        raise SigningError(f"cannot normalise the component descriptor: resource {res!r} is not a mapping")
    out = _with_labels(
        {k: v for k, v in res.items() if k not in ("access", "srcRefs")}, _signed_labels(res.get("labels"))
    )
    access = res.get("access")
    if isinstance(access, dict) and access.get("type") in _NONE_ACCESS_TYPES:
        out.pop("digest", None)
    return _omit_empty(out, _RESOURCE_OMITEMPTY)


def _jcs_component(component: dict[str, Any], resources: list[Any]) -> dict[str, Any]:
    """Build the v2/v3 view of the component; component references keep all labels (OCM's `references` quirk)."""
    out = _component_base(component)
    out["provider"] = _provider(component.get("provider"))
    out["resources"] = [_resource(res) for res in resources]
    out["sources"] = [
        _omit_empty(
            _with_labels({k: v for k, v in src.items() if k != "access"}, _signed_labels(src.get("labels"))),
            _ELEMENT_OMITEMPTY,
        )
        for src in _list(component, "sources")
        if isinstance(src, dict)
    ]
    out["componentReferences"] = [
        _omit_empty(_with_labels(ref, _typed_labels(ref.get("labels"))), _ELEMENT_OMITEMPTY)
        for ref in _list(component, "componentReferences")
        if isinstance(ref, dict)
    ]
    return out


def _v1_descriptor(component: dict[str, Any], resources: list[Any], legacy: bool) -> dict[str, Any]:
    """Build the v1 view: `meta` kept, sources dropped, provider as a name unless it carries labels."""
    out = _component_base(component)
    out["provider"] = _v1_provider(component.get("provider"))
    refs = [
        _omit_empty(_with_labels(ref, _signed_labels(ref.get("labels"))), _ELEMENT_OMITEMPTY)
        for ref in _list(component, "componentReferences")
        if isinstance(ref, dict)
    ]
    out["componentReferences"] = [_null_extra_identity(ref, legacy) for ref in refs]
    out["resources"] = [_null_extra_identity(_resource(res), legacy) for res in resources]
    return {"component": out, "meta": {"schemaVersion": "v2"}}


def _null_extra_identity(element: dict[str, Any], legacy: bool) -> dict[str, Any]:
    """Write `extraIdentity: null` when it is absent (today's v1); the legacy variant leaves it out."""
    if legacy or "extraIdentity" in element:
        return element
    return {**element, "extraIdentity": None}


def _entries(value: Any) -> Any:
    """Turn every object into a list of single-key objects sorted by key (OCM's entry normalisation)."""
    if isinstance(value, dict):
        return [{key: _entries(value[key])} for key in sorted(value)]
    if isinstance(value, list):
        return [_entries(item) for item in value]
    return value


def _go_json(value: Any) -> str:
    """Serialise like Go's encoding/json: compact, HTML-escaped strings, numbers as float64."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_string(k)}:{_go_json(v)}" for k, v in sorted(value.items())) + "}"
    raise SigningError(f"cannot normalise the component descriptor: {type(value).__name__} value {value!r} is not JSON")


def _go_string(text: str) -> str:
    """Quote a string as Go's json.Marshal does (HTML-safe; lone surrogates become U+FFFD)."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in _GO_ESCAPES:
            return _GO_ESCAPES[char]
        if "\ud800" <= char <= "\udfff":
            return "\ufffd"
        return f"\\u{ord(char):04x}"

    return '"' + _GO_ESCAPE_RE.sub(escape, text) + '"'


def _go_number(number: float) -> str:
    """Format a number as Go formats a float64: shortest digits, plain notation for 1e-6 <= |x| < 1e21."""
    try:
        as_float = float(number)
    except OverflowError as exc:
        raise SigningError(f"cannot normalise the component descriptor: number {number} is too large") from exc
    if not math.isfinite(as_float):
        raise SigningError(f"cannot normalise the component descriptor: {number} is not a JSON number")
    if as_float == 0:
        return "0" if math.copysign(1.0, as_float) > 0 else "-0"
    if 1e-6 <= abs(as_float) < 1e21:
        text = format(decimal.Decimal(repr(as_float)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exponent = repr(as_float).split("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"
