"""Signing: sign_descriptors, sign_plan and sign_published round-trip through verify(); OCM Go and cc-utils interop."""

from __future__ import annotations

import copy
import io
import shutil
from pathlib import Path
from typing import Any

import ocm
import ocm.sign
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import SigningError, VerificationError
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import MediaType, descriptor_for
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.ocm.normalise import descriptor_digest
from gardenlinux_ocm.ocm.pack import pack_component
from gardenlinux_ocm.ocm.signing import load_public_key, sign_digest, signature_entry
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.targets import open_source
from gardenlinux_ocm.trust.sign import sign_descriptors, sign_plan, sign_published
from gardenlinux_ocm.trust.signer import KeySigner
from gardenlinux_ocm.trust.verify import CheckKind, verify
from support.release import DATA, VERSION, publish_args

OCM_GO = DATA / "ocm" / "signing" / "ocm-go-compat-rsa-pkcs1v15"
RELEASE = "github.com/gardenlinux/gardenlinux"
CONTAINERS = f"{RELEASE}/container-images"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return _key(), _key()


@pytest.fixture
def release(published_plan: tuple[Path, ReleasePlan], tmp_path: Path) -> LayoutTarget:
    shutil.copytree(published_plan[0], tmp_path / "oci")
    return LayoutTarget(tmp_path / "oci")


def _signatures(target: LayoutTarget, name: str = RELEASE) -> list[dict[str, Any]]:
    signatures: list[dict[str, Any]] = fetch_component(target, name, VERSION).descriptor.get("signatures") or []
    return signatures


# -- sign_published


