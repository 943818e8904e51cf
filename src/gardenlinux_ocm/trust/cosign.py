"""Cosign-format signatures of OCI manifests, byte for byte as cosign v2 writes them (pure: no I/O, no keys read).

A signature of manifest `sha256:<hex>` in repository `R` is an OCI image manifest tagged `sha256-<hex>.sig` in `R`.
Each of its layers is one signature: the layer's blob is the simple-signing payload (JSON naming the signed digest),
its annotation `dev.cosignproject.cosign/signature` the base64 RSASSA-PKCS1-v1_5 signature over SHA-256(payload).
A second key adds a layer (the same payload blob again); signing again with a key whose signature is there adds
nothing. The referrer form (OCI 1.1 `subject`, one signature per manifest) is what cosign writes with
`--registry-referrers-mode=oci-1-1`. `check_signature` reads both forms back, as `cosign verify --key` and
gardenlinux-update do. Observed formats and the commands that produced them: docs/signatures.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..bounded import LIMITS, json_document
from ..errors import RefusedDocument
from ..oci.model import DIGEST_RE, Descriptor, MediaType, descriptor_for, parse_descriptor, sha256_digest

__all__ = [
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "SIGNATURE_ANNOTATION",
    "SIGNATURE_ARTIFACT_TYPE",
    "PAYLOAD_TYPE",
    "SignatureLayer",
    "SignatureImage",
    "SignatureStatus",
    "SignatureCheck",
    "signature_tag",
    "simple_signing_payload",
    "signature_layer",
    "signature_image",
    "referrer_image",
    "parse_signature_image",
    "has_signature",
    "with_signature",
    "check_signature",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"  # referrer: artifactType, config type
PAYLOAD_TYPE = "cosign container image signature"
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time: cosign's config and history carry no time


def signature_tag(manifest_digest: str) -> str:
    """The tag cosign reads a manifest's signatures from: `sha256:<hex>` becomes `sha256-<hex>.sig`."""
    _check_digest(manifest_digest)
    return manifest_digest.replace(":", "-", 1) + ".sig"


def signature_subject(tag: str) -> str | None:
    """The manifest digest a `sha256-<hex>.sig` tag holds the signatures of; None for any other tag."""
    match = re.fullmatch(r"sha256-([0-9a-f]{64})\.sig", tag)
    return f"sha256:{match[1]}" if match else None


def simple_signing_payload(docker_reference: str, manifest_digest: str,
                           optional: Mapping[str, str] | None = None) -> bytes:
    """The simple-signing payload cosign signs for `<docker_reference>@<manifest_digest>` (no trailing newline).

    `docker_reference` is the repository without tag or digest (`ghcr.io/gardenlinux/gardenlinux`); verifiers check
    only the digest, so the payload stays valid when the release is copied elsewhere. `optional` are cosign's `-a`
    annotations (keys sorted, as Go marshals a map); without them `optional` is `null`, as cosign writes it.
    """
    _check_digest(manifest_digest)
    if not docker_reference or "@" in docker_reference:
        raise ValueError(f"docker reference {docker_reference!r} must be a repository without a digest")
    doc = {"critical": {"identity": {"docker-reference": docker_reference},
                        "image": {"docker-manifest-digest": manifest_digest},
                        "type": PAYLOAD_TYPE},
           "optional": dict(sorted(optional.items())) if optional else None}
    return _go_json(doc)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignatureLayer:
    """One signature: the descriptor of its payload blob, with the base64 signature among its annotations."""

    digest: str  # of the payload
    size: int
    annotations: tuple[tuple[str, str], ...]  # sorted; SIGNATURE_ANNOTATION, plus what other cosign modes add
    media_type: str = SIMPLE_SIGNING_MEDIA_TYPE

    @property
    def signature(self) -> str:
        """The base64 signature ('' when the layer has none)."""
        return dict(self.annotations).get(SIGNATURE_ANNOTATION, "")

    def to_dict(self) -> dict[str, Any]:
        """The wire form in cosign's key order: mediaType, size, digest, annotations."""
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def signature_layer(payload: bytes, signature: bytes) -> SignatureLayer:
    """The layer for a payload and its raw signature bytes."""
    if not signature:
        raise ValueError("the signature is empty")
    return SignatureLayer(digest=sha256_digest(payload), size=len(payload),
                          annotations=((SIGNATURE_ANNOTATION, base64.b64encode(signature).decode("ascii")),))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignatureImage:
    """A cosign signature manifest: the `.sig` tag form (no subject) or the referrer form (with `subject`)."""

    layers: tuple[SignatureLayer, ...]
    subject: Descriptor | None = None
    annotations: tuple[tuple[str, str], ...] = ()  # manifest annotations (cosign writes none)

    @property
    def config_media_type(self) -> str:
        return SIGNATURE_ARTIFACT_TYPE if self.subject is not None else MediaType.OCI_CONFIG

    def config_bytes(self) -> bytes:
        """The config blob as go-containerregistry writes it for cosign: one diff_id and history entry per layer."""
        return _go_json({"architecture": "", "created": _ZERO_TIME,
                         "history": [{"created": _ZERO_TIME} for _ in self.layers], "os": "",
                         "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in self.layers]},
                         "config": {}})

    @property
    def config(self) -> Descriptor:
        return descriptor_for(self.config_bytes(), self.config_media_type)

    def to_bytes(self) -> bytes:
        """The manifest bytes, in cosign's key order (so the same signatures give the same digest as cosign's)."""
        config = self.config
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST.value,
                               "config": {"mediaType": config.media_type, "size": config.size,
                                          "digest": config.digest},
                               "layers": [layer.to_dict() for layer in self.layers]}
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.subject is not None:
            doc["subject"] = {"mediaType": self.subject.media_type, "size": self.subject.size,
                              "digest": self.subject.digest}
            doc["artifactType"] = SIGNATURE_ARTIFACT_TYPE
        return _go_json(doc)

    @property
    def descriptor(self) -> Descriptor:
        """The manifest's descriptor (with artifactType in the referrer form, as a referrers index lists it)."""
        return descriptor_for(self.to_bytes(), MediaType.OCI_MANIFEST,
                              artifact_type=SIGNATURE_ARTIFACT_TYPE if self.subject is not None else None)


