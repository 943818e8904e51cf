"""The OCI layout read by independent clients: skopeo gets the base container from the release index, umoci unpacks
it, and the component descriptors read back from the layout validate against every OCM v2 schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import ocm
import pytest
import yaml

from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.serialise import read_descriptor_tar
from support.release import REFERENCE

pytestmark = pytest.mark.tools
V2_SCHEMAS = [
    "ocm--component-descriptor-v2-schema.yaml",
    "cc-utils--ocm-component-descriptor-schema.yaml",
    "ocm-spec-2023-historical--compdesc-v2-json-schema.yaml",
]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not on PATH (CI installs it: apt-get install -y {tool})")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_skopeo_copy_gets_base_container_and_umoci_unpacks(published: Path, tmp_path: Path, arch: str) -> None:
    _need("skopeo")
    _need("umoci")
    out = tmp_path / "out"
    _run("skopeo", "--override-arch", arch, "copy", f"oci:{published}/gardenlinux:1473.0", f"oci:{out}:x")
    config = json.loads(_run("skopeo", "inspect", "--config", f"oci:{out}:x"))
    assert config["architecture"] == arch and config["os"] == "linux"
    index = json.loads((published / "gardenlinux" / "index.json").read_bytes())
    release = next(e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == "1473.0")
    expected = LayoutTarget(published).resolve("gardenlinux", f"1473.0-container-{arch}").digest
    assert json.loads(_run("skopeo", "inspect", f"oci:{out}:x"))["Digest"] == expected != release["digest"]
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{out}:x", str(bundle))
    assert "GARDENLINUX_VERSION=1473.0" in (bundle / "rootfs" / "etc" / "os-release").read_text()


def test_skopeo_copy_all_preserves_the_index_digest(published: Path, tmp_path: Path) -> None:
    _need("skopeo")
    out = tmp_path / "all"
    _run("skopeo", "copy", "--all", "--preserve-digests", f"oci:{published}/gardenlinux:1473.0", f"oci:{out}:x")
    copied = json.loads(_run("skopeo", "inspect", "--raw", f"oci:{out}:x"))
    assert copied == json.loads(_run("skopeo", "inspect", "--raw", f"oci:{published}/gardenlinux:1473.0"))
    assert LayoutTarget(out).resolve(".", "x").digest == LayoutTarget(published).resolve("gardenlinux", "1473.0").digest


def test_skopeo_reads_a_flavor_manifest(published: Path) -> None:
    _need("skopeo")
    raw = json.loads(_run("skopeo", "inspect", "--raw", f"oci:{published}/gardenlinux:1473.0-kvm-gardener_prod-arm64"))
    assert raw["artifactType"] == "application/io.gardenlinux.flavor.v1"
    assert raw["annotations"]["io.gardenlinux.flavor"] == "kvm-gardener_prod-arm64"


def _schema(name: str) -> tuple[type[Any], dict[str, Any]]:
    schema = yaml.safe_load((REFERENCE / "ocm" / "schemas" / name).read_text())
    return jsonschema.validators.validator_for(schema), schema


@pytest.mark.parametrize("schema_name", V2_SCHEMAS)
def test_descriptors_read_back_validate(published: Path, schema_name: str) -> None:
    if not (REFERENCE / "ocm" / "schemas").is_dir():
        pytest.skip("shared/reference is not beside the checkout")
    cls, schema = _schema(schema_name)
    target = LayoutTarget(published, read_only=True)
    repos = [r for r in target.repositories() if r.startswith("component-descriptors/")]
    assert len(repos) == 3
    for repo in repos:
        desc = target.resolve(repo, "1473.0")
        with target.fetch(repo, desc) as f:
            manifest = json.loads(f.read())
        layer = manifest["layers"][0]
        with target.fetch(
            repo, desc.__class__(media_type=layer["mediaType"], digest=layer["digest"], size=layer["size"])
        ) as f:
            descriptor = yaml.safe_load(read_descriptor_tar(f.read()))
        errors = list(cls(schema).iter_errors(descriptor))
        assert errors == [], f"{repo}: {[e.message for e in errors[:3]]}"
        ocm.ComponentDescriptor.from_dict(descriptor, validation_mode=ocm.ValidationMode.FAIL)
