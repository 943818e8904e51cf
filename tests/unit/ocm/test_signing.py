"""Signing tests: the OCM Go RSA fixture byte for byte, key loading errors, and round trips with fresh keys."""

from __future__ import annotations

import base64
import copy
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from gardenlinux_ocm.errors import SigningError
from gardenlinux_ocm.ocm.normalise import descriptor_digest
from gardenlinux_ocm.ocm.signing import (
    SignatureAlgorithm,
    load_private_key,
    load_public_key,
    sign_digest,
    signature_entry,
    verify_digest,
)
from support.release import DATA

FIXTURE = DATA / "ocm" / "signing" / "ocm-go-compat-rsa-pkcs1v15"
DIGEST = "b06e4c1a68274b876661f9fbf1f100526d289745f6ee847bfef702007b5b14cf"


def _fixture_descriptor() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (FIXTURE / "component-archive" / "component-descriptor.yaml").read_text(encoding="utf-8")
    )
    return loaded


def _fixture_digest(descriptor: dict[str, Any]) -> str:
    return descriptor_digest(descriptor, "jsonNormalisation/v1", "sha256", legacy_v1_extra_identity=True)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


def _private_pem(key: Any, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, fmt, encryption)
    return pem


def _public_pem(key: Any, fmt: serialization.PublicFormat = serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    pem: bytes = key.public_key().public_bytes(serialization.Encoding.PEM, fmt)
    return pem


def _certificate_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gardenlinux-ocm test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# --- the OCM Go fixture -------------------------------------------------------------------------------------------


def test_fixture_digest_is_reproduced() -> None:
    descriptor = _fixture_descriptor()
    assert _fixture_digest(descriptor) == descriptor["signatures"][0]["digest"]["value"] == DIGEST


def test_fixture_signature_verifies_with_its_public_key() -> None:
    descriptor = _fixture_descriptor()
    public_key = load_public_key(FIXTURE / "rsa.pub")
    signature = descriptor["signatures"][0]["signature"]
    assert verify_digest(public_key, _fixture_digest(descriptor), signature) is True


def test_tampered_fixture_fails_verification() -> None:
    descriptor = _fixture_descriptor()
    tampered = copy.deepcopy(descriptor)
    tampered["component"]["resources"][0]["version"] = "1.0.1"
    digest = _fixture_digest(tampered)
    assert digest != DIGEST
    public_key = load_public_key(FIXTURE / "rsa.pub")
    assert verify_digest(public_key, digest, descriptor["signatures"][0]["signature"]) is False


def test_flipped_signature_byte_fails_verification() -> None:
    signature = dict(_fixture_descriptor()["signatures"][0]["signature"])
    value = bytearray(bytes.fromhex(signature["value"]))
    value[10] ^= 0x01
    signature["value"] = value.hex()
    assert verify_digest(load_public_key(FIXTURE / "rsa.pub"), DIGEST, signature) is False


def test_resigning_the_fixture_reproduces_the_stored_signature() -> None:
    descriptor = _fixture_descriptor()
    stored = descriptor["signatures"][0]
    private_key = load_private_key(FIXTURE / "rsa.priv.TEST-KEY-PUBLIC-FIXTURE")  # publicly published test key
    sig = sign_digest(private_key, DIGEST, SignatureAlgorithm.RSASSA_PKCS1_V1_5)
    assert sig == stored["signature"]
    entry = signature_entry("test", DIGEST, "jsonNormalisation/v1", sig, hash_algorithm="sha256")
    assert entry == stored


# --- round trips --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm))
@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8], ids=["pkcs1", "pkcs8"]
)
def test_sign_and_verify_round_trip(
    rsa_key: rsa.RSAPrivateKey,
    write: Callable[[str, bytes], Path],
    algorithm: SignatureAlgorithm,
    fmt: serialization.PrivateFormat,
) -> None:
    private_key = load_private_key(write("key.pem", _private_pem(rsa_key, fmt)))
    public_key = load_public_key(write("key.pub", _public_pem(rsa_key)))
    digest = descriptor_digest(_fixture_descriptor())
    sig = sign_digest(private_key, digest, algorithm)
    assert sig["algorithm"] == algorithm.value
    assert sig["mediaType"] == algorithm.media_type.value
    assert sig["value"] == sig["value"].lower()
    assert len(bytes.fromhex(sig["value"])) == 256
    assert verify_digest(public_key, digest, sig) is True
    other = descriptor_digest(_fixture_descriptor(), "jsonNormalisation/v2")
    assert verify_digest(public_key, other[:-1] + ("0" if other[-1] != "0" else "1"), sig) is False


