"""Cosign-format signatures: byte for byte what cosign v2.6.5 wrote (tests/data/cosign, provenance in its README)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gardenlinux_ocm.oci.model import Descriptor, MediaType, sha256_digest
from gardenlinux_ocm.trust import cosign
from gardenlinux_ocm.trust.cosign import SignatureStatus
from support.release import DATA, REPO

GOLDEN = DATA / "cosign"
DIGEST = "sha256:344014d46e204565765814931942bade1548835f4629b703424177d2276bb288"  # the image cosign signed
SUBJECT = Descriptor(media_type=MediaType.OCI_MANIFEST, digest=DIGEST, size=401)


def _golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def _public(name: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(_golden(name))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _signatures(manifest: str) -> list[bytes]:
    """The raw signatures of a recorded signature manifest, in layer order."""
    return [base64.b64decode(layer.signature) for layer in cosign.parse_signature_image(_golden(manifest)).layers]


PAYLOAD = _golden("sig.payload.json")
KEY1, KEY2 = _public("key1.pub"), _public("key2.pub")
SIG1, SIG2 = _signatures("sig-two-keys.manifest.json")


# -- building: the bytes cosign writes ---------------------------------------------------------------------------------
def test_signature_tag_is_cosigns_tag_scheme() -> None:
    assert cosign.signature_tag(DIGEST) == "sha256-" + DIGEST.split(":")[1] + ".sig"
    with pytest.raises(ValueError, match="not a sha256"):
        cosign.signature_tag("sha512:00")


def test_payload_is_byte_identical_to_cosigns() -> None:
    assert cosign.simple_signing_payload("127.0.0.1:56325/rsa/img", DIGEST) == PAYLOAD
    assert json.loads(PAYLOAD)["optional"] is None


def test_payload_with_annotations_sorts_and_escapes_as_go_does() -> None:
    payload = cosign.simple_signing_payload("127.0.0.1:56325/ann/img", DIGEST, {"zeta": "1", "alpha": "<x>&"})
    assert payload == _golden("annotated.payload.json")


@pytest.mark.parametrize("reference", ["", "ghcr.io/gardenlinux/gardenlinux@" + DIGEST])
def test_payload_refuses_a_reference_that_is_not_a_repository(reference: str) -> None:
    with pytest.raises(ValueError, match="repository"):
        cosign.simple_signing_payload(reference, DIGEST)


def test_one_signature_gives_cosigns_manifest_and_config() -> None:
    image = cosign.with_signature(None, cosign.signature_layer(PAYLOAD, SIG1))
    assert image.to_bytes() == _golden("sig-one-key.manifest.json")
    assert image.config_bytes() == _golden("sig-one-key.config.json")
    assert image.descriptor.digest == sha256_digest(_golden("sig-one-key.manifest.json"))
    assert image.descriptor.artifact_type is None


def test_a_second_key_appends_a_layer_as_cosign_does() -> None:
    one = cosign.with_signature(None, cosign.signature_layer(PAYLOAD, SIG1))
    two = cosign.with_signature(one, cosign.signature_layer(PAYLOAD, SIG2))
    assert two.to_bytes() == _golden("sig-two-keys.manifest.json")
    assert two.config_bytes() == _golden("sig-two-keys.config.json")
    assert [layer.digest for layer in two.layers] == [sha256_digest(PAYLOAD)] * 2  # the same payload blob twice


def test_signing_again_with_the_same_key_adds_nothing() -> None:
    two = cosign.parse_signature_image(_golden("sig-two-keys.manifest.json"))
    for signature in (SIG1, SIG2):
        assert cosign.with_signature(two, cosign.signature_layer(PAYLOAD, signature)) is two


def test_the_duplicate_check_by_key_matches_any_signature_that_verifies() -> None:
    """cosign's duplicate detector: a layer of the same payload that verifies with the key counts as there."""
    one = cosign.parse_signature_image(_golden("sig-one-key.manifest.json"))
    other = cosign.signature_layer(PAYLOAD, SIG1[:-1] + bytes([SIG1[-1] ^ 1]))  # not the recorded bytes
    assert cosign.has_signature(one, other, KEY1, PAYLOAD)
    assert not cosign.has_signature(one, other)
    assert not cosign.has_signature(one, cosign.signature_layer(PAYLOAD, SIG2), KEY2, PAYLOAD)
    assert not cosign.has_signature(None, other)


def test_the_first_signature_keeps_its_place() -> None:
    """gardenlinux-update reads layers[0] only: a later key must never displace the first."""
    two = cosign.parse_signature_image(_golden("sig-two-keys.manifest.json"))
    assert base64.b64decode(two.layers[0].signature) == SIG1


def test_referrer_form_is_byte_identical_to_cosigns_oci_1_1_mode() -> None:
    payload = _golden("referrer.payload.json")
    recorded = cosign.parse_signature_image(_golden("referrer.manifest.json"))
    layer = cosign.signature_layer(payload, base64.b64decode(recorded.layers[0].signature))
    image = cosign.referrer_image(layer, SUBJECT.with_annotations({"x": "y"}))
    assert image.to_bytes() == _golden("referrer.manifest.json")
    assert image.config_bytes() == _golden("referrer.config.json")
    assert image.config.media_type == cosign.SIGNATURE_ARTIFACT_TYPE
    assert image.descriptor.artifact_type == cosign.SIGNATURE_ARTIFACT_TYPE
    assert json.loads(image.to_bytes())["subject"] == {"mediaType": MediaType.OCI_MANIFEST, "size": 401,
                                                       "digest": DIGEST}


