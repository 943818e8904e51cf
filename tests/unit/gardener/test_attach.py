"""Published images attached to a release: at publish time or later, signatures intact, nothing written twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.gardener.attach import flavor_of
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.ocm.labels import PLATFORM_IMAGE_RESOURCE, PUBLISHED_IMAGES_LABEL, RELEASE_COMPONENT
from support.published import VALID_YAML
from support.release import VERSION, publish_args

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def images(tmp_path: Path) -> Path:
    path = tmp_path / "published.yaml"
    path.write_text(VALID_YAML)
    return path


def _labels(layout: Path) -> dict[str, object]:
    descriptor = fetch_component(LayoutTarget(layout, read_only=True), RELEASE_COMPONENT, VERSION).descriptor
    out: dict[str, object] = {}
    for res in descriptor["component"]["resources"]:
        if res["name"] != PLATFORM_IMAGE_RESOURCE:
            continue
        for label in res.get("labels", []):
            if label["name"] == PUBLISHED_IMAGES_LABEL:
                out[str(flavor_of(res["extraIdentity"]))] = label["value"]
    return out


def _root_digest(layout: Path) -> str:
    return LayoutTarget(layout, read_only=True).resolve(f"component-descriptors/{RELEASE_COMPONENT}", VERSION).digest


def test_attaching_later_keeps_the_signature_and_equals_publishing_with_the_images(
    samples: Path, tmp_path: Path, images: Path, key_files: tuple[Path, Path]
) -> None:
    later, at_once = tmp_path / "later", tmp_path / "at-once"
    _cli(*publish_args(samples, f"oci-layout:{later}", "--sign-key", str(key_files[0])))
    signed = _root_digest(later)
    out = _cli("attach-images", f"oci-layout:{later}", VERSION, str(images), "--output", "json")
    result = json.loads(out)
    assert sorted(result["attached"]) == sorted(yaml.safe_load(VALID_YAML)) and result["before"] == signed
    assert _root_digest(later) == result["after"] != signed  # the descriptor changed ...
    _cli("verify", f"oci-layout:{later}", "--public-key", str(key_files[1]), "--deep")  # ... its signature did not
    assert _labels(later) == yaml.safe_load(VALID_YAML)  # exactly the file's values, per flavor

    again = json.loads(_cli("attach-images", f"oci-layout:{later}", VERSION, str(images), "--output", "json"))
    assert again["attached"] == [] and len(again["unchanged"]) == len(result["attached"])
    assert _root_digest(later) == result["after"]

    _cli(*publish_args(samples, f"oci-layout:{at_once}", "--sign-key", str(key_files[0]), "--published-images",
                       str(images)))
    assert _root_digest(at_once) == _root_digest(later)  # publish + attach == publish with the images


def test_a_flavor_the_release_lacks_is_refused_and_nothing_changes(
    published: Path, tmp_path: Path, images: Path
) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    before = _root_digest(layout)
    images.write_text(VALID_YAML + "kvm-gardener_prod-arm64:\n  gcp_image_name: x\n  gcp_project_name: y\n")
    out = " ".join(_cli("attach-images", f"oci-layout:{layout}", VERSION, str(images), code=2).split())
    assert str(images) in out and "kvm-gardener_prod-arm64" in out
    images.write_text(VALID_YAML.replace("aws-gardener_prod-amd64:", "aws-gardener_dev-amd64:", 1))
    out = " ".join(_cli("attach-images", f"oci-layout:{layout}", VERSION, str(images), code=2).split())
    assert "1 flavor(s) are not in github.com/gardenlinux/gardenlinux:1473.0" in out
    assert "aws-gardener_dev-amd64" in out and _root_digest(layout) == before


def test_publish_refuses_a_bad_file_before_hashing_the_artefacts(tmp_path: Path, images: Path) -> None:
    images.write_text(VALID_YAML.replace("aws-gardener_prod-amd64:", "aws-gardener_prod-x86:", 1))
    target = tmp_path / "oci"
    out = _cli(*publish_args(tmp_path / "no-artefacts", f"oci-layout:{target}", "--published-images", str(images)),
               code=2)
    assert str(images) in " ".join(out.split()) and not target.exists()
