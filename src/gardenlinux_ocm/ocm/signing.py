"""Sign and verify OCM descriptor digests with RSA keys, in the forms OCM Go writes and reads.

RSA signs the raw digest bytes (the hex digest decoded), pre-hashed with the digest's own hash, and stores the
signature as lower-case hex: RSASSA-PKCS1-V1_5 (`application/vnd.ocm.signature.rsa`, the OCM v1 CLI default) or
RSASSA-PSS (`application/vnd.ocm.signature.rsa.pss`, the OCM2 default). Key files are read here; nothing touches the
network. Sources: open-component-model/ocm `api/tech/signing/handlers/rsa/handler.go`,
`api/tech/signing/signutils/signature.go`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gardenlinux_ocm.errors import SigningError
from gardenlinux_ocm.ocm.algorithms import SignatureAlgorithm, SignatureMediaType
from gardenlinux_ocm.ocm.normalise import NormalisationAlgorithm

__all__ = [
    "SignatureAlgorithm",
    "SignatureMediaType",
    "load_private_key",
    "load_public_key",
    "sign_digest",
    "verify_digest",
    "signature_entry",
]


_PEM_LABEL_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_SIGNATURE_RE = re.compile(r"-----BEGIN SIGNATURE-----\r?\n(.*?)-----END SIGNATURE-----", re.DOTALL)
_KEY_HINT = "give a PEM file with an RSA key (PKCS#1 or PKCS#8) or, for verification, an X.509 certificate"
_PUBLIC_HINT = "verify with the public key or certificate; write the public key with `openssl pkey -in KEY -pubout`"


def load_private_key(path: Path, password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Read an RSA private key from a PEM file (PKCS#1 or PKCS#8, optionally encrypted with `password`)."""
    data = _read(path)
    labels = _pem_labels(data, path)
    if not any(label.endswith(b"PRIVATE KEY") for label in labels):
        found = " or ".join(label.decode() for label in labels)
        raise SigningError(f"{path} holds a {found}, not a private key", hint="sign with the private key file")
    encrypted = b"ENCRYPTED" in data
    if encrypted and password is None:
        raise SigningError(
            f"private key {path} is encrypted and no password was given: on the command line pass a file holding "
            "it with --key-password-file (or GL_OCM_KEY_PASSWORD_FILE); from Python pass `password`",
            hint="or decrypt the key once: `openssl pkey -in KEY -out PLAIN`",
        )
    try:
        key = serialization.load_pem_private_key(data, password=password if encrypted else None)
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise SigningError(
                f"cannot decrypt private key {path}: wrong password",
                hint="the file given to --key-password-file holds just the password (a trailing newline is dropped)",
            ) from None
        raise SigningError(f"{path} is not a readable PEM private key", hint=_KEY_HINT) from exc
    except UnsupportedAlgorithm as exc:
        raise SigningError(f"private key {path} uses an unsupported algorithm; only RSA keys are supported") from exc
    return _rsa_private(key, path)


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """Read an RSA public key from a PEM public key or an X.509 certificate.

    A private key is refused: verifying needs only the public half, and a private key passed where a public key
    belongs is usually a mistake with a secret.
    """
    data = _read(path)
    labels = _pem_labels(data, path)
    try:
        if b"CERTIFICATE" in labels:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        elif b"PUBLIC KEY" in labels or b"RSA PUBLIC KEY" in labels:
            key = serialization.load_pem_public_key(data)
        elif any(label.endswith(b"PRIVATE KEY") for label in labels):
            kind = "an encrypted private key" if b"ENCRYPTED" in data else "a private key"
            raise SigningError(f"{path} holds {kind}, not a public key or certificate", hint=_PUBLIC_HINT)
        else:
            found = " or ".join(label.decode() for label in labels)
            raise SigningError(f"{path} holds a {found}, not a public key or certificate", hint=_KEY_HINT)
    except ValueError as exc:
        raise SigningError(f"{path} is not a readable PEM public key or certificate", hint=_KEY_HINT) from exc
    except UnsupportedAlgorithm as exc:
        raise SigningError(f"public key {path} uses an unsupported algorithm; only RSA keys are supported") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SigningError(f"{path} holds a {_kind(key)} key; only RSA keys are supported", hint=_KEY_HINT)
    return key


def sign_digest(private_key: rsa.RSAPrivateKey, digest_hex: str, algorithm: SignatureAlgorithm | str) -> dict[str, str]:
    """Sign a hex descriptor digest and return the OCM `signature.signature` object (value in lower-case hex)."""
    algo = _signature_algorithm(algorithm)
    digest, hash_algorithm = _digest(digest_hex)
    signature = private_key.sign(digest, _padding(algo, hash_algorithm, signing=True), Prehashed(hash_algorithm))
    return {"algorithm": algo.value, "mediaType": algo.media_type.value, "value": signature.hex()}


def signature_from(raw: bytes, algorithm: SignatureAlgorithm | str) -> dict[str, str]:
    """The OCM `signature.signature` object of a signature made elsewhere (an external signer): lower-case hex."""
    algo = _signature_algorithm(algorithm)
    return {"algorithm": algo.value, "mediaType": algo.media_type.value, "value": raw.hex()}


