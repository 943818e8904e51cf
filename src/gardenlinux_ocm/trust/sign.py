"""Sign component versions as the OCM CLI does: reference digests first, then `jsonNormalisation/v3` + SHA-256 + RSA.

`sign_descriptors` is pure apart from the key. `sign_plan` signs a release plan before it is published
(`publish --sign-key`); `sign_published` signs what a target already holds and writes the signed component versions
back through `copy()`, so ordering (blobs, manifest, tag last) and idempotence live in one place. It verifies first
(sizes included, as `gl-ocm verify` does without `--deep`) and refuses with `NotVerified` before writing anything.
"""

from __future__ import annotations

import copy as _copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import PlanError, SigningError, VerificationError
from ..oci.copy import CopyRoot, CopyStats, Event, copy
from ..oci.copy.changes import OnChange
from ..oci.memory import MemoryTarget
from ..oci.target import ReadOnlyTarget, Target
from ..ocm.algorithms import DEFAULT_SIGNATURE_NAME
from ..ocm.fetch import referenced_first
from ..ocm.normalise import NormalisationAlgorithm, descriptor_digest
from ..ocm.rebase import repack, stage
from ..ocm.signing import SignatureAlgorithm, sign_digest, signature_entry, signature_from
from ..plan.build import pack_plan
from ..plan.model import ReleasePlan
from .model import VerifyReport
from .signer import DigestSigner, KeySigner, Signer
from .verify import descriptor_digest_matches, verify

__all__ = ["DEFAULT_SIGNATURE_NAME", "NotVerified", "SignedComponent", "SignResult", "sign_descriptors", "sign_plan",
           "sign_published"]

_NORMALISATION = NormalisationAlgorithm.JSON_V3
_HASH = "SHA-256"
Lookup = Callable[[str, str], Mapping[str, Any] | None]
_LISTED = 10  # failures named in the message; the report carries all of them


class NotVerified(VerificationError):
    """`sign_published` refused: the component version does not verify. `report` holds every check."""

    def __init__(self, report: VerifyReport) -> None:
        failures = report.failures
        lines = [f"{c.kind.value} {c.subject}: {c.detail}" for c in failures[:_LISTED]]
        if len(failures) > _LISTED:
            lines.append(f"... and {len(failures) - _LISTED} more")
        subject = f"{report.component}:{report.version}" if report.version else report.component
        super().__init__(
            f"{subject} on {report.target} does not verify, so it is not signed (nothing was written); "
            f"{len(failures)} failed check(s):\n  " + "\n  ".join(lines),
            hint=f"`gl-ocm verify {report.target} {subject}` shows every check; repair or publish again, then sign")
        self.report = report


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignedComponent:
    name: str
    version: str
    reference: str  # repository:tag
    before: str  # manifest digest before signing
    after: str  # manifest digest after signing (equal when nothing changed)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignResult:
    target: str
    signature_name: str
    components: tuple[SignedComponent, ...]  # referenced ones first, the signed root last
    stats: CopyStats
    images_signed: int = 0  # OCI manifests that got this key's cosign-format signature
    images_already_signed: int = 0


def _key(descriptor: Mapping[str, Any]) -> tuple[str, str]:
    comp = descriptor.get("component") or {}
    return str(comp.get("name", "")), str(comp.get("version", ""))


def _reference_digest(parent: tuple[str, str], ref: dict[str, Any], child: Mapping[str, Any],
                      other_signatures: list[str]) -> Any:
    """The digest to record for a reference: the current one when it still matches, else a fresh v3 digest."""
    fresh = {"hashAlgorithm": _HASH, "normalisationAlgorithm": _NORMALISATION.value,
             "value": descriptor_digest(child, _NORMALISATION, _HASH)}
    old = ref.get("digest")
    if not isinstance(old, dict) or old == fresh:
        return fresh
    if descriptor_digest_matches(child, old)[0]:
        return old  # still right (maybe in another normalisation): keeps the other signatures valid
    if other_signatures:
        raise SigningError(
            f"cannot sign {parent[0]}:{parent[1]}: the referenced {ref.get('componentName')}:{ref.get('version')} "
            f"changed since the signatures {', '.join(other_signatures)} were made",
            hint="verify the release; publish it again (or drop the old signatures) before signing")
    return fresh


