"""Our cosign-format signatures against the real clients: cosign v2.6.5 and gardenlinux-update's check.

Signatures are written the way publish will write them: the payload blob, the config blob, then the signature
manifest under `sha256-<hex>.sig` (tag last), through `RegistryTarget`. cosign runs with its own HOME and TUF root
in the test's directory and without a transparency log (`--tlog-upload=false`, `--insecure-ignore-tlog=true`), as
Garden Linux's workflow runs it.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from gardenlinux_ocm.errors import NotFound, SigningError
from gardenlinux_ocm.oci.model import (
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    Descriptor,
    MediaType,
    Platform,
    descriptor_for,
    sha256_digest,
)
from gardenlinux_ocm.oci.registry import RegistryTarget
from gardenlinux_ocm.ocm.signing import load_public_key
from gardenlinux_ocm.trust import cosign
from gardenlinux_ocm.trust.cosign import SignatureStatus
from gardenlinux_ocm.trust.signer import CommandSigner, KeySigner, Signer
from support.cosign_cli import Cosign
from support.gardenlinux_update import (
    ERR_NETWORK_PROBLEMS,
    ERR_SYSTEM_FAILURE,
    UKI_MEDIA_TYPE,
    UpdateRefused,
    select_update,
)
from support.registry import MANIFEST_ACCEPT, RegistryServer
from support.tools import require

pytestmark = [pytest.mark.registry, pytest.mark.tools]

VERSION = "1473.0"
CNAME = "metal-usi-amd64"
FLAVOR_TYPE = "application/io.gardenlinux.flavor.v1"


# -- fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture(params=["registry", "registry_v3"])
def any_registry(request: pytest.FixtureRequest) -> RegistryServer:
    """distribution 2.8 (Debian) and v3."""
    server: RegistryServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture
def target(any_registry: RegistryServer) -> Iterator[RegistryTarget]:
    with RegistryTarget(base=any_registry.host, credentials=lambda host: None) as t:
        yield t


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository of its own for each test (the registries are shared by the whole run)."""
    return "cosign/" + request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40] + "-" + \
        uuid.uuid4().hex[:8]


@pytest.fixture
def other_key(other_key_files: tuple[Path, Path]) -> tuple[Path, Path]:
    return other_key_files


# -- what publish will do, in small ------------------------------------------------------------------------------------
def _push_json(target: RegistryTarget, repo: str, data: bytes, media_type: str) -> Descriptor:
    descriptor = descriptor_for(data, media_type)
    target.push(repo, descriptor, io.BytesIO(data))
    return descriptor


def _push_flavor(target: RegistryTarget, repo: str, uki: bytes = b"MZ uki " * 64) -> tuple[Descriptor, bytes]:
    """A flavor manifest with an `application/io.gardenlinux.uki` layer (and a kernel before it)."""
    layers = [_push_json(target, repo, b"vmlinuz " * 32, "application/io.gardenlinux.kernel"),
              _push_json(target, repo, uki, UKI_MEDIA_TYPE)]
    target.push(repo, EMPTY_DESCRIPTOR, io.BytesIO(EMPTY_JSON))
    data = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "artifactType": FLAVOR_TYPE,
                       "config": EMPTY_DESCRIPTOR.to_dict(), "layers": [d.to_dict() for d in layers],
                       "annotations": {"cname": f"{CNAME}-{VERSION}"}}).encode()
    descriptor = descriptor_for(data, MediaType.OCI_MANIFEST, artifact_type=FLAVOR_TYPE)
    target.tag(repo, descriptor, f"{VERSION}-{CNAME}", data)
    return descriptor, data


def _push_index(target: RegistryTarget, repo: str, flavor: Descriptor, tag: str = VERSION) -> Descriptor:
    """The release index: a container entry (no annotations, as runtimes see it) first, then the flavor."""
    container = _push_json(target, repo, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers",'
                                         b'"diff_ids":[]}}', MediaType.OCI_CONFIG)
    image = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "config": container.to_dict(),
                        "layers": []}).encode()
    image_descriptor = descriptor_for(image, MediaType.OCI_MANIFEST)
    target.tag(repo, image_descriptor, f"{VERSION}-container-amd64", image)
    entries = [
        {**image_descriptor.to_dict(), "platform": {"architecture": "amd64", "os": "linux"}},
        {**flavor.to_dict(), "platform": Platform(architecture="amd64", os="gardenlinux",
                                                  os_version=VERSION).to_dict(),
         "annotations": {"cname": f"{CNAME}-{VERSION}", "architecture": "amd64", "feature_set": "usi"}},
    ]
    data = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": entries}).encode()
    descriptor = descriptor_for(data, MediaType.OCI_INDEX)
    target.tag(repo, descriptor, tag, data)
    return descriptor


