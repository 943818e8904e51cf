"""Cosign-format signatures of a published release on an OCI layout: what publish --sign-key and sign write, what
verify --public-key reports, what copy carries along."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import SigningError
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import Descriptor
from gardenlinux_ocm.ocm.signing import load_private_key, load_public_key
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.trust.cosign import check_signature, signature_tag
from gardenlinux_ocm.trust.image_signing import Subject, read_signatures, sign_images
from gardenlinux_ocm.trust.signer import KeySigner
from support.release import COMPONENTS, VERSION, publish_args

runner = CliRunner()
SIGNED = (RootKind.FLAVOR, RootKind.CONTAINER, RootKind.CONTAINER_INDEX, RootKind.INDEX)


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def _subjects(plan: ReleasePlan) -> list[Subject]:
    return [Subject(repository=r.repository, descriptor=r.descriptor) for r in plan.roots if r.kind in SIGNED]


def _payloads(target: LayoutTarget, repo: str, digest: str) -> tuple[object, dict[str, bytes]]:
    image = read_signatures(target, repo, digest)
    assert image is not None
    payloads = {}
    for layer in image.layers:
        with target.fetch(repo, Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size)) as f:
            payloads[layer.digest] = f.read()
    return image, payloads


def test_publish_signs_every_manifest_and_verify_checks_them(samples: Path, tmp_path: Path,
                                                             key_files: tuple[Path, Path]) -> None:
    layout = tmp_path / "oci"
    out = json.loads(_cli(*publish_args(samples, f"oci-layout:{layout}", "--sign-key", str(key_files[0]),
                                        "--output", "json")))
    _, plan = api.plan_release(COMPONENTS, VERSION, samples)
    subjects = _subjects(plan)
    assert out["images_signed"] == {"signed": len(subjects), "already": 0}
    target = LayoutTarget(layout, read_only=True)
    key = load_public_key(key_files[1])
    for s in subjects:
        image, payloads = _payloads(target, s.repository, s.descriptor.digest)
        assert check_signature(s.descriptor.digest, image, payloads, key).ok, s  # type: ignore[arg-type]
    report = json.loads(_cli("verify", f"oci-layout:{layout}", "--public-key", str(key_files[1]), "--output", "json"))
    cosign = [c for c in report["checks"] if c["detail"].startswith("cosign:")]
    assert report["ok"] and len(cosign) == len(subjects)
    # a signature removed: verify names the manifest that lacks it
    flavor = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    index_json = layout / "gardenlinux" / "index.json"
    doc = json.loads(index_json.read_text())
    tag = signature_tag(flavor.descriptor.digest)
    doc["manifests"] = [m for m in doc["manifests"] if m.get("annotations", {}).get(
        "org.opencontainers.image.ref.name") != tag]
    index_json.write_text(json.dumps(doc))
    report = json.loads(_cli("verify", f"oci-layout:{layout}", "--public-key", str(key_files[1]), "--output", "json",
                             code=1))
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert [c["kind"] for c in failed] == ["signature"]
    assert "aws-gardener_prod-amd64" in failed[0]["subject"] and "no signature" in failed[0]["detail"]


def test_signing_is_idempotent_and_a_second_key_appends(plan: ReleasePlan, tmp_path: Path,
                                                        key_files: tuple[Path, Path]) -> None:
    target = LayoutTarget(tmp_path / "oci")
    api.publish(plan, target, image_signer=KeySigner(load_private_key(key_files[0])))
    subjects = _subjects(plan)
    first = {s.descriptor.digest: target.resolve(s.repository, signature_tag(s.descriptor.digest)) for s in subjects}
    again = sign_images(target, subjects, KeySigner(load_private_key(key_files[0])), "local.invalid")
    assert (again.signed, again.unchanged, again.roots) == (0, len(subjects), ())
    other = KeySigner(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    result = api.publish(plan, target, image_signer=other)
    assert (result.images_signed, result.images_already_signed) == (len(subjects), 0)
    for s in subjects:
        image = read_signatures(target, s.repository, s.descriptor.digest)
        assert image is not None and len(image.layers) == 2
        assert target.resolve(s.repository, signature_tag(s.descriptor.digest)) != first[s.descriptor.digest]


def test_a_failing_signer_publishes_nothing(plan: ReleasePlan, tmp_path: Path) -> None:
    class Broken:
        name = "signing command broken"

        def sign(self, payload: bytes) -> bytes:
            raise SigningError("signing command broken exited with 3")

    layout = tmp_path / "oci"
    with pytest.raises(SigningError):
        api.publish(plan, LayoutTarget(layout), image_signer=Broken())
    assert not layout.exists() or not any(p.is_file() for p in layout.rglob("*") if p.name != "oci-layout")


def test_copy_carries_the_signatures(plan: ReleasePlan, tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    src = LayoutTarget(tmp_path / "a")
    api.publish(plan, src, image_signer=KeySigner(load_private_key(key_files[0])))
    dst = LayoutTarget(tmp_path / "b")
    api.copy_release(src, dst, version=VERSION)
    for s in _subjects(plan):
        tag = signature_tag(s.descriptor.digest)
        assert dst.resolve(s.repository, tag) == src.resolve(s.repository, tag)


def test_signer_options_are_checked_before_anything_is_read(samples: Path, tmp_path: Path,
                                                           key_files: tuple[Path, Path]) -> None:
    target = f"oci-layout:{tmp_path / 'oci'}"
    text = _cli(*publish_args(samples, target, "--sign-key", str(key_files[0]), "--signer-command", "kms-sign"),
                code=2)
    assert "--sign-key and --signer-command are two ways to sign" in " ".join(text.split())
    text = _cli(*publish_args(samples, target, "--signer-public-key", str(key_files[1])), code=2)
    assert "--signer-command, which is not given" in " ".join(text.split())
    text = _cli(*publish_args(samples, target, "--signer-command", "kms-sign 'unclosed"), code=2)
    assert "cannot be split into words" in " ".join(text.split())
    assert not (tmp_path / "oci").exists()


def test_a_tag_that_holds_no_signature_manifest_is_reported_malformed(plan: ReleasePlan, tmp_path: Path,
                                                                      key_files: tuple[Path, Path]) -> None:
    target = LayoutTarget(tmp_path / "oci")
    key = load_private_key(key_files[0])
    signed = api.sign_plan(plan, key)
    api.publish(signed, target, image_signer=KeySigner(key))
    flavor = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    target.tag("gardenlinux", plan.index.descriptor, signature_tag(flavor.descriptor.digest))  # an index, not one
    report = api.verify(target, public_keys=[(None, load_public_key(key_files[1]))])
    [failure] = report.failures
    assert failure.kind.value == "signature" and "aws-gardener_prod-amd64" in failure.subject
    assert "is malformed" in failure.detail and "not an image manifest" in failure.detail
    with pytest.raises(SigningError, match="is not a cosign signature manifest"):  # signing again refuses it
        api.publish(signed, target, image_signer=KeySigner(key))