def _sign(key: rsa.RSAPrivateKey | DigestSigner, digest_hex: str, algorithm: SignatureAlgorithm | str
          ) -> dict[str, str]:
    """Sign a descriptor digest with a key in this process, or with an external signer (RSASSA-PKCS1-V1_5 only:
    the signer gets the SHA-256 digest)."""
    if isinstance(key, KeySigner):
        key = key.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        return sign_digest(key, digest_hex, algorithm)
    if SignatureAlgorithm(algorithm) is not SignatureAlgorithm.RSASSA_PKCS1_V1_5:
        raise SigningError(f"{key.name} signs RSASSA-PKCS1-V1_5 only, not {algorithm}",
                           hint="leave --sign-algorithm at its default with an external signer")
    return signature_from(key.sign_digest(bytes.fromhex(digest_hex)), algorithm)


def sign_descriptors(descriptors: Sequence[Mapping[str, Any]], private_key: rsa.RSAPrivateKey | DigestSigner, *,
                     algorithm: SignatureAlgorithm | str = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
                     name: str = DEFAULT_SIGNATURE_NAME, lookup: Lookup | None = None) -> list[dict[str, Any]]:
    """Sign each descriptor (referenced components first); returns new descriptors, the inputs stay unchanged.

    Fills `componentReferences[].digest` (SHA-256, jsonNormalisation/v3) from the descriptors signed before it, or
    from `lookup(name, version)` for components not in the list; a signature with the same name is replaced, the
    others are kept.
    """
    if not name:
        raise SigningError("the signature name is empty", hint="pass a name such as 'gardenlinux'")
    keys = [_key(d) for d in descriptors]
    done: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for position, original in enumerate(descriptors):
        descriptor = _copy.deepcopy(dict(original))
        key = keys[position]
        comp = descriptor.get("component")
        if not isinstance(comp, dict):
            raise SigningError(f"descriptor #{position + 1} has no 'component' mapping")
        signatures = [s for s in descriptor.get("signatures") or [] if isinstance(s, dict)]
        others = [str(s.get("name")) for s in signatures if s.get("name") != name]
        for ref in comp.get("componentReferences") or []:
            child_key = (str(ref.get("componentName", "")), str(ref.get("version", "")))
            child = done.get(child_key) or (lookup(*child_key) if lookup and child_key not in keys else None)
            if child is None:
                later = child_key in keys[position:]
                raise SigningError(
                    f"cannot sign {key[0]}:{key[1]}: the referenced {child_key[0]}:{child_key[1]} is "
                    + ("listed after it" if later else "not available"),
                    hint="pass referenced component descriptors first" if later else
                    "pass every referenced component descriptor, or a lookup that finds it")
            ref["digest"] = _reference_digest(key, ref, child, others)
        digest_hex = descriptor_digest(descriptor, _NORMALISATION, _HASH)
        entry = signature_entry(name, digest_hex, _NORMALISATION, _sign(private_key, digest_hex, algorithm),
                                hash_algorithm=_HASH)
        same = [i for i, s in enumerate(signatures) if s.get("name") == name]
        if same:
            signatures[same[0]] = entry
            signatures = [s for i, s in enumerate(signatures) if i not in same[1:]]
        else:
            signatures.append(entry)
        descriptor["signatures"] = signatures
        done[key] = descriptor
        out.append(descriptor)
    return out


def sign_plan(plan: ReleasePlan, private_key: rsa.RSAPrivateKey | DigestSigner, *,
              algorithm: SignatureAlgorithm | str = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
              name: str = DEFAULT_SIGNATURE_NAME) -> ReleasePlan:
    """The same plan with every component version signed (for `publish --sign-key`); the OCI part is unchanged."""
    signed = sign_descriptors([c.descriptor for c in plan.components], private_key, algorithm=algorithm, name=name)
    blob_sizes = {d.digest: d.size for c in plan.components for d in c.local_blobs}
    return pack_plan(plan.version, plan.contents, plan.roots, signed, blob_sizes)


