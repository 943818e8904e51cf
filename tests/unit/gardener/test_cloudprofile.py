"""`render_cloud_profile` on hand-built descriptors, its field names against the documented examples, and
`gl-ocm cloud-profile` end to end on the sample release published to a layout and labelled as glci labels it."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import GardenerError, UsageError
from gardenlinux_ocm.gardener.cloudprofile import (
    HyperVGeneration,
    ImageChoice,
    OpenStackVariant,
    ProfileFormat,
    ProfileOptions,
    Provider,
    gardener_version,
    parse_flavor_flags,
    render_cloud_profile,
)
from gardenlinux_ocm.ocm.labels import PUBLISHED_IMAGES_LABEL, RELEASE_COMPONENT
from support.release import DATA, VERSION

DOCS = DATA / "gardener"
CLOUD_IMAGES = f"{RELEASE_COMPONENT}/cloud-images"
CAP, LEG = ProfileFormat.CAPABILITIES, ProfileFormat.LEGACY
runner = CliRunner()

# glci's publishing output, one per (platform, architecture); ali arm64 is left unpublished on purpose.
GALLERY = "/CommunityGalleries/gl-1/Images"
PUBLISHED: dict[tuple[str, str], dict[str, Any]] = {
    ("aws", "amd64"): {"published_aws_images": [
        {"ami_id": "ami-0a0000000000000b2", "aws_region_id": "us-east-1", "image_name": "gl-aws-amd64"},
        {"ami_id": "ami-0a0000000000000b1", "aws_region_id": "eu-central-1", "image_name": "gl-aws-amd64"},
        {"ami_id": "ami-0a0000000000000c1", "aws_region_id": "cn-north-1", "image_name": "gl-aws-amd64",
         "cloud": "China"}]},
    ("aws", "arm64"): {"published_aws_images": [
        {"ami_id": "ami-0b0000000000000b1", "aws_region_id": "eu-central-1", "image_name": "gl-aws-arm64"}]},
    ("azure", "amd64"): {"published_gallery_images": [
        {"azure_cloud": "public", "community_gallery_image_id": f"{GALLERY}/gen1/Versions/1473.0.0",
         "hyper_v_generation": "V1"},
        {"azure_cloud": "public", "community_gallery_image_id": f"{GALLERY}/amd64/Versions/1473.0.0",
         "hyper_v_generation": "V2"},
        {"azure_cloud": "china", "community_gallery_image_id": "/CommunityGalleries/gl-cn/Images/amd64/Versions/1",
         "hyper_v_generation": "V2"}]},
    ("azure", "arm64"): {"published_gallery_images": [
        {"azure_cloud": "public", "community_gallery_image_id": f"{GALLERY}/arm64/Versions/1473.0.0",
         "hyper_v_generation": "V2"}]},
    ("gcp", "amd64"): {"gcp_image_name": "gardenlinux-gcp-amd64-1473-0", "gcp_project_name": "gl-project"},
    ("gcp", "arm64"): {"gcp_image_name": "gardenlinux-gcp-arm64-1473-0", "gcp_project_name": "gl-project"},
    ("openstack", "amd64"): {"published_openstack_images": [
        {"image_id": "os-vmw-eu", "image_name": "gl-os", "region_name": "eu-de-1", "variant": "vmware"},
        {"image_id": "os-vmw-ap", "image_name": "gl-os", "region_name": "ap-jp-1", "variant": "vmware"}]},
    ("openstackbaremetal", "amd64"): {"published_openstack_images": [
        {"image_id": "os-metal-amd64", "image_name": "gl-osbm", "region_name": "eu-de-1", "variant": "metal"}]},
    ("openstackbaremetal", "arm64"): {"published_openstack_images": [
        {"image_id": "os-metal-arm64", "image_name": "gl-osbm", "region_name": "eu-de-1"}]},  # older glci: no variant
    ("ali", "amd64"): {"published_alicloud_images": [
        {"image_id": "m-sh", "image_name": "gl-ali", "region_id": "cn-shanghai"},
        {"image_id": "m-fra", "image_name": "gl-ali", "region_id": "eu-central-1"}]},
}
VARIANTS = {"openstack": "vmware", "openstackbaremetal": "metal"}


def _label(value: Any) -> dict[str, Any]:
    return {"name": PUBLISHED_IMAGES_LABEL, "value": value}


def _image(platform: str, arch: str, flags: str = "gardener,_prod", *, variant: str | None = None,
           published: Any = "table") -> dict[str, Any]:
    """A `gardenlinux` resource as the release renders it; published from PUBLISHED unless told otherwise."""
    identity = {"platform": platform, "architecture": arch, "feature-flags": flags}
    if variant or platform in VARIANTS:
        identity["platform_variant"] = variant or VARIANTS[platform]
    resource: dict[str, Any] = {"name": "gardenlinux", "version": VERSION, "type": "virtual_machine_image",
                                "extraIdentity": identity, "relation": "local"}
    value = PUBLISHED.get((platform, arch)) if published == "table" else published
    if value is not None:
        resource["labels"] = [{"name": "other", "value": 1}, _label(value)]
    return resource


def _descriptor(name: str, resources: Sequence[Mapping[str, Any]], refs: Iterable[str] = (),
                version: str = VERSION) -> dict[str, Any]:
    return {"meta": {"schemaVersion": "v2"}, "component": {
        "name": name, "version": version, "provider": "SAP SE", "repositoryContexts": [],
        "resources": list(resources), "sources": [],
        "componentReferences": [{"name": r.rsplit("/", 1)[-1], "componentName": r, "version": version} for r in refs]}}


ALL = [_image(p, a) for p in ("aws", "azure", "gcp", "ali", "openstackbaremetal") for a in ("amd64", "arm64")] + [
    _image("openstack", "amd64"), _image("aws", "amd64", "gardener,_prod,_secureboot", published=None),
    _image("kvm", "amd64")]


def _release(resources: Sequence[Mapping[str, Any]] = tuple(ALL), *, in_root: bool = False,
             version: str = VERSION) -> list[dict[str, Any]]:
    """The release with its images in the root (after the move) or in the referenced cloud-images (before)."""
    if in_root:
        return [_descriptor(RELEASE_COMPONENT, resources, version=version)]
    return [_descriptor(CLOUD_IMAGES, resources, version=version),
            _descriptor(RELEASE_COMPONENT, [], [CLOUD_IMAGES], version=version)]


def _render(provider: Provider, fmt: ProfileFormat = CAP, descriptors: Sequence[Mapping[str, Any]] | None = None,
            **options: Any) -> dict[str, Any]:
    result = render_cloud_profile(_release() if descriptors is None else descriptors,
                                  ProfileOptions(provider=provider, format=fmt, **options))
    return result.document


def _config(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    [image] = document["spec"]["providerConfig"]["machineImages"]
    assert image["name"] == "gardenlinux"
    versions: list[dict[str, Any]] = image["versions"]
    return versions


# -- the documented examples (tests/data/gardener, provenance in its README)
_OPTIONAL = re.compile(r"(?m)^(\s*)# ([A-Za-z][\w-]*: .*# optional)\s*$")


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths, list items as `[]`."""
    out: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out |= {path} | _paths(item, path)
    elif isinstance(value, list):
        for item in value:
            out |= _paths(item, prefix + "[]")
    return out


