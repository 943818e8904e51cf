"""glci's descriptor contract: a consumer written for glci's descriptor reads ours with the same code, unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.fetch import fetch_component
from support.consumers import RELEASE, cloud_image_lookup
from support.published import VALID_YAML
from support.release import DATA, VERSION, publish_args

GLCI = DATA / "glci" / "component-descriptor-shaped-like-glci.yaml"
FLAVOR = ("aws", "amd64", "gardener,_prod")


def _shape(value: Any) -> Any:
    """The structure of a value: mapping keys and element shapes, with the scalars replaced by their type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = [_shape(v) for v in value]
        return shapes[:1] if shapes and all(s == shapes[0] for s in shapes) else shapes
    return type(value).__name__


def _ours(samples: Path, tmp_path: Path) -> dict[str, Any]:
    images = tmp_path / "published.yaml"
    images.write_text(VALID_YAML)
    layout = tmp_path / "oci"
    result = CliRunner().invoke(app, publish_args(samples, f"oci-layout:{layout}", "--published-images", str(images)))
    assert result.exit_code == 0, result.output
    descriptor: dict[str, Any] = fetch_component(LayoutTarget(layout, read_only=True), RELEASE, VERSION).descriptor
    return descriptor


def test_a_glci_consumer_reads_our_descriptor_with_the_same_code(samples: Path, tmp_path: Path) -> None:
    theirs = cloud_image_lookup(yaml.safe_load(GLCI.read_text()), *FLAVOR)
    ours = cloud_image_lookup(_ours(samples, tmp_path), *FLAVOR)
    assert ours["image_type"] == theirs["image_type"] == "virtual_machine_image"
    assert ours["rootfs_type"] == theirs["rootfs_type"] == "application/tar+vm-image-rootfs"
    for key in ("build_metadata", "rootfs_build_metadata", "package_versions", "published_images"):
        assert _shape(ours[key]) == _shape(theirs[key]), key
    assert ours["build_metadata"]["modifiers"] == theirs["build_metadata"]["modifiers"] == ["gardener", "_prod"]
    # parsed from the flavor's .manifest, as glci does
    lines = next(samples.glob("aws-gardener_prod-amd64-1473.0-*.manifest")).read_text().splitlines()
    packages = [tuple(line.split()) for line in lines]
    assert [(p["name"], p["version"]) for p in ours["package_versions"]] == packages
    assert ours["rootfs_build_metadata"]["debianPackages"] == [f"{n} {v}" for n, v in packages]
    assert ours["published_images"] == yaml.safe_load(VALID_YAML)["aws-gardener_prod-amd64"]


def test_platform_variant_comes_from_the_spec(samples: Path, tmp_path: Path) -> None:
    descriptor = _ours(samples, tmp_path)
    variants = {
        (r["extraIdentity"]["platform"], r["extraIdentity"].get("platform_variant"))
        for r in descriptor["component"]["resources"] if r["name"] == "gardenlinux"
    }
    assert ("openstack", "vmware") in variants and ("openstackbaremetal", "metal") in variants
    assert ("aws", None) in variants  # only where the spec gives one