def _existing(target: RegistryTarget, repo: str, subject: Descriptor) -> cosign.SignatureImage | None:
    try:
        descriptor = target.resolve(repo, cosign.signature_tag(subject.digest))
    except NotFound:
        return None
    with target.fetch(repo, descriptor) as stream:
        return cosign.parse_signature_image(stream.read())


def _sign(target: RegistryTarget, repo: str, subject: Descriptor, signer: Signer,
          public_key: rsa.RSAPublicKey | None = None) -> tuple[Descriptor, bool]:
    """Sign `subject`: (the signature manifest's descriptor, whether anything was written)."""
    payload = cosign.simple_signing_payload(f"{target.name}/{repo}", subject.digest)
    layer = cosign.signature_layer(payload, signer.sign(payload))
    before = _existing(target, repo, subject)
    after = cosign.with_signature(before, layer, public_key, payload)
    if after == before:
        return after.descriptor, False
    target.push(repo, descriptor_for(payload, cosign.SIMPLE_SIGNING_MEDIA_TYPE), io.BytesIO(payload))
    config = after.config_bytes()
    target.push(repo, after.config, io.BytesIO(config))
    target.tag(repo, after.descriptor, cosign.signature_tag(subject.digest), after.to_bytes())
    return after.descriptor, True


def _check(target: RegistryTarget, repo: str, subject: Descriptor, public_key: Path) -> cosign.SignatureCheck:
    """What `gl-ocm verify --public-key` will do for one manifest."""
    image = _existing(target, repo, subject)
    payloads = {}
    for layer in image.layers if image else ():
        with target.fetch(repo, Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size)) as s:
            payloads[layer.digest] = s.read()
    return cosign.check_signature(subject.digest, image, payloads, load_public_key(public_key))


def _tag_digest(server: RegistryServer, repo: str, tag: str) -> str | None:
    return server.tag_manifest_digest(repo, tag)


# -- cosign accepts ours -----------------------------------------------------------------------------------------------
def test_cosign_verify_accepts_our_signatures_of_a_flavor_and_the_index(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        other_key: tuple[Path, Path], cosign_cli: Cosign) -> None:
    flavor, _ = _push_flavor(target, repo)
    index = _push_index(target, repo, flavor)
    signer = KeySigner.from_file(key_files[0])
    for subject in (flavor, index):
        _sign(target, repo, subject, signer)
        reference = f"{any_registry.host}/{repo}@{subject.digest}"
        result = cosign_cli.verify(reference, key_files[1])
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == subject.digest
        wrong = cosign_cli.verify(reference, other_key[1])
        assert wrong.returncode != 0 and "no matching signatures" in wrong.stderr
        assert _check(target, repo, subject, key_files[1]).ok
        assert _check(target, repo, subject, other_key[1]).status is SignatureStatus.BAD_SIGNATURE


def test_signing_twice_writes_nothing_and_a_second_key_adds_a_layer(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        other_key: tuple[Path, Path], cosign_cli: Cosign) -> None:
    flavor, _ = _push_flavor(target, repo)
    first, wrote = _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    assert wrote
    again, wrote = _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    assert (again, wrote) == (first, False)
    both, wrote = _sign(target, repo, flavor, KeySigner.from_file(other_key[0]))
    assert wrote and both.digest != first.digest
    assert _tag_digest(any_registry, repo, cosign.signature_tag(flavor.digest)) == both.digest
    image = _existing(target, repo, flavor)
    assert image is not None and len(image.layers) == 2
    reference = f"{any_registry.host}/{repo}@{flavor.digest}"
    for public in (key_files[1], other_key[1]):
        result = cosign_cli.verify(reference, public)
        assert result.returncode == 0, result.stderr
    # cosign itself sees both signatures as there: signing again with either key leaves the tag as it is
    for private in (key_files[0], other_key[0]):
        cosign_cli.sign(reference, private)
        assert _tag_digest(any_registry, repo, cosign.signature_tag(flavor.digest)) == both.digest