def _documents(name: str) -> list[dict[str, Any]]:
    """The example's documents, with `# key: value # optional` lines read as the keys they document."""
    return list(yaml.safe_load_all(_OPTIONAL.sub(r"\1\2", (DOCS / name).read_text(encoding="utf-8"))))


def _documented(names: Iterable[str], part: str) -> set[str]:
    """Key paths of `spec.machineImages` (part "core") or `spec.providerConfig` (part "provider")."""
    out: set[str] = set()
    for name in names:
        for doc in _documents(name):
            wrapped = {"spec": {"providerConfig": doc}} if doc["kind"] == "CloudProfileConfig" else doc
            key = "machineImages" if part == "core" else "providerConfig"
            if key in wrapped["spec"]:
                out |= _paths({"spec": {key: wrapped["spec"][key]}})
    return out


CORE_DOCS = {CAP: ["aws-capabilities.yaml", "azure-capabilities.yaml", "gcp-capabilities.yaml",
                   "alicloud-capabilities.yaml"],
             LEG: ["core-local.yaml", "gcp-legacy.yaml", "openstack-legacy.yaml", "aws-legacy.yaml"]}


def _assert_documented(document: Mapping[str, Any], provider: Provider, fmt: ProfileFormat) -> None:
    ours = _paths(document)
    core = {p for p in ours if p.startswith("spec.machineImages")}
    config = {p for p in ours if p.startswith("spec.providerConfig")}
    assert core | config | {"spec"} == ours
    assert core - _documented(CORE_DOCS[fmt], "core") == set()
    assert config - _documented([f"{provider}-{fmt}.yaml"], "provider") == set()
    [example] = [d for d in _documents(f"{provider}-{fmt}.yaml") if d["kind"] == "CloudProfileConfig"]
    assert document["spec"]["providerConfig"]["apiVersion"] == example["apiVersion"]
    assert document["spec"]["providerConfig"]["kind"] == example["kind"] == "CloudProfileConfig"