def _sign_images(target: Target, descriptors: Sequence[Mapping[str, Any]], signer: Signer, jobs: int,
                 on_event: Callable[[Event], None] | None, open_registry: Callable[[str], ReadOnlyTarget] | None
                 ) -> tuple[CopyStats, tuple[int, int]]:
    """Cosign-format signatures of every manifest the descriptors name, wherever it is: all made (and merged with
    what each target holds) before the first write, then stored target by target."""
    from ..oci.memory import OverlaySource
    from .image_signing import published_subjects, sign_images
    from .locations import Locations

    locations = Locations(target, open_registry=open_registry)
    try:
        places = published_subjects(locations, descriptors)
        signed = [(p.target, sign_images(p.target, p.subjects, signer, p.base)) for p in places]
        for where, _ in signed:
            if not isinstance(where, Target):
                raise SigningError(f"cannot write the signatures to {where.name}: it is read-only")
        stats, counts = CopyStats(), (0, 0)
        for where, signatures in signed:
            assert isinstance(where, Target)
            counts = (counts[0] + signatures.signed, counts[1] + signatures.unchanged)
            stats += copy(OverlaySource(where, signatures.source), where,
                          [*signatures.roots, *signatures.referrers], jobs=jobs, on_event=on_event,
                          on_change=OnChange.OVERWRITE)  # a .sig tag moves to a superset; referrers by digest
        return stats, counts
    finally:
        locations.close()


def sign_published(target: Target, component: str, version: str, private_key: rsa.RSAPrivateKey | DigestSigner, *,
                   algorithm: SignatureAlgorithm | str = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
                   name: str = DEFAULT_SIGNATURE_NAME, jobs: int = 4,
                   on_event: Callable[[Event], None] | None = None,
                   open_registry: Callable[[str], ReadOnlyTarget] | None = None, images: bool = True) -> SignResult:
    """Sign a published component version and its references in place: verify, sign, re-pack, copy, re-tag.

    With `images`, every OCI manifest and index their resources name on `target` also gets a cosign-format
    signature (`trust.image_signing`), before the component versions are re-tagged. Refuses with `NotVerified`,
    before writing anything, what does not verify (a missing or truncated blob, a corrupt manifest, a wrong digest),
    so a signature never vouches for it.
    """
    report = verify(target, component, version, open_registry=open_registry)
    if not report.ok:
        raise NotVerified(report)
    order = referenced_first(target, [(component, version)])
    signed = sign_descriptors([cv.descriptor for cv in order], private_key, algorithm=algorithm, name=name)
    image_stats, counts = CopyStats(), (0, 0)
    if images:
        signer = KeySigner(private_key) if isinstance(private_key, rsa.RSAPrivateKey) else private_key
        image_stats, counts = _sign_images(target, [cv.descriptor for cv in order], signer, jobs, on_event,
                                           open_registry)
    source = MemoryTarget()
    roots: list[CopyRoot] = []
    done: list[SignedComponent] = []
    for cv, descriptor in zip(order, signed, strict=True):
        try:
            packed = repack(cv, descriptor)
        except PlanError as e:
            raise SigningError(e.message, hint=e.hint) from e
        roots.append(stage(source, packed))
        done.append(SignedComponent(name=packed.name, version=packed.version,
                                    reference=f"{packed.repository}:{packed.tag}",
                                    before=cv.manifest_descriptor.digest, after=packed.manifest_descriptor.digest))
    stats = copy(source, target, roots, jobs=jobs, on_event=on_event, on_change=OnChange.OVERWRITE)  # re-tags
    return SignResult(target=target.name, signature_name=name, components=tuple(done), stats=image_stats + stats,
                      images_signed=counts[0], images_already_signed=counts[1])
