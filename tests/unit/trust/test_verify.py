"""verify(): a release published by the real code path verifies; each kind of tampering gives its specific failure."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import ocm
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from gardenlinux_ocm.oci.layout import REF_NAME, LayoutTarget
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.oci.target import Target
from gardenlinux_ocm.ocm.fetch import ComponentVersion, fetch_component
from gardenlinux_ocm.ocm.pack import pack_component
from gardenlinux_ocm.ocm.serialise import descriptor_tar, descriptor_yaml
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.trust.sign import sign_published
from gardenlinux_ocm.trust.verify import Check, CheckKind, VerifyReport, verify
from support.release import DATA, VERSION

SCHEMAS = DATA / "ocm" / "schemas"
RELEASE = "github.com/gardenlinux/gardenlinux"
CLOUD = RELEASE  # the release component holds every flavor's resources (glci's contract)
CONTAINERS = f"{RELEASE}/container-images"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
V2_SCHEMAS = ("ocm--component-descriptor-v2-schema.yaml", "cc-utils--ocm-component-descriptor-schema.yaml",
              "ocm-spec-2023-historical--compdesc-v2-json-schema.yaml",
              "open-component-model--descriptor-v2-schema-2020-12.json")


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signed(published_plan: tuple[Path, ReleasePlan], signing_key: rsa.RSAPrivateKey,
           tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify-signed") / "oci"
    shutil.copytree(published_plan[0], out)
    sign_published(LayoutTarget(out), RELEASE, VERSION, signing_key)
    return out


@pytest.fixture
def release(published_plan: tuple[Path, ReleasePlan], tmp_path: Path) -> LayoutTarget:
    shutil.copytree(published_plan[0], tmp_path / "oci")
    return LayoutTarget(tmp_path / "oci")


@pytest.fixture
def signed_release(signed: Path, tmp_path: Path) -> LayoutTarget:
    shutil.copytree(signed, tmp_path / "oci")
    return LayoutTarget(tmp_path / "oci")


def _failures(report: VerifyReport) -> list[Check]:
    assert not report.ok
    return report.failures


def _republish(target: Target, cv: ComponentVersion, descriptor: dict[str, Any]) -> None:
    """Write an edited descriptor back as a new component version manifest under the same tag."""
    packed = pack_component(descriptor, {layer.digest: layer.size for layer in cv.layers})
    for data, media_type in ((packed.config, MediaType.OCM_CONFIG), (packed.layer, MediaType.OCM_DESCRIPTOR_YAML_TAR),
                             (packed.manifest, MediaType.OCI_MANIFEST)):
        target.push(packed.repository, descriptor_for(data, media_type), io.BytesIO(data))
    target.tag(packed.repository, packed.manifest_descriptor, packed.tag)


def _first_blob_resource(descriptor: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in descriptor["component"]["resources"] if r["access"]["type"] == "ociBlob")


# -- a clean release


def test_clean_release_verifies_every_flavor_and_container(published_plan: tuple[Path, ReleasePlan]) -> None:
    path, plan = published_plan
    report = verify(LayoutTarget(path, read_only=True))
    assert report.ok, report.failures
    assert (report.component, report.version) == (RELEASE, VERSION)
    resources = [c for c in report.checks if c.kind is CheckKind.RESOURCE and not c.skipped]
    for root in plan.roots:
        if root.kind in (RootKind.FLAVOR, RootKind.CONTAINER):
            reference = f"{root.repository}:{root.tags[0]}@{root.descriptor.digest}"
            assert [c for c in resources if c.detail == f"{reference} resolves"], root.label
    artefacts = [r for r in plan.roots if r.kind in (RootKind.FLAVOR, RootKind.CONTAINER)]
    assert len([c for c in report.checks if c.kind is CheckKind.INDEX]) == len(artefacts) == 26 + 6  # 3 containers
    assert {c.component for c in report.checks} == {f"{n}:{VERSION}" for n in (RELEASE, CLOUD, CONTAINERS)}
    assert [c.subject for c in report.checks if c.skipped] == [
        "gardenlinux: github-release", "gardenlinux: gardener-toolbelt", "gardenlinux: nvidia-driver-installer"]
    assert not [c for c in report.checks if c.kind is CheckKind.CONTENT]


def test_deep_rehashes_every_blob(published_plan: tuple[Path, ReleasePlan]) -> None:
    path, plan = published_plan
    report = verify(LayoutTarget(path, read_only=True), RELEASE, VERSION, deep=True)
    assert report.ok, report.failures
    checked = [c for c in report.checks if c.kind is CheckKind.RESOURCE and not c.skipped]
    content = [c for c in report.checks if c.kind is CheckKind.CONTENT]
    components = ["gardenlinux", "container-images"]  # each component version's own graph
    assert [c.subject for c in content if c.subject in components] == components
    referred = {c.subject for c in report.checks if c.kind is CheckKind.REFERRER}
    assert len(referred) == 2  # the gdch SBOMs: their referrer's graph is re-hashed too, after the file's
    expected = [s for c in checked for s in ([c.subject] * (2 if c.subject in referred else 1))]
    assert [c.subject for c in content if c.subject not in components] == expected
    assert not [c for c in report.checks if c.kind is CheckKind.SIZE]  # deep re-hashes instead
    # the release index's graph is every object of the release repository but the referrers (manifest, SBOM) and
    # their fallback indexes
    objects = len(list((path / "gardenlinux" / "blobs" / "sha256").iterdir()))
    attached = [r for r in plan.roots if r.kind in (RootKind.REFERRER, RootKind.REFERRERS)]
    assert len(attached) == 4
    index_row = next(c for c in content if c.subject == "gardenlinux: release-index")
    assert index_row.detail.startswith(f"{objects - len(attached) - 2} object(s)")


def test_every_descriptor_validates_against_the_reference_schemas(
        published_plan: tuple[Path, ReleasePlan], signed: Path) -> None:
    validators = {}
    for schema_file in V2_SCHEMAS:
        schema = yaml.load((SCHEMAS / schema_file).read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        validator_class = jsonschema.validators.validator_for(schema)
        assert validator_class is jsonschema.Draft202012Validator  # every v2 schema declares 2020-12
        validator_class.check_schema(schema)
        validators[schema_file] = validator_class(schema)
    for path in (published_plan[0], signed):
        target = LayoutTarget(path, read_only=True)
        for name in (RELEASE, CONTAINERS):
            descriptor = fetch_component(target, name, VERSION).descriptor
            for schema_file, validator in validators.items():
                assert [e.message for e in validator.iter_errors(descriptor)] == [], (schema_file, name)
            ocm.ComponentDescriptor.from_dict(descriptor, validation_mode=ocm.ValidationMode.FAIL)
    assert fetch_component(LayoutTarget(signed), RELEASE, VERSION).descriptor["signatures"]


# -- tampering


def test_changed_blob_is_found_by_deep_only(release: LayoutTarget) -> None:
    resource = _first_blob_resource(fetch_component(release, CLOUD, VERSION).descriptor)
    digest = resource["access"]["digest"]
    blob = release.root / "gardenlinux" / "blobs" / "sha256" / digest.removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    assert verify(release).ok
    failures = _failures(verify(release, deep=True))
    assert {c.kind for c in failures} == {CheckKind.CONTENT}
    assert all(f"gardenlinux@{digest}" in c.detail and "hashes to" in c.detail for c in failures)
    # the resource itself, the flavor manifest that lists the file, and the release index above it
    assert len(failures) == 3 and any(c.subject.startswith(f"gardenlinux: {resource['name']}[") for c in failures)


def test_repointed_tag(release: LayoutTarget) -> None:
    moved, other = f"{VERSION}-ali-gardener_prod-amd64", f"{VERSION}-aws-gardener_prod-amd64"
    release.tag("gardenlinux", release.resolve("gardenlinux", other), moved)
    [failure] = _failures(verify(release))
    assert failure.kind is CheckKind.RESOURCE
    assert failure.subject == "gardenlinux: flavor[architecture=amd64 feature-flags=gardener,_prod platform=ali]"
    assert f"tag gardenlinux:{moved} points at {release.resolve('gardenlinux', other).digest}" in failure.detail


def test_edited_descriptor_gives_a_digest_mismatch(release: LayoutTarget) -> None:
    cv = fetch_component(release, CLOUD, VERSION)
    descriptor = json.loads(json.dumps(cv.descriptor))
    resource = _first_blob_resource(descriptor)
    resource["digest"]["value"] = "0" * 64
    _republish(release, cv, descriptor)
    [failure] = _failures(verify(release))
    assert failure.kind is CheckKind.RESOURCE
    assert failure.subject.startswith(f"gardenlinux: {resource['name']}[")
    assert f"digest mismatch: the resource digest is sha256:{'0' * 64}" in failure.detail


def test_edited_descriptor_of_a_signed_release_breaks_the_signature(
        signed_release: LayoutTarget, signing_key: rsa.RSAPrivateKey) -> None:
    keys = [(None, signing_key.public_key())]
    assert verify(signed_release, public_keys=keys).ok
    cv = fetch_component(signed_release, CONTAINERS, VERSION)  # a referenced component: the chain breaks
    descriptor = json.loads(json.dumps(cv.descriptor))
    next(r for r in descriptor["component"]["resources"] if r["access"]["type"] == "localBlob")["digest"]["value"] = (
        "0" * 64)
    _republish(signed_release, cv, descriptor)
    failures = _failures(verify(signed_release, public_keys=keys))
    assert [c.kind for c in failures] == [CheckKind.RESOURCE, CheckKind.DIGEST, CheckKind.SIGNATURE]
    assert failures[1].subject == "gardenlinux -> container-images" and "digest mismatch" in failures[1].detail
    assert "the reference chain is broken" in failures[2].detail


def test_edited_root_descriptor_fails_its_signature(
        signed_release: LayoutTarget, signing_key: rsa.RSAPrivateKey) -> None:
    cv = fetch_component(signed_release, RELEASE, VERSION)
    descriptor = json.loads(json.dumps(cv.descriptor))
    descriptor["component"]["provider"] = "Someone Else"
    _republish(signed_release, cv, descriptor)
    assert verify(signed_release).ok  # still whole, and nothing asked about signatures
    [failure] = _failures(verify(signed_release, public_keys=[(None, signing_key.public_key())]))
    assert failure.kind is CheckKind.SIGNATURE
    assert "jsonNormalisation/v3 digest mismatch" in failure.detail


def test_missing_flavor_in_the_index(release: LayoutTarget) -> None:
    index_desc = release.resolve("gardenlinux", VERSION)
    with release.fetch("gardenlinux", index_desc) as f:
        index = json.loads(f.read())
    dropped = next(m for m in index["manifests"] if m.get("annotations", {}).get("io.gardenlinux.platform") == "aws")
    index["manifests"] = [m for m in index["manifests"] if m is not dropped]
    data = canonical_json(index)
    new = descriptor_for(data, MediaType.OCI_INDEX)
    release.push("gardenlinux", new, io.BytesIO(data))
    release.tag("gardenlinux", new, VERSION)
    failures = _failures(verify(release))
    assert [c.kind for c in failures] == [CheckKind.RESOURCE, CheckKind.INDEX]
    assert failures[0].subject == "gardenlinux: release-index" and "points at" in failures[0].detail
    flavor = dropped["annotations"]
    assert failures[1].subject == f"gardenlinux:{VERSION}-{flavor['io.gardenlinux.flavor']}"
    assert failures[1].detail == f"missing in gardenlinux:{VERSION} ({new.digest})"


def test_removed_referenced_component(release: LayoutTarget) -> None:
    index_file = release.root / "component-descriptors" / CONTAINERS / "index.json"
    index = json.loads(index_file.read_bytes())
    index["manifests"] = [m for m in index["manifests"] if m["annotations"][REF_NAME] != VERSION]
    index_file.write_bytes(canonical_json(index))
    failures = _failures(verify(release))
    assert failures[0].kind is CheckKind.REFERENCE
    assert failures[0].subject == "gardenlinux -> container-images"
    assert failures[0].detail.startswith(f"{CONTAINERS}:{VERSION} is missing")
    # the container images in the index are now described by nothing
    assert [c.kind for c in failures[1:]] == [CheckKind.INDEX, CheckKind.INDEX]
    assert all("no resource of the component closure describes" in c.detail for c in failures[1:])


def test_wrong_key(signed_release: LayoutTarget) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    failures = _failures(verify(signed_release, public_keys=[(None, other.public_key())]))
    [failure] = [c for c in failures if not c.detail.startswith("cosign:")]
    assert failure.kind is CheckKind.SIGNATURE
    assert failure.detail == "gardenlinux: RSASSA-PKCS1-V1_5 signature invalid"
    images = [c for c in failures if c.detail.startswith("cosign:")]  # every manifest's cosign signature, too
    assert images and all(c.kind is CheckKind.SIGNATURE and "does not verify with the key" in c.detail for c in images)


def test_signature_name_without_key_checks_the_digest(signed_release: LayoutTarget) -> None:
    report = verify(signed_release, signature_names=["gardenlinux"])
    assert report.ok
    assert [c.detail.endswith("(no key: authenticity not checked)") for c in report.checks
            if c.kind is CheckKind.SIGNATURE] == [True]
    [failure] = _failures(verify(signed_release, signature_names=["nope"]))
    assert failure.detail == "no signature named nope"


# -- the component graph


def _component(name: str, references: list[str]) -> dict[str, Any]:
    return {"meta": {"schemaVersion": "v2"}, "component": {
        "name": name, "version": "1.0.0", "provider": "acme", "repositoryContexts": [], "sources": [],
        "resources": [], "componentReferences": [
            {"name": f"ref-{r.rsplit('/', 1)[-1]}", "componentName": r, "version": "1.0.0"} for r in references]}}


def _push_component(target: MemoryTarget, descriptor: dict[str, Any]) -> None:
    packed = pack_component(descriptor, {})
    for data, media_type in ((packed.config, MediaType.OCM_CONFIG), (packed.layer, MediaType.OCM_DESCRIPTOR_YAML_TAR),
                             (packed.manifest, MediaType.OCI_MANIFEST)):
        target.push(packed.repository, descriptor_for(data, media_type), io.BytesIO(data))
    target.tag(packed.repository, packed.manifest_descriptor, packed.tag)


def test_cycles_and_missing_components_are_reported() -> None:
    target = MemoryTarget()
    a, b, c = "github.com/acme/a", "github.com/acme/b", "github.com/acme/c"
    _push_component(target, _component(a, [b, c]))
    _push_component(target, _component(b, [a]))
    failures = _failures(verify(target, a))
    assert [(f.kind, f.subject) for f in failures] == [(CheckKind.REFERENCE, "b -> ref-a"),
                                                       (CheckKind.REFERENCE, "a -> ref-c")]
    assert failures[0].detail == f"cycle: {a}:1.0.0 -> {b}:1.0.0 -> {a}:1.0.0"
    assert failures[1].detail.startswith(f"{c}:1.0.0 is missing")


def test_malformed_descriptor_is_reported_not_raised(signing_key: rsa.RSAPrivateKey) -> None:
    target = MemoryTarget()
    descriptor = _component("github.com/acme/bad", [])
    descriptor["component"].update(resources=5, componentReferences="x", provider={"name": 1})
    descriptor["signatures"] = {"not": "a list"}
    repository = "component-descriptors/github.com/acme/bad"
    layer = descriptor_tar(descriptor_yaml(descriptor))  # pack_component refuses it, so build the manifest here
    layer_desc = descriptor_for(layer, MediaType.OCM_DESCRIPTOR_YAML_TAR)
    config = json.dumps({"componentDescriptorLayer": layer_desc.to_dict()}).encode()
    config_desc = descriptor_for(config, MediaType.OCM_CONFIG)
    manifest = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                               "config": config_desc.to_dict(), "layers": [layer_desc.to_dict()]})
    manifest_desc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    for desc, data in ((layer_desc, layer), (config_desc, config), (manifest_desc, manifest)):
        target.push(repository, desc, io.BytesIO(data))
    target.tag(repository, manifest_desc, "1.0.0")
    [failure] = _failures(verify(target, "github.com/acme/bad", public_keys=[(None, signing_key.public_key())],
                                 signature_names=["x"]))[:1]
    assert failure.kind is CheckKind.SCHEMA


def test_unknown_component_fails() -> None:
    [failure] = _failures(verify(MemoryTarget(), "github.com/acme/none"))
    assert failure.kind is CheckKind.COMPONENT
    assert failure.detail == "no versions of github.com/acme/none on memory"