def test_every_example_is_listed_with_its_digest() -> None:
    readme = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = dict((m.group(2), m.group(1)) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE))
    present = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in DOCS.iterdir() if p.suffix == ".yaml"}
    assert listed == present


def test_a_wrong_field_name_is_caught() -> None:
    """The check itself: renaming `ami` to `amiID` makes a path no example documents."""
    document = copy.deepcopy(_render(Provider.AWS))
    document["spec"]["providerConfig"]["machineImages"][0]["versions"][0]["capabilityFlavors"][0]["regions"][0] = {
        "name": "eu-central-1", "amiID": "ami-1"}
    with pytest.raises(AssertionError):
        _assert_documented(document, Provider.AWS, CAP)


@pytest.mark.parametrize("fmt", [CAP, LEG])
@pytest.mark.parametrize("provider", list(Provider))
def test_field_names_are_the_documented_ones(provider: Provider, fmt: ProfileFormat) -> None:
    _assert_documented(_render(provider, fmt), provider, fmt)


# -- the core entry
@pytest.mark.parametrize(("version", "expected"), [
    ("1877.3", "1877.3.0"), ("1877", "1877.0.0"), ("1877.3.1", "1877.3.1"), ("0.1", "0.1.0"),
    ("1877.3+dev.7", "1877.3.0+dev.7"), ("1877.3.1+build-2", "1877.3.1+build-2"), ("1877.3-rc1", "1877.3.0-rc1")])
def test_versions_become_three_part_semver(version: str, expected: str) -> None:
    assert gardener_version(version) == expected


@pytest.mark.parametrize("version", ["1877.03", "v1877.3", "1877.3.1.2", "", "1877.", "1877.3+", "today"])
def test_a_version_gardener_cannot_take_is_an_error(version: str) -> None:
    with pytest.raises(GardenerError, match="cannot be a Gardener machine image version"):
        gardener_version(version)


def test_core_entry_in_both_formats() -> None:
    descriptors = _release(version="1877.3")
    [cap] = _render(Provider.AWS, CAP, descriptors)["spec"]["machineImages"]
    assert cap == {"name": "gardenlinux", "versions": [{
        "version": "1877.3.0", "cri": [{"name": "containerd"}],
        "capabilityFlavors": [{"architecture": ["amd64"]}, {"architecture": ["arm64"]}]}]}
    [leg] = _render(Provider.AWS, LEG, descriptors, image_name="garden-linux")["spec"]["machineImages"]
    assert leg == {"name": "garden-linux", "versions": [{
        "version": "1877.3.0", "cri": [{"name": "containerd"}], "architectures": ["amd64", "arm64"]}]}


def test_architectures_come_from_the_identities() -> None:
    only_arm = [_image("aws", "arm64"), _image("aws", "amd64", published=None)]
    result = render_cloud_profile(_release(only_arm), ProfileOptions(provider=Provider.AWS, format=LEG))
    assert result.document["spec"]["machineImages"][0]["versions"][0]["architectures"] == ["arm64"]
    assert _config(result.document) == [{"version": "1473.0.0", "regions": [
        {"name": "eu-central-1", "ami": "ami-0b0000000000000b1", "architecture": "arm64"}]}]


