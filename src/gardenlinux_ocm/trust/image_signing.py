"""Cosign-format signatures of the OCI manifests of a release: made before anything is written, stored by `copy()`.

Every flavor manifest, container image, container index and the release index gets a signature manifest under the
tag `sha256-<hex>.sig` of its repository (`trust.cosign`), which `cosign verify` and gardenlinux-update read. A
signature already there is kept: signing again with the same key adds nothing, another key appends its signature
after the ones there (gardenlinux-update checks the first). The signatures are computed and merged with what the
target holds before the first write, so a failing signer publishes nothing; `copy()` then stores them (the tag moves
only from a signature manifest to one that holds it and more). Where the target serves the OCI 1.1 referrers API,
each signature is also attached in cosign's referrer form (`--registry-referrers-mode=oci-1-1`: one manifest per
signature, `subject` the signed manifest), which `cosign verify --experimental-oci11` finds through the API.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, SigningError, TargetError
from ..oci.copy import CopyRoot
from ..oci.memory import MemoryTarget
from ..oci.model import Descriptor, MediaType, descriptor_for
from ..oci.referrers import serves_referrers_api
from ..oci.target import ReadOnlyTarget
from ..ocm.fetch import read_small
from .cosign import (
    SIMPLE_SIGNING_MEDIA_TYPE,
    SignatureImage,
    parse_signature_image,
    referrer_image,
    signature_layer,
    signature_tag,
    simple_signing_payload,
    with_signature,
)
from .signer import Signer

if TYPE_CHECKING:
    from .locations import Locations

__all__ = ["Subject", "Place", "ImageSignatures", "sign_images", "read_signatures", "read_payloads",
           "published_subjects"]

_MAX_SIGNATURE_MANIFEST = 1 << 20
_MAX_PAYLOAD = 64 << 10


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """A manifest to sign: its repository on the target and its descriptor."""

    repository: str
    descriptor: Descriptor


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageSignatures:
    """The signature manifests to store (staged in `source`, one root per changed `.sig` tag) and the counts."""

    source: MemoryTarget
    roots: tuple[CopyRoot, ...]
    signed: int  # subjects whose signature manifest gains this signature
    unchanged: int  # subjects that hold it already
    referrers: tuple[CopyRoot, ...] = ()  # the referrer form, where the target serves the referrers API


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """The subjects of one target, with the base its payloads name."""

    target: ReadOnlyTarget
    base: str
    subjects: tuple[Subject, ...]


def published_subjects(locations: Locations, descriptors: Sequence[Mapping[str, Any]]) -> list[Place]:
    """Where the OCI manifests and indexes that the descriptors' `ociArtifact` resources name are: the home target
    first, then each other registry they name (opened through `locations`), subjects in descriptor order.

    Raises `SigningError` for a reference that cannot be looked at (a registry that cannot be opened)."""
    from .locations import home_base

    places: dict[str, tuple[ReadOnlyTarget, str, list[Subject]]] = {
        locations.home.name: (locations.home, home_base(locations.home), [])}
    for descriptor in descriptors:
        for res in (descriptor.get("component") or {}).get("resources") or []:
            access = res.get("access") if isinstance(res, dict) else None
            reference = access.get("imageReference") if isinstance(access, dict) else None
            if not isinstance(reference, str) or "@" not in reference or res.get("relation") == "external":
                continue
            where = locations.locate(reference)
            if isinstance(where, str):
                raise SigningError(f"cannot sign {reference}: {where}",
                                   hint="give the registry options that reach it, or sign where it is")
            name, digest = where.rest.split("@", 1)
            repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
            base = home_base(where.target) if where.target is locations.home else where.target.name
            place = places.setdefault(where.target.name, (where.target, base, []))
            place[2].append(Subject(repository=repo, descriptor=where.target.resolve(repo, digest)))
    return [Place(target=t, base=b, subjects=tuple(s)) for t, b, s in places.values() if s]


def read_signatures(target: ReadOnlyTarget, repository: str, digest: str) -> SignatureImage | None:
    """The signature manifest of `repository@digest` on `target`, None when there is none.

    Raises `SigningError` when the tag holds something that is not a cosign signature manifest.
    """
    tag = signature_tag(digest)
    try:
        desc = target.resolve(repository, tag)
    except NotFound:
        return None
    data = read_small(target, repository, desc.bare(), _MAX_SIGNATURE_MANIFEST)
    try:
        return parse_signature_image(data)
    except ValueError as e:
        raise SigningError(f"{target.name}/{repository}:{tag} is not a cosign signature manifest: {e}",
                           hint="remove or repair that tag, then sign again") from e


def read_payloads(target: ReadOnlyTarget, repository: str, image: SignatureImage) -> dict[str, bytes]:
    """The payload blobs of a signature manifest's layers, by digest, each checked against its digest and bounded
    (a layer too large to be a payload is left out, so it cannot verify)."""
    return {layer.digest: read_small(target, repository, Descriptor(media_type=layer.media_type, digest=layer.digest,
                                                                    size=layer.size), _MAX_PAYLOAD)
            for layer in image.layers if layer.size <= _MAX_PAYLOAD}


def sign_images(target: ReadOnlyTarget, subjects: Sequence[Subject], signer: Signer, reference_base: str
                ) -> ImageSignatures:
    """Sign every subject with `signer`, merged with the signatures `target` holds; nothing is written here.

    The payload names `<reference_base>/<repository>` (verifiers check only the digest, so a copy elsewhere stays
    valid). RSASSA-PKCS1-v1_5 is deterministic: the same key gives the same signature, found and kept.
    """
    source = MemoryTarget()
    roots: list[CopyRoot] = []
    referrers: list[CopyRoot] = []
    unchanged = 0
    public_key = getattr(signer, "public_key", None)
    seen: set[tuple[str, str]] = set()
    api: dict[str, bool] = {}
    for subject in subjects:
        repo, digest = subject.repository, subject.descriptor.digest
        if (repo, digest) in seen:
            continue
        seen.add((repo, digest))
        payload = simple_signing_payload(f"{reference_base}/{repo}", digest)
        layer = signature_layer(payload, signer.sign(payload))
        try:
            existing = read_signatures(target, repo, digest)
            if repo not in api:
                api[repo] = serves_referrers_api(target, repo, subject.descriptor)
            referrer = referrer_image(layer, subject.descriptor) if api[repo] else None
            if referrer is not None and not target.exists(repo, referrer.descriptor):
                referrers.append(_stage(source, repo, None, referrer, payload))
        except TargetError as e:
            raise SigningError(f"cannot read the signatures of {target.name}/{repo}@{digest}: {e.message}",
                               hint=e.hint) from e
        merged = with_signature(existing, layer, public_key, payload)
        if merged is existing:
            unchanged += 1
            continue
        roots.append(_stage(source, repo, digest, merged, payload))
    return ImageSignatures(source=source, roots=tuple(roots), signed=len(roots), unchanged=unchanged,
                           referrers=tuple(referrers))


def _stage(source: MemoryTarget, repository: str, subject: str | None, image: SignatureImage, payload: bytes
           ) -> CopyRoot:
    """Put the payload, config and manifest of a signature image into `source`; returns its root, tagged with the
    `.sig` tag of `subject` (None: the referrer form, stored by digest). The payloads of signatures kept from the
    target stay there (copy from an `OverlaySource` of target and `source`)."""
    blobs = [(descriptor_for(payload, SIMPLE_SIGNING_MEDIA_TYPE), payload),
             (image.config, image.config_bytes())]
    for desc, data in blobs:
        if not source.exists(repository, desc):
            source.push(repository, desc, io.BytesIO(data))
    manifest = image.to_bytes()
    desc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    source.push(repository, desc, io.BytesIO(manifest))
    if subject is None:
        return CopyRoot(repository=repository, descriptor=desc)
    tag = signature_tag(subject)
    source.tag(repository, desc, tag)
    return CopyRoot(repository=repository, descriptor=desc, tags=(tag,), may_move=True)  # to a superset
