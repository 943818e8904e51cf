"""A corrupt layout is a failed check, never a traceback; sign refuses it and writes nothing; sizes without --deep."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import REF_NAME, LayoutTarget
from gardenlinux_ocm.oci.model import MediaType
from gardenlinux_ocm.trust.model import CheckKind
from gardenlinux_ocm.trust.sign import NotVerified, sign_published
from gardenlinux_ocm.trust.verify import verify
from support.release import VERSION

RELEASE = "github.com/gardenlinux/gardenlinux"
CLOUD = RELEASE  # the release component holds every flavor's resources (glci's contract)
FLAVOR = f"{VERSION}-aws-gardener_prod-amd64"


@pytest.fixture
def layout(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "oci")
    return tmp_path / "oci"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("key") / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _tagged(root: Path, repository: str, tag: str) -> tuple[str, Path]:
    """The digest a tag of a layout points at, and the blob file holding it."""
    index = json.loads((root / repository / "index.json").read_bytes())
    [digest] = [m["digest"] for m in index["manifests"] if m["annotations"][REF_NAME] == tag]
    return digest, root / repository / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _snapshot(root: Path) -> dict[str, str]:
    """Every path below root with the hash of its bytes (directories as 'dir'): byte-identical means equal."""
    return {p.relative_to(root).as_posix(): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def _without_children(data: bytes) -> bytes:
    """A manifest without `layers`, an index without `manifests`."""
    doc = json.loads(data)
    return json.dumps({k: v for k, v in doc.items() if k not in ("layers", "manifests")}).encode()


def _index_type(data: bytes) -> bytes:
    return json.dumps({**json.loads(data), "mediaType": MediaType.OCI_INDEX}).encode()


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "not JSON": lambda data: b"\x00\xff this is not JSON",
    "a JSON list": lambda data: b"[1, 2, 3]",
    "config not an object": lambda data: json.dumps({**json.loads(data), "config": "x"}).encode(),
    "no layers or manifests": _without_children,
    "wrong mediaType": _index_type,
}
MANIFESTS = {  # where the manifest sits: (repository, tag, the kind of check that must fail, naming it)
    "flavor manifest": ("gardenlinux", FLAVOR, CheckKind.SIZE),
    "release index": ("gardenlinux", VERSION, CheckKind.SIZE),
    "component manifest": (f"component-descriptors/{CLOUD}", VERSION, CheckKind.COMPONENT),
}


@pytest.mark.parametrize("where", MANIFESTS)
@pytest.mark.parametrize("how", TAMPERING)
def test_a_corrupt_manifest_is_a_failed_check_naming_it(layout: Path, where: str, how: str) -> None:
    repository, tag, kind = MANIFESTS[where]
    digest, blob = _tagged(layout, repository, tag)
    blob.write_bytes(TAMPERING[how](blob.read_bytes()))
    report = verify(LayoutTarget(layout, read_only=True))
    assert not report.ok
    naming = [c for c in report.failures if f"{repository}@{digest}" in c.detail]
    assert kind in {c.kind for c in naming}, report.failures


@pytest.mark.parametrize("how", ["truncated", "not JSON", "config not an object"])
def test_cli_verify_and_sign_on_a_corrupt_manifest_exit_1_and_write_nothing(
        layout: Path, how: str, key_file: Path) -> None:
    digest, blob = _tagged(layout, "gardenlinux", FLAVOR)
    blob.write_bytes(TAMPERING[how](blob.read_bytes()))
    before = _snapshot(layout)
    runner = CliRunner()
    result = runner.invoke(app, ["verify", f"oci-layout:{layout}"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert f"gardenlinux@{digest}" in result.output or digest in result.output
    result = runner.invoke(app, ["sign", f"oci-layout:{layout}", f"{RELEASE}:{VERSION}", "--private-key",
                                 str(key_file)])
    assert result.exit_code == 1, result.output
    assert "does not verify, so it is not signed" in result.output and "Traceback" not in result.output
    assert _snapshot(layout) == before


def test_a_truncated_layer_fails_without_deep_and_sign_refuses(layout: Path, key_file: Path) -> None:
    _, manifest = _tagged(layout, "gardenlinux", FLAVOR)
    layer = json.loads(manifest.read_bytes())["layers"][0]
    blob = layout / "gardenlinux" / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes()[:10])
    report = verify(LayoutTarget(layout, read_only=True))
    sizes = [c for c in report.failures if c.kind is CheckKind.SIZE]
    flavor = "gardenlinux: flavor[architecture=amd64 feature-flags=gardener,_prod platform=aws]"
    assert {c.subject for c in sizes} == {"gardenlinux: release-index", flavor}
    assert all(c.detail == f"gardenlinux@{layer['digest']} is 10 bytes, its descriptor says {layer['size']}"
               for c in sizes)
    [access] = [c for c in report.failures if c.kind is not CheckKind.SIZE]  # the file's own ociBlob resource
    assert access.kind is CheckKind.RESOURCE
    assert access.detail == f"blob {layer['digest']} in gardenlinux is 10 bytes, the access says {layer['size']}"
    assert {c.kind for c in verify(LayoutTarget(layout), deep=True).failures} == {CheckKind.CONTENT, CheckKind.RESOURCE}
    before = _snapshot(layout)
    with pytest.raises(NotVerified, match="does not verify, so it is not signed") as info:
        sign_published(LayoutTarget(layout), RELEASE, VERSION, _load(key_file))
    assert info.value.report.failures == report.failures
    assert f"size gardenlinux: release-index: gardenlinux@{layer['digest']} is 10 bytes" in info.value.message
    assert _snapshot(layout) == before
    result = CliRunner().invoke(app, ["sign", f"oci-layout:{layout}", f"{RELEASE}:{VERSION}", "--private-key",
                                      str(key_file)])
    assert result.exit_code == 1 and "3 failed check(s)" in result.output
    assert _snapshot(layout) == before


def test_a_truncated_local_blob_fails_its_resource_and_its_component(published_by_value: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published_by_value, layout)
    target = LayoutTarget(layout, read_only=True)
    digest, manifest = _tagged(layout, f"component-descriptors/{CLOUD}", VERSION)
    layer = json.loads(manifest.read_bytes())["layers"][1]  # [0] is the descriptor, the others are local blobs
    blob = manifest.parent / layer["digest"].removeprefix("sha256:")
    blob.write_bytes(b"")
    failures = verify(target).failures
    assert [c.kind for c in failures] == [CheckKind.SIZE, CheckKind.RESOURCE]
    assert failures[0].subject == "gardenlinux"
    assert failures[0].detail == (f"component-descriptors/{CLOUD}@{layer['digest']} is 0 bytes, its descriptor "
                                  f"says {layer['size']}")
    assert failures[1].detail == (f"blob {layer['digest']} in component-descriptors/{CLOUD} is 0 bytes, the layer "
                                  f"says {layer['size']}")


@pytest.mark.parametrize("index", [b'{"manifests": [', b'{"manifests": [1, "x"]}', b"[]"])
def test_a_corrupt_index_json_is_a_failed_check(layout: Path, index: bytes) -> None:
    (layout / "component-descriptors" / RELEASE / "index.json").write_bytes(index)
    [failure] = verify(LayoutTarget(layout, read_only=True)).failures
    assert failure.kind is CheckKind.COMPONENT
    assert failure.detail.startswith(f"cannot list the versions of {RELEASE} on oci-layout:{layout}: ")
    [failure] = verify(LayoutTarget(layout, read_only=True), RELEASE, VERSION).failures
    assert failure.kind is CheckKind.COMPONENT and failure.subject == "gardenlinux"


def _load(path: Path) -> rsa.RSAPrivateKey:
    from gardenlinux_ocm.ocm.signing import load_private_key

    return load_private_key(path)