# -- each provider
def test_aws() -> None:
    assert _config(_render(Provider.AWS)) == [{"version": "1473.0.0", "capabilityFlavors": [
        {"capabilities": {"architecture": ["amd64"]}, "regions": [
            {"name": "cn-north-1", "ami": "ami-0a0000000000000c1"},
            {"name": "eu-central-1", "ami": "ami-0a0000000000000b1"},
            {"name": "us-east-1", "ami": "ami-0a0000000000000b2"}]},
        {"capabilities": {"architecture": ["arm64"]}, "regions": [
            {"name": "eu-central-1", "ami": "ami-0b0000000000000b1"}]}]}]
    assert _config(_render(Provider.AWS, LEG)) == [{"version": "1473.0.0", "regions": [
        {"name": "cn-north-1", "ami": "ami-0a0000000000000c1", "architecture": "amd64"},
        {"name": "eu-central-1", "ami": "ami-0a0000000000000b1", "architecture": "amd64"},
        {"name": "eu-central-1", "ami": "ami-0b0000000000000b1", "architecture": "arm64"},
        {"name": "us-east-1", "ami": "ami-0a0000000000000b2", "architecture": "amd64"}]}]


def test_azure_takes_generation_v2_unless_told_v1() -> None:
    amd64, arm64, gen1 = (f"{GALLERY}/{a}/Versions/1473.0.0" for a in ("amd64", "arm64", "gen1"))
    assert _config(_render(Provider.AZURE)) == [{"version": "1473.0.0", "capabilityFlavors": [
        {"communityGalleryImageID": amd64, "capabilities": {"architecture": ["amd64"]}},
        {"communityGalleryImageID": arm64, "capabilities": {"architecture": ["arm64"]}}]}]
    assert _config(_render(Provider.AZURE, LEG)) == [
        {"version": "1473.0.0", "communityGalleryImageID": amd64, "architecture": "amd64"},
        {"version": "1473.0.0", "communityGalleryImageID": arm64, "architecture": "arm64"}]
    v1 = render_cloud_profile(_release(), ProfileOptions(
        provider=Provider.AZURE, format=LEG, choice=ImageChoice(hyper_v_generation=HyperVGeneration.V1)))
    assert _config(v1.document) == [{"version": "1473.0.0", "communityGalleryImageID": gen1, "architecture": "amd64"}]
    assert [s.architecture for s in v1.skipped] == ["arm64"]
    assert "Hyper-V generation V1" in v1.warnings[0]
    china = _render(Provider.AZURE, LEG, choice=ImageChoice(azure_cloud="china"))
    assert [v["communityGalleryImageID"] for v in _config(china)] == [
        "/CommunityGalleries/gl-cn/Images/amd64/Versions/1"]


def test_gcp() -> None:
    images = "projects/gl-project/global/images/gardenlinux-gcp"
    assert _config(_render(Provider.GCP)) == [{"version": "1473.0.0", "capabilityFlavors": [
        {"image": f"{images}-amd64-1473-0", "capabilities": {"architecture": ["amd64"]}},
        {"image": f"{images}-arm64-1473-0", "capabilities": {"architecture": ["arm64"]}}]}]
    assert _config(_render(Provider.GCP, LEG)) == [
        {"version": "1473.0.0", "image": f"{images}-amd64-1473-0", "architecture": "amd64"},
        {"version": "1473.0.0", "image": f"{images}-arm64-1473-0", "architecture": "arm64"}]


def test_openstack_one_variant_per_profile() -> None:
    """vmware (platform openstack) by default; metal (platform openstackbaremetal) when asked for."""
    assert _config(_render(Provider.OPENSTACK)) == [{"version": "1473.0.0", "capabilityFlavors": [
        {"capabilities": {"architecture": ["amd64"]}, "regions": [
            {"name": "ap-jp-1", "id": "os-vmw-ap"}, {"name": "eu-de-1", "id": "os-vmw-eu"}]}]}]
    metal = ProfileOptions(provider=Provider.OPENSTACK, format=LEG,
                           choice=ImageChoice(openstack_variant=OpenStackVariant.METAL))
    assert _config(render_cloud_profile(_release(), metal).document) == [{"version": "1473.0.0", "regions": [
        {"name": "eu-de-1", "id": "os-metal-amd64", "architecture": "amd64"},
        {"name": "eu-de-1", "id": "os-metal-arm64", "architecture": "arm64"}]}]


def test_openstack_images_of_another_variant_are_left_out() -> None:
    mixed = {"published_openstack_images": [
        {"image_id": "vmw", "image_name": "x", "region_name": "eu-de-1", "variant": "vmware"},
        {"image_id": "metal", "image_name": "x", "region_name": "eu-de-2", "variant": "metal"}]}
    document = _render(Provider.OPENSTACK, LEG, _release([_image("openstack", "amd64", published=mixed)]))
    assert _config(document)[0]["regions"] == [{"name": "eu-de-1", "id": "vmw", "architecture": "amd64"}]


