"""The OCI layout read by independent clients: skopeo gets the base container from the release index, umoci unpacks
it, and the component descriptors read back from the layout validate against every OCM v2 schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gardenlinux_ocm.oci.layout import LayoutTarget
from support.tools import require

pytestmark = pytest.mark.tools
V2_SCHEMAS = [
    "ocm--component-descriptor-v2-schema.yaml",
    "cc-utils--ocm-component-descriptor-schema.yaml",
    "ocm-spec-2023-historical--compdesc-v2-json-schema.yaml",
]


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_skopeo_copy_gets_base_container_and_umoci_unpacks(published: Path, tmp_path: Path, arch: str) -> None:
    require("skopeo")
    require("umoci")
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
    require("skopeo")
    out = tmp_path / "all"
    _run("skopeo", "copy", "--all", "--preserve-digests", f"oci:{published}/gardenlinux:1473.0", f"oci:{out}:x")
    copied = json.loads(_run("skopeo", "inspect", "--raw", f"oci:{out}:x"))
    assert copied == json.loads(_run("skopeo", "inspect", "--raw", f"oci:{published}/gardenlinux:1473.0"))
    assert LayoutTarget(out).resolve(".", "x").digest == LayoutTarget(published).resolve("gardenlinux", "1473.0").digest


def test_skopeo_reads_a_flavor_manifest(published: Path) -> None:
    require("skopeo")
    raw = json.loads(_run("skopeo", "inspect", "--raw", f"oci:{published}/gardenlinux:1473.0-kvm-gardener_prod-arm64"))
    assert raw["artifactType"] == "application/io.gardenlinux.flavor.v1"
    assert raw["annotations"]["io.gardenlinux.flavor"] == "kvm-gardener_prod-arm64"