def signature_image(layers: Sequence[SignatureLayer]) -> SignatureImage:
    """The `.sig` tag form holding these signatures, in this order."""
    if not layers:
        raise ValueError("a signature manifest needs at least one signature")
    return SignatureImage(layers=tuple(layers))


def referrer_image(layer: SignatureLayer, subject: Descriptor) -> SignatureImage:
    """The referrer form of one signature of `subject` (cosign writes one referrer manifest per signature)."""
    return SignatureImage(layers=(layer,), subject=subject.bare())


def parse_signature_image(data: bytes) -> SignatureImage:
    """Read a signature manifest (either form); raises ValueError when it is not one."""
    try:
        doc = json_document(data, what="signature manifest", where="a signature", limit=LIMITS.manifest)
    except ValueError as e:
        raise ValueError(f"the signature manifest is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError("the signature manifest is not a JSON object")
    if doc.get("mediaType", MediaType.OCI_MANIFEST) not in (MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST):
        raise ValueError(f"the signature manifest has mediaType {doc.get('mediaType')!r}, not an image manifest")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ValueError("the signature manifest has no layers")
    layers = []
    for i, raw in enumerate(raw_layers):
        if not isinstance(raw, dict):
            raise ValueError(f"layers[{i}] of the signature manifest is not an object")
        descriptor = parse_descriptor(raw)
        layers.append(SignatureLayer(digest=descriptor.digest, size=descriptor.size,
                                     annotations=_strings(raw.get("annotations"), f"layers[{i}].annotations"),
                                     media_type=descriptor.media_type))
    subject = doc.get("subject")
    return SignatureImage(layers=tuple(layers),
                          subject=parse_descriptor(subject).bare() if isinstance(subject, dict) else None,
                          annotations=_strings(doc.get("annotations"), "annotations"))


def has_signature(image: SignatureImage | None, layer: SignatureLayer,
                  public_key: rsa.RSAPublicKey | None = None, payload: bytes | None = None) -> bool:
    """Whether `image` already holds this signature: the same payload and signature, or (cosign's duplicate check,
    given the key and the payload) any signature of the same payload that verifies with the key."""
    if image is None:
        return False
    for existing in image.layers:
        if existing.digest != layer.digest:
            continue
        if existing.signature == layer.signature:
            return True
        if public_key is not None and payload is not None and _verifies(public_key, payload, existing.signature):
            return True
    return False


def with_signature(image: SignatureImage | None, layer: SignatureLayer,
                   public_key: rsa.RSAPublicKey | None = None, payload: bytes | None = None) -> SignatureImage:
    """`image` with the signature appended as its last layer; `image` itself when it holds the signature already.

    Earlier layers keep their place: gardenlinux-update checks only the first layer, so the first key to sign a
    manifest stays the one it sees.
    """
    if image is not None and has_signature(image, layer, public_key, payload):
        return image
    if image is None:
        return signature_image([layer])
    return dataclasses.replace(image, layers=(*image.layers, layer))


class SignatureStatus(StrEnum):
    OK = "ok"  # a signature verifies with the key and names this manifest's digest
    WRONG_DIGEST = "wrong-digest"  # signed with the key, but for another manifest
    BAD_SIGNATURE = "bad-signature"  # no signature verifies with the key (another key, or changed content)
    UNSIGNED = "unsigned"  # no signature manifest
    MALFORMED = "malformed"  # a signature manifest that cannot be read


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignatureCheck:
    """The outcome for one manifest, for a verifier to report."""

    manifest_digest: str
    status: SignatureStatus
    detail: str
    layer: int | None = None  # the index of the signature that verified

    @property
    def ok(self) -> bool:
        return self.status is SignatureStatus.OK

    @classmethod
    def malformed(cls, manifest_digest: str, reason: str) -> SignatureCheck:
        """The outcome when the signature manifest cannot be parsed (`parse_signature_image` raised `reason`)."""
        return cls(manifest_digest=manifest_digest, status=SignatureStatus.MALFORMED,
                   detail=f"signature manifest {signature_tag(manifest_digest)} is malformed: {reason}")


def check_signature(manifest_digest: str, image: SignatureImage | None, payloads: Mapping[str, bytes],
                    public_key: rsa.RSAPublicKey) -> SignatureCheck:
    """Check the signatures of `manifest_digest` with `public_key`, as `cosign verify --key` does.

    `image` is the parsed signature manifest (None when the tag is absent); `payloads` maps layer digests to the
    payload blobs the caller fetched (a missing one counts as a bad signature). OK when at least one layer's payload
    hashes to its digest, verifies (RSASSA-PKCS1-v1_5, SHA-256) and names `manifest_digest`. The payload must also
    carry cosign's `type`, which cosign writes but does not check; `docker-reference` is not checked (nor by cosign),
    so signatures stay valid when a release is copied to another registry.
    """
    if image is None or not image.layers:
        return SignatureCheck(manifest_digest=manifest_digest, status=SignatureStatus.UNSIGNED,
                              detail=f"no signature: tag {signature_tag(manifest_digest)} is absent")
    claimed: list[str] = []
    problems: list[str] = []
    for i, layer in enumerate(image.layers):
        payload = payloads.get(layer.digest)
        if payload is None or sha256_digest(payload) != layer.digest:
            problems.append(f"layer {i}: payload {layer.digest[:19]}… " + ("not given" if payload is None else
                                                                          "does not match its digest"))
            continue
        if not _verifies(public_key, payload, layer.signature):
            problems.append(f"layer {i}: the signature does not verify with the key")
            continue
        digest, kind = _claim(payload)
        if kind != PAYLOAD_TYPE or digest != manifest_digest:
            claimed.append(f"layer {i} signs {digest or '?'} ({kind or 'no type'})")
            continue
        return SignatureCheck(manifest_digest=manifest_digest, status=SignatureStatus.OK, layer=i,
                              detail=f"signature {i + 1} of {len(image.layers)} verifies")
    if claimed:
        return SignatureCheck(manifest_digest=manifest_digest, status=SignatureStatus.WRONG_DIGEST,
                              detail="signed with the key, but for another manifest: " + "; ".join(claimed))
    return SignatureCheck(manifest_digest=manifest_digest, status=SignatureStatus.BAD_SIGNATURE,
                          detail="no signature verifies with the key: " + "; ".join(problems))


def _claim(payload: bytes) -> tuple[str, str]:
    """(docker-manifest-digest, type) of a simple-signing payload; ('', '') when it is not one."""
    try:
        doc = json_document(payload, what="signature payload", where="a signature", limit=LIMITS.manifest)
        critical = doc["critical"]
        return str(critical["image"]["docker-manifest-digest"]), str(critical["type"])
    except (ValueError, KeyError, TypeError, RefusedDocument):
        return "", ""


def _verifies(public_key: rsa.RSAPublicKey, payload: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def _strings(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"`{what}` of the signature manifest is not a map of strings")
    return tuple(sorted(value.items()))


def _check_digest(digest: str) -> None:
    if not DIGEST_RE.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 manifest digest")


def _go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, UTF-8, `<`, `>`, `&`, U+2028 and U+2029 escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")