def test_alicloud() -> None:
    result = render_cloud_profile(_release(), ProfileOptions(provider=Provider.ALICLOUD))
    assert _config(result.document) == [{"version": "1473.0.0", "capabilityFlavors": [
        {"capabilities": {"architecture": ["amd64"]}, "regions": [
            {"name": "cn-shanghai", "id": "m-sh"}, {"name": "eu-central-1", "id": "m-fra"}]}]}]
    assert _config(_render(Provider.ALICLOUD, LEG)) == [{"version": "1473.0.0", "regions": [
        {"name": "cn-shanghai", "id": "m-sh"}, {"name": "eu-central-1", "id": "m-fra"}]}]


def test_alicloud_legacy_cannot_say_arm64() -> None:
    arm = {"published_alicloud_images": [{"image_id": "m-arm", "image_name": "x", "region_id": "cn-shanghai"}]}
    resources = [_image("ali", "amd64"), _image("ali", "arm64", published=arm)]
    result = render_cloud_profile(_release(resources), ProfileOptions(provider=Provider.ALICLOUD, format=LEG))
    assert [(s.platform, s.architecture) for s in result.skipped] == [("ali", "arm64")]
    assert "use --format capabilities" in result.warnings[0]
    capabilities = render_cloud_profile(_release(resources), ProfileOptions(provider=Provider.ALICLOUD))
    assert capabilities.skipped == () and len(_config(capabilities.document)[0]["capabilityFlavors"]) == 2


# -- selection, skipping, errors
def test_found_in_the_root_and_in_referenced_components_alike() -> None:
    before = render_cloud_profile(_release(), ProfileOptions(provider=Provider.AWS))
    after = render_cloud_profile(_release(in_root=True), ProfileOptions(provider=Provider.AWS))
    both = _release() + [_descriptor(RELEASE_COMPONENT, ALL, [CLOUD_IMAGES])]  # mid-move: in both
    assert before.to_bytes() == after.to_bytes()
    assert render_cloud_profile(both[1:], ProfileOptions(provider=Provider.AWS)).to_bytes() == before.to_bytes()
    unlabelled_root = [_descriptor(CLOUD_IMAGES, ALL),
                       _descriptor(RELEASE_COMPONENT, [_image("aws", "arm64", published=None)], [CLOUD_IMAGES])]
    assert render_cloud_profile(unlabelled_root, ProfileOptions(provider=Provider.AWS)).to_bytes() == before.to_bytes()


def test_the_same_image_with_two_different_labels_is_an_error() -> None:
    other = {"published_aws_images": [{"ami_id": "ami-9", "aws_region_id": "eu-central-1", "image_name": "x"}]}
    descriptors = [_descriptor(CLOUD_IMAGES, ALL),
                   _descriptor(RELEASE_COMPONENT, [_image("aws", "arm64", published=other)], [CLOUD_IMAGES])]
    with pytest.raises(GardenerError, match="carry different"):
        render_cloud_profile(descriptors, ProfileOptions(provider=Provider.AWS))


def test_two_flavors_for_one_region_are_an_error() -> None:
    twin = {"published_aws_images": [{"ami_id": "ami-twin", "aws_region_id": "eu-central-1", "image_name": "x"}]}
    resources = [_image("aws", "arm64"), _image("aws", "arm64", variant="tpm", published=twin)]
    with pytest.raises(GardenerError, match="two aws images for arm64 in region eu-central-1") as e:
        render_cloud_profile(_release(resources), ProfileOptions(provider=Provider.AWS))
    assert e.value.hint and "--flavor-flags" in e.value.hint


def test_feature_flags_select_the_flavors() -> None:
    secure = {"published_aws_images": [{"ami_id": "ami-sec", "aws_region_id": "eu-west-1", "image_name": "x"}]}
    resources = [*ALL, _image("aws", "arm64", "gardener,_prod,_secureboot", published=secure)]
    options = ProfileOptions(provider=Provider.AWS, flavor_flags=parse_flavor_flags("_secureboot, _prod,gardener"))
    result = render_cloud_profile(_release(resources), options)
    assert _config(result.document)[0]["capabilityFlavors"] == [
        {"capabilities": {"architecture": ["arm64"]}, "regions": [{"name": "eu-west-1", "ami": "ami-sec"}]}]
    assert [(s.architecture, s.feature_flags) for s in result.skipped] == [("amd64", "gardener,_prod,_secureboot")]


