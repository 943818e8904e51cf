"""Reading component versions: OCM Go's CTF archives (dir, tar, tar.gz), a component archive, every media type."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm.errors import NotFound, TargetError, UsageError, VerificationError
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.ocm.archives import TITLE, ComponentArchive, CtfArchive, open_archive
from gardenlinux_ocm.ocm.fetch import fetch_component, list_versions
from gardenlinux_ocm.ocm.serialise import descriptor_tar, descriptor_yaml
from gardenlinux_ocm.targets import open_source
from gardenlinux_ocm.trust.verify import CheckKind, verify
from support.release import DATA

OCM_REFERENCE = DATA / "ocm"
CTF = OCM_REFERENCE / "ctf-compat"
CA = OCM_REFERENCE / "signing" / "ocm-go-compat-rsa-pkcs1v15" / "component-archive"
HELLO = "github.com/acme.org/helloworld"


@pytest.mark.parametrize("form", ["transport-archive", "transport-archive.tar", "transport-archive.tar.gz"])
def test_ctf_compat_01_reads_back(form: str) -> None:
    target = open_source(f"ctf:{CTF / '01' / form}")
    assert isinstance(target, CtfArchive)
    assert target.repositories() == [f"component-descriptors/{HELLO}"]
    assert list_versions(target, HELLO) == ["1.0.0"]
    cv = fetch_component(target, HELLO, "1.0.0")
    component = cv.descriptor["component"]
    assert (component["name"], component["version"], component["provider"]) == (HELLO, "1.0.0", "acme.org")
    assert component["creationTime"].startswith("2025-03-18T")  # a string (not a datetime), as OCM Go reads it
    [layer] = cv.layers
    assert component["resources"][0]["access"]["localReference"] == layer.digest
    with target.fetch(cv.repository, layer) as f:
        assert f.read() == b"test"
    report = verify(target, deep=True)
    assert report.ok, report.failures
    assert [c.kind for c in report.checks] == [CheckKind.COMPONENT, CheckKind.SCHEMA, CheckKind.CONTENT,
                                               CheckKind.RESOURCE, CheckKind.CONTENT]


@pytest.mark.parametrize(("form", "status"), [("with-resource", "ok"), ("without-resource", "skipped")])
def test_ctf_compat_02_reads_back(form: str, status: str) -> None:
    target = open_archive(CTF / "02" / form, "ctf")
    cv = fetch_component(target, HELLO, "1.0.0")
    [resource] = cv.descriptor["component"]["resources"]
    assert resource["name"] == "mychart"
    report = verify(target)
    assert report.ok, report.failures
    assert [c.status for c in report.checks if c.kind is CheckKind.RESOURCE] == [status]


def _tar(src: Path, out: Path, gz: bool) -> Path:
    with tarfile.open(out, "w:gz" if gz else "w") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=f"./{path.relative_to(src).as_posix()}", recursive=False)
    return out


@pytest.mark.parametrize("form", ["dir", "tar", "tgz"])
def test_component_archive(form: str, tmp_path: Path) -> None:
    path = CA if form == "dir" else _tar(CA, tmp_path / f"ca.{form}", form == "tgz")
    target = open_source(f"ca:{path}")
    assert isinstance(target, ComponentArchive)
    repository = "component-descriptors/github.com/mandelsoft/test"
    assert target.repositories() == [repository] and target.tags(repository) == ["1.0.0"]
    cv = fetch_component(target, "github.com/mandelsoft/test", "1.0.0")
    assert cv.descriptor_bytes == (CA / "component-descriptor.yaml").read_bytes()
    [layer] = cv.layers
    name = "sha256.c893900c1106f13d55648a425f502dd6518e40eaa3ac7d24023d4c73d55dc12e"
    assert (layer.digest, layer.annotation_map[TITLE], layer.media_type) == (
        name.replace(".", ":"), name, "application/octet-stream")
    with target.fetch(repository, layer) as f:
        assert f.read() == (CA / "blobs" / name).read_bytes()
    assert target.resolve(repository, cv.manifest_descriptor.digest) == cv.manifest_descriptor
    with pytest.raises(NotFound):
        target.resolve(repository, "2.0.0")
    assert verify(target, deep=True).ok


def test_component_archive_blob_with_a_plain_file_name(tmp_path: Path) -> None:
    """A blob whose file name is not its digest is hashed and found by its title; a changed blob fails deep."""
    archive = tmp_path / "ca"
    (archive / "blobs").mkdir(parents=True)
    (archive / "blobs" / "readme.txt").write_bytes(b"hello\n")
    descriptor = {"meta": {"schemaVersion": "v2"}, "component": {
        "name": "github.com/acme/ca", "version": "1.0.0", "provider": "acme", "repositoryContexts": [],
        "sources": [], "componentReferences": [], "resources": [{
            "name": "readme", "version": "1.0.0", "type": "PlainText", "relation": "local",
            "access": {"type": "localBlob", "localReference": "readme.txt", "mediaType": "text/plain"},
            "digest": {"hashAlgorithm": "SHA-256", "normalisationAlgorithm": "genericBlobDigest/v1",
                       "value": descriptor_for(b"hello\n", "").hex}}]}}
    (archive / "component-descriptor.yaml").write_bytes(descriptor_yaml(descriptor))
    report = verify(open_archive(archive, "ca"), deep=True)
    assert report.ok, report.failures
    (archive / "blobs" / "readme.txt").write_bytes(b"HELLO\n")
    [failure] = verify(open_archive(archive, "ca")).failures
    assert failure.kind is CheckKind.RESOURCE and "digest mismatch" in failure.detail


def test_archive_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        open_archive(tmp_path / "missing", "ctf")
    with pytest.raises(UsageError, match="has no artifact-index.json"):
        open_archive(tmp_path, "ctf")
    with pytest.raises(UsageError, match="has no component-descriptor.yaml"):
        open_archive(tmp_path, "ca")
    (tmp_path / "junk").write_bytes(b"not a tar")
    with pytest.raises(UsageError, match="neither a directory nor a tar"):
        open_archive(tmp_path / "junk", "ctf")
    with pytest.raises(UsageError, match="unknown archive kind"):
        open_archive(tmp_path, "zip")


def test_gunzipped_copy_is_removed_with_the_target(tmp_path: Path) -> None:
    archive = shutil.copy(CTF / "01" / "transport-archive.tar.gz", tmp_path / "ctf.tgz")
    target = open_archive(Path(archive), "ctf")
    tmp = target._files._tar  # noqa: SLF001 - the temporary tar is an implementation detail worth pinning
    assert tmp is not None and tmp.exists() and tmp != Path(archive)
    del target
    assert not tmp.exists()


# -- fetch: tags, versions and every media type of the OCI mapping


def _push(target: MemoryTarget, repository: str, data: bytes, media_type: str) -> Any:
    desc = descriptor_for(data, media_type)
    target.push(repository, desc, io.BytesIO(data))
    return desc


def _store(target: MemoryTarget, config_type: str, layer_type: str, *, index: bool = False,
           version: str = "1.0.0+build.7") -> None:
    repository = "component-descriptors/github.com/acme/legacy"
    descriptor = {"meta": {"schemaVersion": "v2"}, "component": {
        "name": "github.com/acme/legacy", "version": version, "provider": "acme", "repositoryContexts": [],
        "sources": [], "componentReferences": [], "resources": []}}
    body = (json.dumps(descriptor).encode() if layer_type.endswith("+json")
            else descriptor_yaml(descriptor))
    layer = _push(target, repository, descriptor_tar(body) if layer_type.endswith("+tar") else body, layer_type)
    config = _push(target, repository, json.dumps({"componentDescriptorLayer": layer.to_dict()}).encode(),
                   config_type)
    manifest = _push(target, repository, canonical_json({
        "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "config": config.to_dict(),
        "layers": [layer.to_dict()]}), MediaType.OCI_MANIFEST)
    top = manifest
    if index:
        other = _push(target, repository, canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                                                          "config": config.to_dict(), "layers": []}),
                      MediaType.OCI_MANIFEST)
        entries = [other.to_dict(), manifest.with_annotations({"software.ocm.descriptor": "true"}).to_dict()]
        top = _push(target, repository, canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX,
                                                        "manifests": entries}), MediaType.OCI_INDEX)
    target.tag(repository, top, version.replace("+", ".build-"))


@pytest.mark.parametrize(("config_type", "layer_type"), [
    ("application/vnd.ocm.software.component.config.v1+json",
     "application/vnd.ocm.software.component-descriptor.v2+json"),
    ("application/vnd.ocm.software.component.config.v1+json",
     "application/vnd.ocm.software.component-descriptor.v2+yaml"),
    ("application/vnd.gardener.cloud.cnudie.component.config.v1+json",
     "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+yaml+tar"),
    ("application/vnd.oci.gardener.cloud.cnudie.component-descriptor-metadata.config.v2+json",
     "application/vnd.oci.gardener.cloud.cnudie.component-descriptor.config.v2+yaml+tar"),
    ("application/vnd.gardener.cloud.cnudie.component.config.v1+json",
     "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+json"),
])
@pytest.mark.parametrize("index", [False, True])
def test_fetch_accepts_current_and_legacy_media_types(config_type: str, layer_type: str, index: bool) -> None:
    target = MemoryTarget()
    _store(target, config_type, layer_type, index=index)
    assert list_versions(target, "github.com/acme/legacy") == ["1.0.0+build.7"]
    cv = fetch_component(target, "github.com/acme/legacy", "1.0.0+build.7")
    assert cv.tag == "1.0.0.build-build.7"
    assert cv.descriptor["component"]["version"] == "1.0.0+build.7"
    assert cv.descriptor_layer.media_type == layer_type and cv.layers == ()


def test_fetch_rejects_what_is_no_component_version() -> None:
    target = MemoryTarget()
    _store(target, "application/vnd.oci.image.config.v1+json", MediaType.OCM_DESCRIPTOR_YAML_TAR)
    with pytest.raises(VerificationError, match="is not an OCM component version"):
        fetch_component(target, "github.com/acme/legacy", "1.0.0+build.7")
    with pytest.raises(NotFound):
        fetch_component(target, "github.com/acme/legacy", "9.9.9")


def test_list_versions_newest_first() -> None:
    target = MemoryTarget()
    repository = "component-descriptors/github.com/acme/versions"
    manifest = _push(target, repository, canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST}),
                     MediaType.OCI_MANIFEST)
    for tag in ("1.0.0", "1.10.0", "1.2.0", "1.2.0-rc.1", "1.2.0-rc.10", "1.2.0-rc.2", "1473.0",
                "1.2.0.build-ci.7", "latest", "sha256-" + "a" * 64):
        target.tag(repository, manifest, tag)
    assert list_versions(target, "github.com/acme/versions") == [
        "1473.0", "1.10.0", "1.2.0+ci.7", "1.2.0", "1.2.0-rc.10", "1.2.0-rc.2", "1.2.0-rc.1", "1.0.0", "latest"]
    assert list_versions(target, "github.com/acme/none") == []


# -- corrupt and wrong-shaped content: errors that name the object, never a decode traceback


def _tagged_manifest(target: MemoryTarget, manifest: Any) -> None:
    """Store `manifest` (bytes or JSON) under its own digest and tag it as github.com/acme/bad:1.0.0."""
    repository = "component-descriptors/github.com/acme/bad"
    data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    target.tag(repository, _push(target, repository, data, MediaType.OCI_MANIFEST), "1.0.0")


_CONFIG = descriptor_for(b"{}", MediaType.OCM_CONFIG).to_dict()


@pytest.mark.parametrize(("manifest", "message"), [
    (b"\xff\x00 not json", "not valid JSON"),
    (b'{"schemaVersion": 2, "config": {', "not valid JSON"),
    ([_CONFIG], "not a JSON object"),
    ({"schemaVersion": 2, "config": _CONFIG}, "malformed manifest: no `layers` list"),
    ({"config": _CONFIG, "layers": "abc"}, "malformed manifest: no `layers` list"),
    ({"config": "x", "layers": []}, "malformed manifest: `config` is not a descriptor object"),
    ({"layers": []}, "malformed manifest: `config` is not a descriptor object"),
    ({"config": _CONFIG, "layers": [7]}, r"malformed manifest: `layers\[0\]` is not a descriptor object"),
    ({"config": {**_CONFIG, "annotations": "x"}, "layers": []}, r"`config.annotations` is not a mapping"),
    ({"config": {**_CONFIG, "size": "1"}, "layers": []}, "malformed manifest: `config`: .* no valid size"),
    ({"mediaType": "application/json", "config": _CONFIG, "layers": []}, "not an OCI manifest or index"),
    ({"mediaType": MediaType.OCI_INDEX, "manifests": {"a": 1}}, "malformed manifest: no `manifests` list"),
    ({"mediaType": MediaType.OCI_INDEX, "manifests": [{"digest": "sha256:x", "annotations": [1]}]},
     r"malformed manifest: `manifests\[\]\.annotations` is not a mapping"),
])
def test_fetch_names_a_malformed_manifest(manifest: Any, message: str) -> None:
    target = MemoryTarget()
    _tagged_manifest(target, manifest)
    with pytest.raises(VerificationError, match=message) as info:
        fetch_component(target, "github.com/acme/bad", "1.0.0")
    assert "component-descriptors/github.com/acme/bad" in info.value.message
    [failure] = verify(target, "github.com/acme/bad").failures
    assert failure.kind is CheckKind.COMPONENT and failure.detail == info.value.message


def test_component_archive_without_a_component_mapping(tmp_path: Path) -> None:
    (tmp_path / "component-descriptor.yaml").write_text("meta: {schemaVersion: v2}\ncomponent: just a string\n")
    with pytest.raises(TargetError, match="has no `component` mapping"):
        open_archive(tmp_path, "ca")
    (tmp_path / "component-descriptor.yaml").write_text("component: [unclosed\n")
    with pytest.raises(VerificationError, match="not valid YAML or JSON"):
        open_archive(tmp_path, "ca")


@pytest.mark.parametrize("what", ["manifest", "layer"])
def test_truncated_ctf_blob_fails_verify_without_deep(what: str, tmp_path: Path) -> None:
    archive = shutil.copytree(CTF / "01" / "transport-archive", tmp_path / "ctf")
    target = open_archive(archive, "ctf")
    cv = fetch_component(target, HELLO, "1.0.0")
    desc = cv.manifest_descriptor if what == "manifest" else cv.layers[0]
    assert isinstance(target, CtfArchive) and target.size(cv.repository, desc) == desc.size
    blob = archive / "blobs" / desc.digest.replace(":", ".")
    blob.write_bytes(blob.read_bytes()[: desc.size // 2])
    report = verify(open_archive(archive, "ctf"))
    assert not report.ok
    assert all(desc.digest in c.detail for c in report.failures), report.failures
    assert {c.kind for c in report.failures} == ({CheckKind.COMPONENT} if what == "manifest"
                                                 else {CheckKind.RESOURCE, CheckKind.SIZE})
