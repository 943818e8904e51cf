"""`--published-images FILE`: glci's publishing output per flavor, read as YAML or JSON, each bad input one SpecError.

The valid file uses value forms from Garden Linux 1877.3's release notes (the glci shapes of all five providers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gardenlinux_ocm.errors import SpecError
from gardenlinux_ocm.gardener.published_images import (
    PATTERN_FORMS,
    PLATFORM_PROVIDERS,
    SCHEMA,
    Provider,
    PublishedImages,
    load_published_images,
    provider_of,
    unknown_flavors,
)
from gardenlinux_ocm.spec import load_release
from support.published import IMAGE, VALID_YAML
from support.schemas import patterns

REPO = Path(__file__).resolve().parents[3]
def _write(tmp_path: Path, text: str, name: str = "published.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _edit(old: str, new: str) -> str:
    assert old in VALID_YAML, f"fixture text not found: {old!r}"
    return VALID_YAML.replace(old, new, 1)


def _error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_published_images(path)
    assert info.value.file == str(path) and str(path) in str(info.value)
    assert info.value.exit_code == 2
    return info.value


def test_valid_yaml_and_json_give_the_same_result(tmp_path: Path) -> None:
    data = yaml.safe_load(VALID_YAML)
    from_yaml = load_published_images(_write(tmp_path, VALID_YAML))
    from_json = load_published_images(_write(tmp_path, json.dumps(data, indent=2), "published.json"))
    one_line = load_published_images(_write(tmp_path, json.dumps(data), "one-line.json"))
    assert from_yaml.images == from_json.images == one_line.images
    assert from_yaml.file.endswith("published.yaml") and from_json.file.endswith("published.json")
    assert [(i.flavor, i.provider) for i in from_yaml.images] == [
        ("aws-gardener_prod-amd64", Provider.AWS),
        ("azure-gardener_prod-amd64", Provider.AZURE),
        ("gcp-gardener_prod-arm64", Provider.GCP),
        ("openstack-gardener_prod-amd64", Provider.OPENSTACK),
        ("openstackbaremetal-gardener_prod-arm64", Provider.OPENSTACK),
        ("ali-gardener_prod-amd64", Provider.ALICLOUD),
    ]


def test_the_label_value_is_the_output_as_written(tmp_path: Path) -> None:
    data = yaml.safe_load(VALID_YAML)
    images = load_published_images(_write(tmp_path, VALID_YAML))
    for flavor, output in data.items():
        image = images.get(flavor)
        assert image is not None and image.value == output
        assert json.loads(json.dumps(image.value)) == output  # plain data: it serialises as it is
    assert images.get("kvm-gardener_prod-amd64") is None


def test_provider_of_each_shape() -> None:
    assert provider_of({"published_aws_images": []}) == "aws"
    assert provider_of({"published_gallery_images": []}) == "azure"
    assert provider_of({"gcp_image_name": "x", "gcp_project_name": "y"}) == "gcp"
    assert provider_of({"published_openstack_images": []}) == "openstack"
    assert provider_of({"published_alicloud_images": []}) == "alicloud"
    with pytest.raises(ValueError, match="exactly one provider"):
        provider_of({"image": "x"})


def test_unknown_flavors_are_those_not_in_the_release(tmp_path: Path) -> None:
    images = load_published_images(_write(tmp_path, VALID_YAML))
    release = load_release(REPO / "components", "1473.0")
    assert unknown_flavors(images, (f.name for f in release.flavors)) == []
    assert unknown_flavors(images, ["aws-gardener_prod-amd64", "ali-gardener_prod-amd64"]) == [
        "azure-gardener_prod-amd64",
        "gcp-gardener_prod-arm64",
        "openstack-gardener_prod-amd64",
        "openstackbaremetal-gardener_prod-arm64",
    ]


# scenario -> (file text, key path of the first problem, line, words in the message)
BAD: dict[str, tuple[str, str, int | None, tuple[str, ...]]] = {
    "unknown-key": (
        _edit("      aws_region_id: ap-south-1\n", "      aws_region: ap-south-1\n"),
        "aws-gardener_prod-amd64.published_aws_images[0]",
        3,
        ("missing required key 'aws_region_id'", "unknown key 'aws_region'", "did you mean 'aws_region_id'"),
    ),
    "typo-in-provider-key": (
        _edit("  published_alicloud_images:\n", "  published_alicloud_image:\n"),
        "ali-gardener_prod-amd64",
        33,
        (
            "missing required key 'published_alicloud_images'",
            ":34: ali-gardener_prod-amd64.published_alicloud_image: unknown key 'published_alicloud_image'",
            "did you mean 'published_alicloud_images'",
        ),
    ),
    "missing-field": (
        _edit("  gcp_project_name: sap-se-gcp-gardenlinux\n", ""),
        "gcp-gardener_prod-arm64",
        19,
        ("missing required key 'gcp_project_name'", "Hint: gcp_project_name is the project id"),
    ),
    "wrong-type": (
        _edit("region_name: eu-de-1", "region_name: 1473"),
        "openstack-gardener_prod-amd64.published_openstack_images[0].region_name",
        26,
        ("expected a string, found the unquoted number 1473",),
    ),
    "empty-list": (
        _edit(
            f"""  published_openstack_images:
    - image_id: c4e8e8e5-8c92-4c73-b21b-333087e7b092
      image_name: {IMAGE.format("openstackbaremetal-gardener_prod-arm64")}
      region_name: eu-de-2