def test_a_flavor_without_images_is_skipped_with_a_warning() -> None:
    result = render_cloud_profile(_release(), ProfileOptions(provider=Provider.ALICLOUD))
    assert [(s.component, s.platform, s.architecture) for s in result.skipped] == [(CLOUD_IMAGES, "ali", "arm64")]
    assert result.warnings == (f"skipped ali arm64 [gardener,_prod] in {CLOUD_IMAGES}: not published (no "
                               "published-image-metadata label)",)
    assert _render(Provider.ALICLOUD)["spec"]["machineImages"][0]["versions"][0]["capabilityFlavors"] == [
        {"architecture": ["amd64"]}]


def test_a_provider_without_published_images_is_an_error() -> None:
    unpublished = [_image(p, a, published=None) for p in ("aws", "gcp") for a in ("amd64", "arm64")]
    with pytest.raises(GardenerError) as e:
        render_cloud_profile(_release(unpublished), ProfileOptions(provider=Provider.AWS))
    assert e.value.exit_code == 2  # the provider asked for is at fault, as the flags for a release without them
    assert e.value.message.startswith(f"release {RELEASE_COMPONENT}:{VERSION} has no published images for provider aws")
    assert "aws amd64" in e.value.message and "aws arm64" in e.value.message
    assert e.value.hint and "glci" in e.value.hint and PUBLISHED_IMAGES_LABEL in e.value.hint


def test_no_flavor_of_the_provider_names_the_flags_there_are() -> None:
    with pytest.raises(GardenerError, match="has no aws flavor with feature flags _prod,gardener,usi") as e:
        render_cloud_profile(_release(), ProfileOptions(provider=Provider.AWS,
                                                        flavor_flags=parse_flavor_flags("gardener,_prod,usi")))
    assert e.value.hint == ("its aws flavors have the feature flags gardener,_prod | gardener,_prod,_secureboot; "
                            "choose with --flavor-flags")
    with pytest.raises(GardenerError, match="openstack/openstackbaremetal flavor of variant vmware"):
        render_cloud_profile(_release([_image("openstackbaremetal", "amd64")]),
                             ProfileOptions(provider=Provider.OPENSTACK))


@pytest.mark.parametrize("value", [["not", "a", "mapping"], {"published_aws_images": "ami-1"},
                                   {"published_aws_images": [{"ami_id": "ami-1"}]}])
def test_a_malformed_label_is_an_error(value: Any) -> None:
    with pytest.raises(GardenerError, match="published-image"):
        render_cloud_profile(_release([_image("aws", "amd64", published=value)]), ProfileOptions(provider=Provider.AWS))


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="names no feature flag"):
        parse_flavor_flags(" , ")
    with pytest.raises(UsageError, match="--image-name"):
        ProfileOptions(provider=Provider.AWS, image_name=" ")


def test_the_release_component_must_be_given() -> None:
    with pytest.raises(GardenerError, match="do not include the release component"):
        render_cloud_profile([_descriptor(CLOUD_IMAGES, ALL)], ProfileOptions(provider=Provider.AWS))


# -- determinism
def test_output_does_not_depend_on_input_order() -> None:
    reordered = _release(list(reversed(ALL)))
    for provider in Provider:
        for fmt in ProfileFormat:
            options = ProfileOptions(provider=provider, format=fmt)
            assert render_cloud_profile(_release(), options).to_bytes() == \
                render_cloud_profile(list(reversed(reordered)), options).to_bytes()