def test_media_types() -> None:
    assert SignatureAlgorithm.RSASSA_PKCS1_V1_5.media_type == "application/vnd.ocm.signature.rsa"
    assert SignatureAlgorithm.RSASSA_PSS.media_type == "application/vnd.ocm.signature.rsa.pss"


def test_sha512_digest_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    digest = descriptor_digest(_fixture_descriptor(), hash_algorithm="SHA-512")
    for algorithm in SignatureAlgorithm:
        assert verify_digest(rsa_key.public_key(), digest, sign_digest(rsa_key, digest, algorithm)) is True


def test_pss_with_other_salt_lengths_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    # cc-utils signs with PSS.MAX_LENGTH; Go verifies with auto-detected salt, and so do we.
    raw = rsa_key.sign(
        bytes.fromhex(DIGEST),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        Prehashed(hashes.SHA256()),
    )
    sig = {"algorithm": "RSASSA-PSS", "mediaType": "application/vnd.ocm.signature.rsa.pss", "value": raw.hex()}
    assert verify_digest(rsa_key.public_key(), DIGEST, sig) is True


def test_pem_signature_form(rsa_key: rsa.RSAPrivateKey) -> None:
    raw = bytes.fromhex(sign_digest(rsa_key, DIGEST, SignatureAlgorithm.RSASSA_PSS)["value"])
    body = base64.encodebytes(raw).decode()
    pem = f"-----BEGIN SIGNATURE-----\nSignature Algorithm: RSASSA-PSS\n\n{body}-----END SIGNATURE-----\n"
    pem += _certificate_pem(rsa_key).decode()
    sig = {"algorithm": "RSASSA-PSS", "mediaType": "application/x-pem-file", "value": pem}
    assert verify_digest(rsa_key.public_key(), DIGEST, sig) is True
    mislabelled = {
        **sig,
        "value": pem.replace("Signature Algorithm: RSASSA-PSS", "Signature Algorithm: RSASSA-PKCS1-V1_5"),
    }
    assert verify_digest(rsa_key.public_key(), DIGEST, mislabelled) is False
    assert verify_digest(rsa_key.public_key(), DIGEST, {**sig, "value": "no pem here"}) is False


def test_verify_with_the_wrong_key_is_false(rsa_key: rsa.RSAPrivateKey) -> None:
    sig = sign_digest(rsa_key, DIGEST, SignatureAlgorithm.RSASSA_PKCS1_V1_5)
    assert verify_digest(load_public_key(FIXTURE / "rsa.pub"), DIGEST, sig) is False


def test_verify_rejects_unknown_algorithm_and_media_type(rsa_key: rsa.RSAPrivateKey) -> None:
    sig = sign_digest(rsa_key, DIGEST, SignatureAlgorithm.RSASSA_PKCS1_V1_5)
    with pytest.raises(SigningError, match="sigstore"):
        verify_digest(rsa_key.public_key(), DIGEST, {**sig, "algorithm": "sigstore"})
    with pytest.raises(SigningError, match="application/octet-stream"):
        verify_digest(rsa_key.public_key(), DIGEST, {**sig, "mediaType": "application/octet-stream"})


def test_sign_rejects_bad_digests_and_algorithms(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SigningError, match="not hex"):
        sign_digest(rsa_key, "xyz", SignatureAlgorithm.RSASSA_PSS)
    with pytest.raises(SigningError, match="SHA-256"):
        sign_digest(rsa_key, "abcd", SignatureAlgorithm.RSASSA_PSS)
    with pytest.raises(SigningError, match="RSASSA-PSS"):
        sign_digest(rsa_key, DIGEST, "ECDSA")


