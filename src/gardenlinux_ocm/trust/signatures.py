"""The checks of verify() that signatures rest on: reference digests and signatures over the descriptor digest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import SigningError
from ..oci.model import Descriptor
from ..ocm.fetch import ComponentVersion
from ..ocm.normalise import NormalisationAlgorithm, descriptor_digest
from ..ocm.signing import verify_digest
from .model import TARGET_ERRORS, Check, CheckKind, _dict, _dicts, _message, _references, _short

if TYPE_CHECKING:
    from .locations import Location


def _fingerprint(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def has_digest(digest: object) -> bool:
    """Whether a `digest` field states one: OCM v2 writes `{hashAlgorithm: "", normalisationAlgorithm: "",
    value: ""}` where there is none, which reads as absent."""
    return isinstance(digest, dict) and any(str(digest.get(k) or "") for k in ("hashAlgorithm", "value"))


def descriptor_digest_matches(descriptor: Mapping[str, Any], digest: Mapping[str, Any]) -> tuple[bool, str]:
    """Recompute a descriptor digest as `digest` names it; jsonNormalisation/v1 is tried in both variants."""
    algo, hash_algo = str(digest.get("normalisationAlgorithm", "")), str(digest.get("hashAlgorithm", ""))
    want = str(digest.get("value", "")).lower()
    got = ""
    try:
        for legacy in (False, True) if algo == NormalisationAlgorithm.JSON_V1 else (False,):
            got = descriptor_digest(descriptor, algo, hash_algo, legacy_v1_extra_identity=legacy)
            if got == want:
                return True, f"{algo} {hash_algo} {want[:16]}… matches"
    except SigningError as e:
        return False, e.message
    return False, f"{algo} digest mismatch: recorded {want[:16]}…, computed {got[:16]}…"


class _SignatureChecks:
    """Reference-digest and signature checks of `verify._Verifier` (its base class; its `__init__` sets the state)."""

    checks: list[Check]
    loaded: dict[tuple[str, str], ComponentVersion | None]
    order: list[tuple[str, str]]
    images: list[tuple[Location, Descriptor, str, str]]  # every OCI manifest a resource names: where, what, label
    covered: set[str]  # manifest digests that are resource digests (ociArtifactDigest) of a descriptor, checked

    def add(self, kind: CheckKind, subject: str, ok: bool, detail: str, component: str,
            skipped: bool = False, *, warning: bool = False) -> None:
        self.checks.append(Check(kind=kind, subject=subject, ok=ok, detail=detail, component=component,
                                 skipped=skipped, warning=warning))

    # -- digests and signatures
    def check_reference_digests(self, required: bool) -> None:
        for key in self.order:
            for ref, child in _references(self.loaded[key]):
                subject, label = f"{_short(key[0])} -> {ref.get('name', '?')}", f"{key[0]}:{key[1]}"
                target = self.loaded.get(child)
                digest = ref.get("digest")
                if not has_digest(digest):
                    if required or digest is not None:  # absent, null, or OCM v2's empty {hashAlgorithm: "", …}
                        self.add(CheckKind.DIGEST, subject, True, f"no digest: the signature does not cover "
                                 f"{child[0]}:{child[1]}, only its name and version", label, warning=True)
                    continue
                assert isinstance(digest, dict)
                if target is None:
                    self.add(CheckKind.DIGEST, subject, False, "referenced component not readable", label)
                    continue
                ok, detail = descriptor_digest_matches(target.descriptor, digest)
                self.add(CheckKind.DIGEST, subject, ok, detail, label)

    def check_signatures(self, name: str, version: str, keys: Sequence[tuple[str | None, rsa.RSAPublicKey]],
                         names: Sequence[str]) -> None:
        cv, label = self.loaded.get((name, version)), f"{name}:{version}"
        if cv is None:
            return
        sigs = _dicts(cv.descriptor.get("signatures"))
        if not keys and not names:
            if sigs:
                listed = ", ".join(str(s.get("name")) for s in sigs)
                self.add(CheckKind.SIGNATURE, listed, True, "not checked: pass --public-key", label, True)
            return
        broken = [c for c in self.checks if not c.ok and c.kind in (CheckKind.DIGEST, CheckKind.REFERENCE,
                                                                    CheckKind.COMPONENT)]
        chain = f"; but the reference chain is broken ({len(broken)} failed check(s) above)" if broken else ""
        for sig_name, key in keys:
            subject = f"{sig_name or '*'} (key {_fingerprint(key)})"
            candidates = [s for s in sigs if sig_name is None or s.get("name") == sig_name]
            if not candidates:
                self.add(CheckKind.SIGNATURE, subject, False, f"no signature named {sig_name}" if sig_name else
                         "the descriptor carries no signatures", label)
                continue
            results = [self._signature(cv.descriptor, s, key) for s in candidates]
            good = [f"{s.get('name')}: {d}" for s, (ok, d) in zip(candidates, results, strict=True) if ok]
            detail = "; ".join(good) if good else "; ".join(f"{s.get('name')}: {d}" for s, (_, d) in
                                                             zip(candidates, results, strict=True))
            self.add(CheckKind.SIGNATURE, subject, bool(good) and not broken, detail + chain, label)
        for sig_name in [n for n in names if n not in {k for k, _ in keys}]:
            sig = next((s for s in sigs if s.get("name") == sig_name), None)
            if sig is None:
                self.add(CheckKind.SIGNATURE, sig_name, False, f"no signature named {sig_name}", label)
                continue
            ok, detail = descriptor_digest_matches(cv.descriptor, _dict(sig.get("digest")))
            self.add(CheckKind.SIGNATURE, sig_name, ok and not broken,
                     f"{detail} (no key: authenticity not checked){chain}", label)

    def check_image_signatures(self, keys: Sequence[rsa.RSAPublicKey]) -> None:
        """The cosign-format signature (`sha256-<hex>.sig`) of every OCI manifest a resource names, with each key:
        one check per manifest and key, naming unsigned and wrongly signed manifests."""
        from .cosign import SignatureCheck, check_signature, signature_tag
        from .image_signing import read_payloads, read_signatures

        seen: set[tuple[str, str, str]] = set()
        rows: list[tuple[str, str, str, bool, list[tuple[bool, str]]]] = []  # target, subject, label, absent, results
        for where, desc, subject, label in self.images:
            target, repo = where.target, where.rest
            if (target.name, repo, desc.digest) in seen or not keys:
                continue
            seen.add((target.name, repo, desc.digest))
            absent = False
            try:
                image = read_signatures(target, repo, desc.digest)
                payloads = read_payloads(target, repo, image) if image is not None else {}
            except SigningError as e:  # the tag holds something else than a signature manifest
                malformed = SignatureCheck.malformed(desc.digest, str(e.__cause__ or e.message))
                results = [(False, malformed.detail)] * len(keys)
            except TARGET_ERRORS as e:
                results = [(False, f"signature manifest {signature_tag(desc.digest)} unreadable: {_message(e)}")] \
                    * len(keys)
            else:
                absent = image is None and desc.digest in self.covered
                checks = [check_signature(desc.digest, image, payloads, key) for key in keys]
                results = [(c.ok, c.detail) for c in checks]
            rows.append((target.name, subject, label, absent, results))
        uncarried = self._uncarried(rows)
        for name, subject, label, absent, results in rows:
            for key, (ok, detail) in zip(keys, results, strict=True):
                if absent and name in uncarried:
                    self.add(CheckKind.SIGNATURE, f"{subject} (key {_fingerprint(key)})", True,
                             f"cosign: {detail}; not carried: this target holds no cosign-format signatures (a copy "
                             "by a tool that does not carry .sig tags), and the manifest digest is covered by the "
                             "verified OCM signature", label, warning=True)
                else:
                    self.add(CheckKind.SIGNATURE, f"{subject} (key {_fingerprint(key)})", ok, f"cosign: {detail}",
                             label)

    def _uncarried(self, rows: list[tuple[str, str, str, bool, list[tuple[bool, str]]]]) -> set[str]:
        """The targets that hold no cosign-format signature at all, for a release whose OCM signature verified: a
        copy by a tool that does not carry `.sig` tags (`ocm transfer`). Each manifest's digest is still covered by
        the verified OCM signature, so its missing signature is a warning there, not a failure. A target where one
        row is anything else (a signature present, unreadable, or a manifest no descriptor covers) is not one."""
        if not any(c.kind is CheckKind.SIGNATURE and c.ok and not c.skipped for c in self.checks):
            return set()  # (called before the cosign rows are added: these are the OCM signature checks)
        names = {name for name, *_ in rows}
        return names - {name for name, _, _, absent, _ in rows if not absent}

    @staticmethod
    def _signature(descriptor: Mapping[str, Any], sig: Mapping[str, Any], key: rsa.RSAPublicKey) -> tuple[bool, str]:
        digest = _dict(sig.get("digest"))
        ok, detail = descriptor_digest_matches(descriptor, digest)
        if not ok:
            return False, detail
        try:
            valid = verify_digest(key, str(digest.get("value", "")).lower(), _dict(sig.get("signature")))
        except SigningError as e:
            return False, e.message
        algorithm = _dict(sig.get("signature")).get("algorithm")
        return valid, f"{algorithm} signature valid over {detail}" if valid else f"{algorithm} signature invalid"