def test_output_is_the_same_under_other_hash_seeds(tmp_path: Path) -> None:
    (tmp_path / "release.json").write_text(json.dumps(_release()))
    script = ("import json,sys; from gardenlinux_ocm.gardener.cloudprofile import *; d=json.load(open(sys.argv[1]));"
              "[sys.stdout.buffer.write(render_cloud_profile(d, ProfileOptions(provider=p, format=f)).to_bytes())"
              " for p in Provider for f in ProfileFormat]")
    outputs = {subprocess.run([sys.executable, "-c", script, str(tmp_path / "release.json")], check=True,
                              capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("0", "1", "4242")}
    assert len(outputs) == 1 and next(iter(outputs))


# -- the command, end to end on the sample release
@pytest.fixture(scope="module")
def labelled(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published sample release with glci's label on its `gardenlinux` resources (ali arm64 left out)."""
    from gardenlinux_ocm.oci.copy import copy as copy_graph
    from gardenlinux_ocm.oci.copy.changes import OnChange
    from gardenlinux_ocm.oci.layout import LayoutTarget
    from gardenlinux_ocm.oci.memory import MemoryTarget
    from gardenlinux_ocm.ocm.fetch import referenced_first
    from gardenlinux_ocm.ocm.rebase import repack, stage

    out = tmp_path_factory.mktemp("labelled") / "oci"
    shutil.copytree(published, out)
    target = LayoutTarget(out)
    memory, roots = MemoryTarget(), []
    for cv in referenced_first(target, [(RELEASE_COMPONENT, VERSION)]):
        descriptor = copy.deepcopy(cv.descriptor)
        changed = False
        for resource in descriptor["component"]["resources"]:
            identity = resource.get("extraIdentity") or {}
            value = PUBLISHED.get((identity.get("platform"), identity.get("architecture")))
            if resource["name"] == "gardenlinux" and identity.get("feature-flags") == "gardener,_prod" and value:
                resource["labels"] = [*resource.get("labels", []), _label(value)]
                changed = True
        if changed:
            roots.append(stage(memory, repack(cv, descriptor)))
    assert roots, "the sample release has no gardenlinux resources"
    copy_graph(memory, target, roots, on_change=OnChange.OVERWRITE)
    return out


@pytest.mark.parametrize("fmt", [CAP, LEG])
@pytest.mark.parametrize("provider", list(Provider))
def test_command_writes_the_documented_shape(labelled: Path, provider: Provider, fmt: ProfileFormat) -> None:
    result = runner.invoke(app, ["cloud-profile", f"oci-layout:{labelled}", VERSION, "--provider", provider.value,
                                 "--format", fmt.value])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    _assert_documented(document, provider, fmt)
    [version] = document["spec"]["machineImages"][0]["versions"]
    assert version["version"] == "1473.0.0" and version["cri"] == [{"name": "containerd"}]
    archs = ["amd64"] if provider in (Provider.OPENSTACK, Provider.ALICLOUD) else ["amd64", "arm64"]
    if fmt is CAP:
        assert version["capabilityFlavors"] == [{"architecture": [a]} for a in archs]
    else:
        assert version["architectures"] == archs
    assert ("ali arm64" in result.stderr) is (provider is Provider.ALICLOUD)


def test_command_warns_and_writes_the_file(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "ali.yaml"
    args = ["cloud-profile", f"oci-layout:{labelled}", VERSION, "-p", "alicloud"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    stderr = " ".join(result.stderr.split())
    assert "warning: skipped ali arm64 [gardener,_prod]" in stderr and "no published-image-metadata label" in stderr
    assert out.read_bytes() == runner.invoke(app, args).stdout_bytes


def test_command_openstack_metal(labelled: Path) -> None:
    result = runner.invoke(app, ["cloud-profile", f"oci-layout:{labelled}", VERSION, "-p", "openstack",
                                 "--openstack-variant", "metal", "--format", "legacy"])
    assert result.exit_code == 0, result.output
    assert _config(yaml.safe_load(result.stdout))[0]["regions"] == [
        {"name": "eu-de-1", "id": "os-metal-amd64", "architecture": "amd64"},
        {"name": "eu-de-1", "id": "os-metal-arm64", "architecture": "arm64"}]


def test_command_without_published_images_exits_2(published: Path) -> None:
    result = runner.invoke(app, ["cloud-profile", f"oci-layout:{published}", VERSION, "--provider", "aws"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"error: release {RELEASE_COMPONENT}:{VERSION} has no published images for provider aws" in text
    assert "hint: publish the images with glci" in text and "Traceback" not in result.output
    assert result.stdout == ""


def test_command_bad_input_exits_2(published: Path) -> None:
    for extra in (["--flavor-flags", ","], ["--provider", "hetzner"]):
        result = runner.invoke(app, ["cloud-profile", f"oci-layout:{published}", VERSION, "-p", "aws", *extra])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