def test_a_command_signer_holding_the_key_outside_gives_signatures_cosign_accepts(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        cosign_cli: Cosign, tmp_path: Path) -> None:
    openssl = require("openssl")
    script = tmp_path / "kms-sign"
    script.write_text(f'#!/bin/sh\nexec {openssl} dgst -sha256 -sign "{key_files[0]}"\n')
    script.chmod(0o755)
    flavor, _ = _push_flavor(target, repo)
    signer = CommandSigner([str(script)], public_key=load_public_key(key_files[1]))
    _, wrote = _sign(target, repo, flavor, signer)
    assert wrote
    result = cosign_cli.verify(f"{any_registry.host}/{repo}@{flavor.digest}", key_files[1])
    assert result.returncode == 0, result.stderr
    # the same bytes as the key in the process: signing with it adds nothing
    assert _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))[1] is False

    failing = tmp_path / "kms-down"
    failing.write_text("#!/bin/sh\ncat >/dev/null\nexit 1\n")
    failing.chmod(0o755)
    index = _push_index(target, repo, flavor)
    with pytest.raises(SigningError, match="exited with status 1"):
        _sign(target, repo, index, CommandSigner([str(failing)]))
    assert _tag_digest(any_registry, repo, cosign.signature_tag(index.digest)) is None  # nothing written


# -- ours accepts cosign's ---------------------------------------------------------------------------------------------
def test_a_signature_by_cosign_is_accepted_and_is_byte_identical_to_ours(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        other_key: tuple[Path, Path], cosign_cli: Cosign) -> None:
    flavor, _ = _push_flavor(target, repo)
    cosign_cli.sign(f"{any_registry.host}/{repo}@{flavor.digest}", key_files[0])
    assert _check(target, repo, flavor, key_files[1]).ok
    assert _check(target, repo, flavor, other_key[1]).status is SignatureStatus.BAD_SIGNATURE
    written = _tag_digest(any_registry, repo, cosign.signature_tag(flavor.digest))
    descriptor, wrote = _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    assert (descriptor.digest, wrote) == (written, False)
    # and from nothing, ours builds exactly cosign's manifest
    payload = cosign.simple_signing_payload(f"{any_registry.host}/{repo}", flavor.digest)
    ours = cosign.with_signature(None, cosign.signature_layer(payload, KeySigner.from_file(key_files[0]).sign(payload)))
    assert ours.descriptor.digest == written


def test_a_tampered_payload_is_refused_by_cosign_and_by_us(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        cosign_cli: Cosign) -> None:
    flavor, _ = _push_flavor(target, repo)
    other, _ = _push_flavor(target, repo, uki=b"evil uki " * 64)
    _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    genuine = _existing(target, repo, flavor)
    assert genuine is not None
    # the payload now names the other manifest; the signature annotation is the genuine one
    payload = cosign.simple_signing_payload(f"{any_registry.host}/{repo}", other.digest)
    target.push(repo, descriptor_for(payload, cosign.SIMPLE_SIGNING_MEDIA_TYPE), io.BytesIO(payload))
    forged_layer = cosign.SignatureLayer(digest=sha256_digest(payload), size=len(payload),
                                         annotations=genuine.layers[0].annotations)
    forged = cosign.signature_image([forged_layer])
    target.push(repo, forged.config, io.BytesIO(forged.config_bytes()))
    target.tag(repo, forged.descriptor, cosign.signature_tag(other.digest), forged.to_bytes())
    result = cosign_cli.verify(f"{any_registry.host}/{repo}@{other.digest}", key_files[1])
    assert result.returncode != 0
    assert _check(target, repo, other, key_files[1]).status is SignatureStatus.BAD_SIGNATURE
    # the genuine signature copied to the other manifest's tag: valid, but for the first manifest
    target.tag(repo, genuine.descriptor, cosign.signature_tag(other.digest), genuine.to_bytes())
    result = cosign_cli.verify(f"{any_registry.host}/{repo}@{other.digest}", key_files[1])
    assert result.returncode != 0
    assert _check(target, repo, other, key_files[1]).status is SignatureStatus.WRONG_DIGEST