""",
            "  published_openstack_images: []\n",
        ),
        "openstackbaremetal-gardener_prod-arm64.published_openstack_images",
        29,
        ("is an empty list",),
    ),
    "empty-string": (
        _edit(f"image_name: {IMAGE.format('ali-gardener_prod-amd64')}", 'image_name: ""'),
        "ali-gardener_prod-amd64.published_alicloud_images[0].image_name",
        36,
        ("is an empty string",),
    ),
    "bad-hyper-v-generation": (
        _edit("hyper_v_generation: V1", "hyper_v_generation: V3"),
        "azure-gardener_prod-amd64.published_gallery_images[0].hyper_v_generation",
        15,
        ("'V3' is not allowed", "V1, V2"),
    ),
    "bad-ami-id": (
        _edit("ami_id: ami-00c6adf1de4dd746a", "ami_id: AMI-00C6"),
        "aws-gardener_prod-amd64.published_aws_images[0].ami_id",
        3,
        ("'AMI-00C6' is not an AMI id like ami-0123456789abcdef0",),
    ),
    "flavor-with-bad-arch": (
        _edit("gcp-gardener_prod-arm64:", "gcp-gardener_prod-x86_64:"),
        "gcp-gardener_prod-x86_64",
        19,
        ("is not a flavor like aws-gardener_prod-amd64", "x86_64 is amd64"),
    ),
    "provider-platform-mismatch": (
        _edit("aws-gardener_prod-amd64:", "gcp-gardener_prod-amd64:"),
        "gcp-gardener_prod-amd64",
        1,
        ("flavor 'gcp-gardener_prod-amd64'", "publishes to gcp", "publishing output of aws"),
    ),
    "platform-without-publishing": (
        VALID_YAML + "metal-gardener_prod-amd64:\n  gcp_image_name: x\n  gcp_project_name: sap-se-gcp-gardenlinux\n",
        "metal-gardener_prod-amd64",
        38,
        ("flavor 'metal-gardener_prod-amd64'", "glci does not publish to"),
    ),
    "no-shape-at-all": (
        VALID_YAML + "kvm-gardener_prod-amd64: [ami-00c6adf1de4dd746a]\n",
        "kvm-gardener_prod-amd64",
        38,
        ("expected a mapping, found a list",),
    ),
    "anchor-bomb": (
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)),
        "a",
        1,
        ("defines the anchor &a", "no anchors or aliases"),
    ),
    "not-a-mapping": ("- aws-gardener_prod-amd64\n", "(top level)", 1, ("expected a mapping, found a list",)),
    "empty-mapping": ("{}\n", "(top level)", 1, ("names no flavor",)),
    "duplicate-flavor": (
        VALID_YAML + "aws-gardener_prod-amd64: {}\n",
        "aws-gardener_prod-amd64",
        38,
        ("has the key 'aws-gardener_prod-amd64' twice",),
    ),
}


@pytest.mark.parametrize("scenario", BAD)
def test_bad_input_names_file_key_path_and_line(tmp_path: Path, scenario: str) -> None:
    text, key_path, line, words = BAD[scenario]
    e = _error(_write(tmp_path, text, f"{scenario}.yaml"))
    assert (e.path, e.line) == (key_path, line), str(e)
    for word in words:
        assert word in str(e), str(e)


def test_json_errors_name_the_line_too(tmp_path: Path) -> None:
    text = json.dumps(yaml.safe_load(_edit("hyper_v_generation: V2", "hyper_v_generation: v2")), indent=2)
    e = _error(_write(tmp_path, text, "published.json"))
    line = next(n for n, t in enumerate(text.splitlines(), 1) if '"v2"' in t)
    assert (e.path, e.line) == ("azure-gardener_prod-amd64.published_gallery_images[1].hyper_v_generation", line)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = _edit("hyper_v_generation: V1", "hyper_v_generation: V3").replace("region_id: eu-central-1", "region_id: X")
    e = _error(_write(tmp_path, text))
    assert e.path.endswith("hyper_v_generation")
    assert f"{tmp_path / 'published.yaml'}:37: ali-gardener_prod-amd64.published_alicloud_images[0].region_id" in str(e)
    assert "'X' is not an Alibaba Cloud region" in str(e)


def test_forms_are_words_never_patterns(tmp_path: Path) -> None:
    e = _error(_write(tmp_path, _edit("gcp_project_name: sap-se-gcp-gardenlinux", "gcp_project_name: SAP")))
    assert "is not a GCP project id" in e.message and "^" not in str(e)


def test_a_binary_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "published.yaml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    e = _error(path)
    assert "NUL byte at byte offset 7" in e.message and e.line == 1


def test_a_missing_file_and_a_directory_are_named(tmp_path: Path) -> None:
    assert "file not found" in _error(tmp_path / "nothere.yaml").message
    assert "is a directory" in _error(tmp_path).message


def test_from_document_does_not_alias_the_document(tmp_path: Path) -> None:
    from gardenlinux_ocm.spec.load import load_document

    doc = load_document(_write(tmp_path, VALID_YAML))
    images = PublishedImages.from_document(doc)
    image = images.get("gcp-gardener_prod-arm64")
    assert image is not None and image.value == doc.data["gcp-gardener_prod-arm64"]
    assert image.value is not doc.data["gcp-gardener_prod-arm64"]


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((REPO / "schemas" / SCHEMA).read_text())
    return schema


def test_every_schema_pattern_has_a_form_in_words() -> None:
    assert patterns(_schema()) == set(PATTERN_FORMS)


def test_the_flavor_pattern_is_the_release_specs_cname_then_the_architecture() -> None:
    release = json.loads((REPO / "schemas" / "release-spec.schema.json").read_text())
    flavor = release["properties"]["flavors"]["items"]["properties"]
    cname, archs = flavor["cname"]["pattern"], flavor["architectures"]["items"]["enum"]
    assert _schema()["propertyNames"]["pattern"] == cname.removesuffix("$") + f"-({'|'.join(archs)})$"


def test_the_schema_shapes_are_the_providers() -> None:
    schema = _schema()
    assert [r["$ref"] for r in schema["additionalProperties"]["oneOf"]] == [f"#/$defs/{p}" for p in Provider]
    assert provider_of({k: "" for k in schema["$defs"]["gcp"]["required"]}) == Provider.GCP
    for p in Provider:
        assert provider_of({k: [] for k in schema["$defs"][p]["required"]}) == p
    assert set(PLATFORM_PROVIDERS.values()) == set(Provider)


def test_the_packaged_schema_is_the_published_one() -> None:
    packaged = REPO / "src" / "gardenlinux_ocm" / "spec" / "schemas" / SCHEMA
    assert packaged.read_bytes() == (REPO / "schemas" / SCHEMA).read_bytes()