def test_bytes_are_the_same_in_every_process() -> None:
    """No hash-seed dependence: two interpreters with different seeds build the same manifest."""
    code = ("import base64,sys;from gardenlinux_ocm.trust import cosign as c;"
            f"p=c.simple_signing_payload('r/x',{DIGEST!r});"
            "i=c.with_signature(c.with_signature(None,c.signature_layer(p,b'a')),c.signature_layer(p,b'b'));"
            "sys.stdout.write(i.descriptor.digest)")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(digests) == 1


@pytest.mark.parametrize(("data", "message"), [
    (b"not json", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'{"mediaType":"application/vnd.oci.image.index.v1+json","layers":[]}', "not an image manifest"),
    (b'{"layers":[]}', "no layers"),
    (b'{"layers":[{"digest":"sha256:00","size":1}]}', "valid sha256"),
    (json.dumps({"layers": [{"digest": DIGEST, "size": 1, "annotations": {"a": 1}}]}).encode(), "map of strings"),
])
def test_parse_refuses_what_is_not_a_signature_manifest(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cosign.parse_signature_image(data)


def test_parse_keeps_foreign_annotations_and_the_subject() -> None:
    doc = json.loads(_golden("referrer.manifest.json"))
    doc["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"] = "{}"
    image = cosign.parse_signature_image(json.dumps(doc).encode())
    assert dict(image.layers[0].annotations)["dev.sigstore.cosign/bundle"] == "{}"
    assert image.subject == SUBJECT


# -- checking ----------------------------------------------------------------------------------------------------------
def _check(image: cosign.SignatureImage | None, key: rsa.RSAPublicKey, digest: str = DIGEST,
           payloads: dict[str, bytes] | None = None) -> cosign.SignatureCheck:
    return cosign.check_signature(digest, image, {sha256_digest(PAYLOAD): PAYLOAD} if payloads is None else payloads,
                                  key)


def test_cosigns_signatures_verify_with_each_key() -> None:
    two = cosign.parse_signature_image(_golden("sig-two-keys.manifest.json"))
    assert (_check(two, KEY1).status, _check(two, KEY1).layer) == (SignatureStatus.OK, 0)
    assert (_check(two, KEY2).status, _check(two, KEY2).layer) == (SignatureStatus.OK, 1)
    referrer = cosign.parse_signature_image(_golden("referrer.manifest.json"))
    payload = _golden("referrer.payload.json")
    assert _check(referrer, KEY1, payloads={sha256_digest(payload): payload}).ok


def test_a_wrong_key_is_a_bad_signature() -> None:
    one = cosign.parse_signature_image(_golden("sig-one-key.manifest.json"))
    check = _check(one, KEY2)
    assert check.status is SignatureStatus.BAD_SIGNATURE and not check.ok
    assert "does not verify" in check.detail


def test_a_signature_for_another_manifest_is_a_wrong_digest() -> None:
    """A valid signature copied to another manifest's `.sig` tag (a re-pointed tag) is refused by the digest."""
    other = "sha256:" + "0" * 64
    check = _check(cosign.parse_signature_image(_golden("sig-one-key.manifest.json")), KEY1, digest=other)
    assert check.status is SignatureStatus.WRONG_DIGEST
    assert DIGEST in check.detail


def test_a_tampered_payload_is_a_bad_signature() -> None:
    tampered = PAYLOAD.replace(b"rsa/img", b"rsa/imh")
    layer = cosign.SignatureLayer(digest=sha256_digest(tampered), size=len(tampered),
                                  annotations=cosign.signature_layer(PAYLOAD, SIG1).annotations)
    image = cosign.signature_image([layer])
    assert _check(image, KEY1, payloads={layer.digest: tampered}).status is SignatureStatus.BAD_SIGNATURE
    # the payload bytes must hash to the layer digest, whatever the caller passes
    assert _check(image, KEY1, payloads={layer.digest: PAYLOAD}).status is SignatureStatus.BAD_SIGNATURE
    assert "not given" in _check(image, KEY1, payloads={}).detail


def test_a_payload_of_another_type_is_not_accepted() -> None:
    """A signature over JSON of another `type` does not vouch for the manifest (stricter than cosign and
    gardenlinux-update, which read only the digest; cosign always writes this type)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = PAYLOAD.replace(b"cosign container image signature", b"something else")
    image = cosign.with_signature(None, cosign.signature_layer(
        payload, key.sign(payload, padding.PKCS1v15(), hashes.SHA256())))
    check = _check(image, key.public_key(), payloads={sha256_digest(payload): payload})
    assert check.status is SignatureStatus.WRONG_DIGEST and "something else" in check.detail


def test_unsigned_and_malformed_are_reported_by_name() -> None:
    unsigned = _check(None, KEY1)
    assert unsigned.status is SignatureStatus.UNSIGNED and cosign.signature_tag(DIGEST) in unsigned.detail
    malformed = cosign.SignatureCheck.malformed(DIGEST, "not JSON")
    assert malformed.status is SignatureStatus.MALFORMED and not malformed.ok and "not JSON" in malformed.detail


def test_signature_subject_reads_back_the_signature_tag() -> None:
    digest = "sha256:" + "ab" * 32
    assert cosign.signature_subject(cosign.signature_tag(digest)) == digest
    for tag in ("1473.0", "sha256-" + "ab" * 32, "sha256-" + "AB" * 32 + ".sig", "sha256-abc.sig"):
        assert cosign.signature_subject(tag) is None