# -- the referrer form -------------------------------------------------------------------------------------------------
def test_cosigns_referrer_is_byte_identical_to_ours_and_neither_registry_serves_referrers(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        cosign_cli: Cosign) -> None:
    flavor, _ = _push_flavor(target, repo)
    response = requests.get(f"{any_registry.url}/v2/{repo}/referrers/{flavor.digest}", timeout=10)
    assert response.status_code == 404  # no referrers API: cosign falls back to the referrers tag schema
    cosign_cli.sign(f"{any_registry.host}/{repo}@{flavor.digest}", key_files[0],
                    "--registry-referrers-mode=oci-1-1", env={"COSIGN_EXPERIMENTAL": "1"})
    fallback = any_registry.raw_get(f"/v2/{repo}/manifests/{flavor.digest.replace(':', '-')}",
                                    headers={"Accept": MANIFEST_ACCEPT})
    assert fallback.status_code == 200, fallback.text
    (entry,) = fallback.json()["manifests"]
    assert _tag_digest(any_registry, repo, cosign.signature_tag(flavor.digest)) is None  # oci-1-1 writes no .sig
    payload = cosign.simple_signing_payload(f"{any_registry.host}/{repo}", flavor.digest)
    layer = cosign.signature_layer(payload, KeySigner.from_file(key_files[0]).sign(payload))
    ours = cosign.referrer_image(layer, flavor)
    assert (entry["digest"], entry["artifactType"]) == (ours.descriptor.digest, cosign.SIGNATURE_ARTIFACT_TYPE)


# -- gardenlinux-update ------------------------------------------------------------------------------------------------
OS_RELEASE = f'ID=gardenlinux\nGARDENLINUX_CNAME="{CNAME}-{VERSION}"\nGARDENLINUX_VERSION={VERSION}\n'


def test_gardenlinux_update_accepts_our_signed_flavor(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path]) -> None:
    flavor, data = _push_flavor(target, repo)
    _push_index(target, repo, flavor)
    _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    update = select_update(any_registry.url, repo, VERSION, OS_RELEASE, key_files[1].read_bytes())
    uki = next(layer for layer in json.loads(data)["layers"] if layer["mediaType"] == UKI_MEDIA_TYPE)
    assert (update.manifest_digest, update.os_version, update.uki_digest, update.uki_size) == (
        flavor.digest, VERSION, uki["digest"], uki["size"])
    assert update.cname == f"{CNAME}-{VERSION}"


def test_gardenlinux_update_refuses_a_wrong_key_and_a_re_pointed_tag(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        other_key: tuple[Path, Path]) -> None:
    flavor, _ = _push_flavor(target, repo)
    _push_index(target, repo, flavor)
    _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    with pytest.raises(UpdateRefused, match="Invalid signature") as excinfo:
        select_update(any_registry.url, repo, VERSION, OS_RELEASE, other_key[1].read_bytes())
    assert excinfo.value.code == ERR_SYSTEM_FAILURE

    # the release tag re-pointed at an index whose flavor is another manifest: it has no signature ...
    evil, _ = _push_flavor(target, repo, uki=b"evil uki " * 64)
    _push_index(target, repo, evil)
    with pytest.raises(UpdateRefused) as excinfo:
        select_update(any_registry.url, repo, VERSION, OS_RELEASE, key_files[1].read_bytes())
    assert excinfo.value.code == ERR_NETWORK_PROBLEMS and ".sig" in str(excinfo.value)
    # ... and the genuine signature copied to its tag names the genuine digest
    genuine = _existing(target, repo, flavor)
    assert genuine is not None
    target.tag(repo, genuine.descriptor, cosign.signature_tag(evil.digest), genuine.to_bytes())
    with pytest.raises(UpdateRefused, match="is not equal to the digest that is in the signed message") as excinfo:
        select_update(any_registry.url, repo, VERSION, OS_RELEASE, key_files[1].read_bytes())
    assert excinfo.value.code == ERR_SYSTEM_FAILURE


def test_gardenlinux_update_reads_only_the_first_signature(
        target: RegistryTarget, any_registry: RegistryServer, repo: str, key_files: tuple[Path, Path],
        other_key: tuple[Path, Path]) -> None:
    """A second key's signature is invisible to it: the production key must be the first to sign."""
    flavor, _ = _push_flavor(target, repo)
    _push_index(target, repo, flavor)
    _sign(target, repo, flavor, KeySigner.from_file(other_key[0]))
    _sign(target, repo, flavor, KeySigner.from_file(key_files[0]))
    assert _check(target, repo, flavor, key_files[1]).ok
    with pytest.raises(UpdateRefused, match="Invalid signature"):
        select_update(any_registry.url, repo, VERSION, OS_RELEASE, key_files[1].read_bytes())
    assert select_update(any_registry.url, repo, VERSION, OS_RELEASE, other_key[1].read_bytes())