def test_sign_then_verify(release: LayoutTarget, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    result = sign_published(release, RELEASE, VERSION, keys[0])
    assert [c.name for c in result.components] == [CONTAINERS, RELEASE]
    assert all(c.before != c.after for c in result.components)
    report = verify(release, public_keys=[(None, keys[0].public_key())])
    assert report.ok, report.failures
    assert [c.detail for c in report.checks if c.kind is CheckKind.SIGNATURE][0].startswith(
        "gardenlinux: RSASSA-PKCS1-V1_5 signature valid over jsonNormalisation/v3 SHA-256"
    )
    digests = [c for c in report.checks if c.kind is CheckKind.DIGEST]
    assert [c.subject for c in digests] == ["gardenlinux -> container-images"]
    again = sign_published(release, RELEASE, VERSION, keys[0])  # PKCS#1 v1.5 is deterministic: nothing to write
    assert again.stats.wrote_nothing


def test_second_key_adds_a_signature_and_keeps_the_first(
    release: LayoutTarget, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    sign_published(release, RELEASE, VERSION, keys[0])
    first = _signatures(release)
    sign_published(release, RELEASE, VERSION, keys[1], algorithm="RSASSA-PSS", name="second")
    both = _signatures(release)
    assert [s["name"] for s in both] == ["gardenlinux", "second"]
    assert both[0] == first[0]
    assert both[1]["signature"]["mediaType"] == "application/vnd.ocm.signature.rsa.pss"
    pairs = [("gardenlinux", keys[0].public_key()), ("second", keys[1].public_key())]
    assert verify(release, public_keys=pairs).ok
    assert not verify(release, public_keys=[("gardenlinux", keys[1].public_key())]).ok


def test_a_release_that_does_not_verify_is_not_signed(
    release: LayoutTarget, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    flavor = f"{VERSION}-ali-gardener_prod-amd64"
    release.tag("gardenlinux", release.resolve("gardenlinux", f"{VERSION}-aws-gardener_prod-amd64"), flavor)
    before = release.resolve(f"component-descriptors/{RELEASE}", VERSION)
    with pytest.raises(VerificationError, match="does not verify, so it is not signed"):
        sign_published(release, RELEASE, VERSION, keys[0])
    assert release.resolve(f"component-descriptors/{RELEASE}", VERSION) == before


# -- sign_descriptors and sign_plan (pure)


def test_sign_descriptors_fills_reference_digests_and_keeps_inputs(
    published_plan: tuple[Path, ReleasePlan], keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    descriptors = [c.descriptor for c in published_plan[1].components]
    before = copy.deepcopy(descriptors)
    signed = sign_descriptors(descriptors, keys[0])
    assert descriptors == before
    refs = signed[1]["component"]["componentReferences"]
    assert [r["digest"] for r in refs] == [
        {
            "hashAlgorithm": "SHA-256",
            "normalisationAlgorithm": "jsonNormalisation/v3",
            "value": descriptor_digest(d, "jsonNormalisation/v3"),
        }
        for d in signed[:1]
    ]
    assert [len(d["signatures"]) for d in signed] == [1, 1]
    resigned = sign_descriptors(signed, keys[1])  # same name: replaced, not added
    assert [[s["name"] for s in d["signatures"]] for d in resigned] == [["gardenlinux"]] * 2
    assert resigned[1]["signatures"] != signed[1]["signatures"]
    with pytest.raises(SigningError, match="is listed after it"):
        sign_descriptors(list(reversed(descriptors)), keys[0])
    with pytest.raises(SigningError, match="is not available"):
        sign_descriptors(descriptors[1:], keys[0])


def test_sign_plan_publishes_a_signed_release(
    published_plan: tuple[Path, ReleasePlan], keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    plan = published_plan[1]
    signed = sign_plan(plan, keys[0])
    assert [r for r in signed.roots if r.kind is not RootKind.COMPONENT] == [
        r for r in plan.roots if r.kind is not RootKind.COMPONENT
    ]
    target = LayoutTarget(tmp_path / "oci")
    api.publish(signed, target, image_signer=KeySigner(keys[0]))
    report = verify(target, deep=True, public_keys=[(None, keys[0].public_key())])
    assert report.ok, report.failures
    assert not verify(target, public_keys=[(None, keys[1].public_key())]).ok


# -- compatibility


def _fixture_copy(tmp_path: Path) -> Path:
    archive = tmp_path / "component-archive"
    shutil.copytree(OCM_GO / "component-archive", archive)
    for path in (archive, *archive.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return archive


def test_ocm_go_signed_component_archive(tmp_path: Path) -> None:
    archive = _fixture_copy(tmp_path)
    key = [(None, load_public_key(OCM_GO / "rsa.pub"))]
    report = verify(open_source(f"ca:{archive}"), deep=True, public_keys=key)
    assert report.ok, report.failures
    [signature] = [c for c in report.checks if c.kind is CheckKind.SIGNATURE]
    assert "jsonNormalisation/v1" in signature.detail
    descriptor = archive / "component-descriptor.yaml"
    data = descriptor.read_bytes()
    descriptor.write_bytes(data.replace(b"provider: mandelsoft", b"provider: mandelsofT"))
    [failure] = verify(open_source(f"ca:{archive}"), public_keys=key).failures
    assert failure.kind is CheckKind.SIGNATURE and "digest mismatch" in failure.detail


def test_gardener_ocm_v1_digest_verifies_with_our_code(
    release: LayoutTarget, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    cv = fetch_component(release, CONTAINERS, VERSION)

    def no_lookup(*args: Any) -> Any:
        raise AssertionError(f"unexpected lookup: {args}")

    digest = ocm.sign.component_descriptor_digest(
        ocm.ComponentDescriptor.from_dict(copy.deepcopy(cv.descriptor)),
        component_descriptor_lookup=no_lookup,
        access_to_digest_lookup=no_lookup,
    )
    assert digest == descriptor_digest(cv.descriptor, "jsonNormalisation/v1", "SHA-256")
    descriptor = copy.deepcopy(cv.descriptor)
    descriptor["signatures"] = [
        signature_entry("cc-utils", digest, "jsonNormalisation/v1", sign_digest(keys[0], digest, "RSASSA-PKCS1-V1_5"))
    ]
    packed = pack_component(descriptor, {layer.digest: layer.size for layer in cv.layers})
    for data, media_type in (
        (packed.config, MediaType.OCM_CONFIG),
        (packed.layer, MediaType.OCM_DESCRIPTOR_YAML_TAR),
        (packed.manifest, MediaType.OCI_MANIFEST),
    ):
        release.push(packed.repository, descriptor_for(data, media_type), io.BytesIO(data))
    release.tag(packed.repository, packed.manifest_descriptor, packed.tag)
    report = verify(release, CONTAINERS, VERSION, public_keys=[("cc-utils", keys[0].public_key())],
                    image_signatures=False)  # the OCM signature alone; the images were not signed
    assert report.ok, report.failures


# -- the CLI: wiring and exit codes


def _pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem


def test_cli_key_errors_exit_2(release: LayoutTarget, tmp_path: Path) -> None:
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(_pem(_key(), b"secret"))
    target = f"oci-layout:{release.root}"
    runner = CliRunner()
    result = runner.invoke(app, ["sign", target, f"{RELEASE}:{VERSION}", "--private-key", str(ec_key)])
    assert result.exit_code == 2 and "only RSA keys are supported" in result.output
    result = runner.invoke(app, ["sign", target, f"{RELEASE}:{VERSION}", "--private-key", str(encrypted)])
    assert result.exit_code == 2 and "is encrypted" in result.output
    ec_public = tmp_path / "ec.pub"
    ec_public.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = runner.invoke(app, ["verify", target, "--public-key", str(ec_public)])
    assert result.exit_code == 2 and "only RSA keys are supported" in result.output
    result = runner.invoke(app, ["sign", target, RELEASE, "--private-key", str(encrypted)])
    assert result.exit_code == 2 and "names no version" in result.output


def test_cli_sign_and_verify(
    release: LayoutTarget, tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    private, public, other = tmp_path / "key.pem", tmp_path / "key.pub", tmp_path / "other.pub"
    password = tmp_path / "password"
    password.write_bytes(b"secret\n")
    private.write_bytes(_pem(keys[0], b"secret"))
    for path, key in ((public, keys[0]), (other, keys[1])):
        path.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    target, runner = f"oci-layout:{release.root}", CliRunner()
    result = runner.invoke(
        app,
        [
            "sign",
            target,
            f"{RELEASE}:{VERSION}",
            "--private-key",
            str(private),
            "--key-password-file",
            str(password),
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", target, "--public-key", str(public), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output
    result = runner.invoke(app, ["verify", target, f"{RELEASE}:{VERSION}", "--public-key", str(other)])
    assert result.exit_code == 1
    assert "verification failed" in result.output


def test_cli_publish_with_sign_key_then_verify(
    samples: Path, tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_bytes(
        keys[0].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        keys[0].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    target, runner = f"oci-layout:{tmp_path / 'oci'}", CliRunner()
    result = runner.invoke(
        app, [*publish_args(samples, target), "--sign-key", str(private), "--sign-algorithm", "RSASSA-PSS"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", target, "--public-key", str(public), "--deep"])
    assert result.exit_code == 0, result.output
    for name in ("github.com/gardenlinux/gardenlinux", "github.com/gardenlinux/gardenlinux/container-images"):
        sigs = fetch_component(LayoutTarget(tmp_path / "oci"), name, VERSION).descriptor["signatures"]
        assert [s["signature"]["algorithm"] for s in sigs] == ["RSASSA-PSS"]