def test_signature_entry_rejects_unknown_normalisation() -> None:
    with pytest.raises(SigningError, match="jsonNormalisation/v3"):
        signature_entry("x", DIGEST, "ociArtifactDigest/v1", {"algorithm": "a", "mediaType": "m", "value": "v"})


# --- key loading --------------------------------------------------------------------------------------------------


def test_public_key_from_certificate(rsa_key: rsa.RSAPrivateKey, write: Callable[[str, bytes], Path]) -> None:
    public_key = load_public_key(write("cert.pem", _certificate_pem(rsa_key)))
    sig = sign_digest(rsa_key, DIGEST, SignatureAlgorithm.RSASSA_PKCS1_V1_5)
    assert verify_digest(public_key, DIGEST, sig) is True


def test_public_key_from_pkcs1_public_file(rsa_key: rsa.RSAPrivateKey, write: Callable[[str, bytes], Path]) -> None:
    pkcs1 = load_public_key(write("rsa.pub", _public_pem(rsa_key, serialization.PublicFormat.PKCS1)))
    assert pkcs1.public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_private_key_where_a_public_key_is_needed(
    rsa_key: rsa.RSAPrivateKey, write: Callable[[str, bytes], Path], fmt: serialization.PrivateFormat
) -> None:
    path = write("key.pem", _private_pem(rsa_key, fmt))
    with pytest.raises(SigningError, match="holds a private key, not a public key or certificate") as info:
        load_public_key(path)
    assert str(path) in info.value.message
    assert info.value.hint is not None and "openssl pkey -in KEY -pubout" in info.value.hint


@pytest.mark.parametrize(
    "make_key",
    [lambda: ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate],
    ids=["ec", "ed25519"],
)
def test_non_rsa_keys_are_rejected(make_key: Callable[[], Any], write: Callable[[str, bytes], Path]) -> None:
    key = make_key()
    private_path = write("key.pem", _private_pem(key, serialization.PrivateFormat.PKCS8))
    public_path = write("key.pub", _public_pem(key))
    for load, path in ((load_private_key, private_path), (load_public_key, public_path)):
        with pytest.raises(SigningError, match="only RSA keys are supported") as info:
            load(path)
        assert str(path) in str(info.value)
    with pytest.raises(SigningError, match="holds a private key"):
        load_public_key(private_path)


def test_encrypted_key(rsa_key: rsa.RSAPrivateKey, write: Callable[[str, bytes], Path]) -> None:
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        data = _private_pem(rsa_key, fmt, password=b"s3cret")
        path = write("enc.pem", data)
        with pytest.raises(SigningError, match="is encrypted and no password was given") as info:
            load_private_key(path)
        assert str(path) in info.value.message and "--key-password-file" in info.value.message
        assert "`password`" in info.value.message  # library callers read the same text
        with pytest.raises(SigningError, match="wrong password") as info:
            load_private_key(path, b"guess")
        assert data.decode().splitlines()[-2] not in str(info.value)
        assert load_private_key(path, b"s3cret").private_numbers() == rsa_key.private_numbers()
        with pytest.raises(SigningError, match="holds an encrypted private key, not a public key"):
            load_public_key(path)


def test_garbage_and_missing_files_name_the_file(write: Callable[[str, bytes], Path], tmp_path: Path) -> None:
    garbage = write("garbage.pem", b"this is not a key\n")
    for load in (load_private_key, load_public_key):
        with pytest.raises(SigningError, match="garbage.pem") as info:
            load(garbage)
        assert "this is not a key" not in str(info.value)
        with pytest.raises(SigningError, match="missing.pem"):
            load(tmp_path / "missing.pem")
    broken = write("broken.pem", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(SigningError, match="broken.pem"):
        load_public_key(broken)


def test_public_key_where_a_private_key_is_needed(
    rsa_key: rsa.RSAPrivateKey, write: Callable[[str, bytes], Path]
) -> None:
    path = write("key.pub", _public_pem(rsa_key))
    with pytest.raises(SigningError, match="not a private key") as info:
        load_private_key(path)
    assert str(path) in str(info.value)
