"""The operator's path on real registries: publish (artefacts and component versions apart), attach the published
images, verify the signature, write the CloudProfile; the consumer's lookup on the registry finds the images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from support.consumers import cloud_image_lookup, gardener_oci_client
from support.published import VALID_YAML
from support.registry import RegistryServer
from support.release import VERSION, publish_args

pytestmark = pytest.mark.registry
runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_publish_attach_verify_cloud_profile_on_two_registries(
    registry: RegistryServer, registry_v3: RegistryServer, samples: Path, key_files: tuple[Path, Path],
    tmp_path: Path
) -> None:
    import ocm.retrieve

    artefacts, releases = f"{registry.host}/operator/gardenlinux", f"{registry_v3.host}/operator/releases"
    images = tmp_path / "published.yaml"
    images.write_text(VALID_YAML)
    _cli(*publish_args(samples, artefacts, "--ocm-repository", releases, "--sign-key", str(key_files[0])))
    attached = json.loads(_cli("attach-images", releases, VERSION, str(images), "--output", "json"))
    assert len(attached["attached"]) == len(yaml.safe_load(VALID_YAML))
    _cli("verify", releases, "--public-key", str(key_files[1]))

    # the consumer's side: gardener-ocm's lookup on the registry, then glci's lookup code
    lookup = ocm.retrieve.create_default_component_descriptor_lookup(
        ocm_repository_lookup=ocm.retrieve.ocm_repository_lookup(releases),
        oci_client=gardener_oci_client([registry.host, registry_v3.host]),
    )
    descriptor = lookup(ocm.ComponentIdentity("github.com/gardenlinux/gardenlinux", VERSION))
    found = cloud_image_lookup(descriptor, "aws", "amd64", "gardener,_prod")
    assert found["published_images"] == yaml.safe_load(VALID_YAML)["aws-gardener_prod-amd64"]

    profile = yaml.safe_load(_cli("cloud-profile", releases, VERSION, "--provider", "aws"))
    [version] = profile["spec"]["providerConfig"]["machineImages"][0]["versions"]
    regions = {r["name"]: r["ami"] for flavor in version["capabilityFlavors"] for r in flavor["regions"]}
    assert regions == {i["aws_region_id"]: i["ami_id"]
                       for i in yaml.safe_load(VALID_YAML)["aws-gardener_prod-amd64"]["published_aws_images"]}