def verify_digest(
    public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey, digest_hex: str, signature: Mapping[str, Any]
) -> bool:
    """Check an OCM `signature.signature` object against a hex digest; False when the signature does not match.

    Accepts hex values and the `application/x-pem-file` form (a PEM `SIGNATURE` block); certificate chains in the PEM
    form are not validated here.
    """
    key = public_key.public_key() if isinstance(public_key, rsa.RSAPrivateKey) else public_key
    algo = _signature_algorithm(str(signature.get("algorithm", "")))
    media_type = str(signature.get("mediaType", ""))
    value = str(signature.get("value", ""))
    digest, hash_algorithm = _digest(digest_hex)
    if media_type in (SignatureMediaType.RSA, SignatureMediaType.RSA_PSS):
        try:
            signature_bytes = bytes.fromhex(value)
        except ValueError:
            return False
    elif media_type == SignatureMediaType.PEM:
        pem_signature = _pem_signature(value, algo)
        if pem_signature is None:
            return False
        signature_bytes = pem_signature
    else:
        supported = ", ".join(m.value for m in SignatureMediaType)
        raise SigningError(f"unsupported signature media type {media_type!r}", hint=f"supported: {supported}")
    try:
        key.verify(signature_bytes, digest, _padding(algo, hash_algorithm, signing=False), Prehashed(hash_algorithm))
    except InvalidSignature:
        return False
    return True


def signature_entry(
    name: str,
    digest_hex: str,
    normalisation: NormalisationAlgorithm | str,
    sig: Mapping[str, str],
    *,
    hash_algorithm: str = "SHA-256",
) -> dict[str, Any]:
    """Build one `signatures[]` item of a component descriptor from a digest and a `sign_digest` result."""
    try:
        algo = NormalisationAlgorithm(normalisation)
    except ValueError:
        supported = ", ".join(a.value for a in NormalisationAlgorithm)
        raise SigningError(
            f"unsupported normalisation algorithm {normalisation!r}", hint=f"use one of: {supported}"
        ) from None
    return {
        "name": name,
        "digest": {"hashAlgorithm": hash_algorithm, "normalisationAlgorithm": algo.value, "value": digest_hex},
        "signature": dict(sig),
    }


def _read(path: Path) -> bytes:
    """Read a key file, turning I/O errors into a `SigningError` that names the file."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key file {path}: {exc.strerror or exc}") from exc


def _pem_labels(data: bytes, path: Path) -> list[bytes]:
    """Return the PEM block labels in a file, or fail when it is not PEM."""
    labels = _PEM_LABEL_RE.findall(data)
    if not labels:
        raise SigningError(f"{path} is not a PEM file: no '-----BEGIN ...-----' line found", hint=_KEY_HINT)
    return labels


def _rsa_private(key: Any, path: Path) -> rsa.RSAPrivateKey:
    """Accept only RSA private keys."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError(f"{path} holds a {_kind(key)} private key; only RSA keys are supported", hint=_KEY_HINT)
    return key


def _kind(key: Any) -> str:
    """Name a key's type for messages (EC, Ed25519, DSA, ...) without showing key material."""
    kinds: tuple[tuple[tuple[type, ...], str], ...] = (
        ((ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey), "EC"),
        ((ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey), "Ed25519"),
        ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), "Ed448"),
        ((dsa.DSAPrivateKey, dsa.DSAPublicKey), "DSA"),
    )
    for types, name in kinds:
        if isinstance(key, types):
            return name
    return type(key).__name__


def _signature_algorithm(algorithm: str) -> SignatureAlgorithm:
    """Map a wire name to the enum, or fail with the list of supported names."""
    try:
        return SignatureAlgorithm(algorithm)
    except ValueError:
        supported = ", ".join(a.value for a in SignatureAlgorithm)
        raise SigningError(f"unsupported signature algorithm {algorithm!r}", hint=f"use one of: {supported}") from None


def _digest(digest_hex: str) -> tuple[bytes, hashes.HashAlgorithm]:
    """Decode a hex digest and pick its hash by length (SHA-256 or SHA-512)."""
    try:
        digest = bytes.fromhex(digest_hex)
    except ValueError:
        raise SigningError(f"digest {digest_hex!r} is not hex") from None
    if len(digest) == 32:
        return digest, hashes.SHA256()
    if len(digest) == 64:
        return digest, hashes.SHA512()
    raise SigningError(f"digest {digest_hex!r} is neither SHA-256 nor SHA-512 (expected 64 or 128 hex digits)")


def _padding(
    algo: SignatureAlgorithm, hash_algorithm: hashes.HashAlgorithm, *, signing: bool
) -> padding.AsymmetricPadding:
    """PKCS#1 v1.5, or PSS with MGF1 over the same hash: salt = hash length to sign, auto-detected to verify."""
    if algo is SignatureAlgorithm.RSASSA_PKCS1_V1_5:
        return padding.PKCS1v15()
    return padding.PSS(
        mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.DIGEST_LENGTH if signing else padding.PSS.AUTO
    )


def _pem_signature(value: str, algo: SignatureAlgorithm) -> bytes | None:
    """Extract the signature bytes from a PEM `SIGNATURE` block; None when absent, mislabelled or not base64."""
    match = _PEM_SIGNATURE_RE.search(value)
    if match is None:
        return None
    content = match.group(1).replace("\r\n", "\n")
    headers, _, body = content.partition("\n\n") if "\n\n" in content else ("", "", content)
    for line in headers.splitlines():
        name, _, header_value = line.partition(":")
        if name.strip() == "Signature Algorithm" and header_value.strip() not in ("", algo.value):
            return None  # the block names another algorithm than the descriptor: it cannot be this signature
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except binascii.Error:
        return None
