"""The release plan: OCI graph shape, annotations, tags, and byte-identical output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ocm

from gardenlinux_ocm import api
from gardenlinux_ocm.oci.model import EMPTY_DESCRIPTOR, MediaType, tag_to_version, version_to_tag
from gardenlinux_ocm.plan.model import RootKind
from support.release import COMPONENTS, VERSION


def _plan(samples: Path):  # type: ignore[no-untyped-def]
    return api.plan_release(COMPONENTS, VERSION, samples)


def test_index_lists_containers_then_every_flavor(samples: Path) -> None:
    spec, plan = _plan(samples)
    index = json.loads(plan.contents[plan.index.descriptor.digest].data or b"")
    entries = index["manifests"]
    linux = [e for e in entries if e["platform"]["os"] == "linux"]
    gl = [e for e in entries if e["platform"]["os"] == "gardenlinux"]
    assert entries[: len(linux)] == linux and {e["platform"]["architecture"] for e in linux} == {"amd64", "arm64"}
    assert len(gl) == len(spec.flavors)
    for e, f in zip(gl, spec.flavors, strict=True):
        assert e["platform"] == {"architecture": f.arch, "os": "gardenlinux", "os.version": VERSION}
        assert e["annotations"]["cname"].startswith(f"{f.cname}-{f.arch}")  # what gardenlinux-update matches
        assert e["annotations"]["io.gardenlinux.flavor"] == f.name
        assert "artifactType" not in e  # skopeo 1.9 would drop it and change the index digest
    assert plan.index.tags == (VERSION, f"{VERSION}.0")  # X.Y.0 for gardenlinux-update


def test_flavor_manifest_shape(samples: Path) -> None:
    spec, plan = _plan(samples)
    root = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    assert root.tags == ("1473.0-aws-gardener_prod-amd64",)
    m = json.loads(plan.contents[root.descriptor.digest].data or b"")
    assert m["artifactType"] == spec.flavor_artifact_type
    assert m["config"] == EMPTY_DESCRIPTOR.to_dict()
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in m["layers"]]
    assert "aws-gardener_prod-amd64-1473.0-2b1b3a1d.tar" in titles
    media = {layer["annotations"]["io.gardenlinux.role"]: layer["mediaType"] for layer in m["layers"]}
    assert media["changelog"] == "application/io.gardenlinux.changelog"
    assert media["kernel"] == "application/io.gardenlinux.kernel"
    ann = m["annotations"]
    assert ann["org.opencontainers.image.revision"] == spec.commit
    assert ann["org.opencontainers.image.created"] == spec.release_date
    assert ann["io.gardenlinux.platform"] == "aws" and ann["architecture"] == "amd64"


def test_publish_order_and_component_repositories(samples: Path) -> None:
    _, plan = _plan(samples)
    kinds = [r.kind for r in plan.roots if r.kind not in (RootKind.REFERRER, RootKind.REFERRERS)]
    assert kinds == sorted(kinds, key=[RootKind.CONTAINER, RootKind.CONTAINER_INDEX, RootKind.FLAVOR, RootKind.INDEX,
                                        RootKind.COMPONENT].index)
    for i, root in enumerate(plan.roots):  # a flavor's referrers and their fallback index follow it
        if root.kind in (RootKind.REFERRER, RootKind.REFERRERS):
            assert plan.roots[i - 1].kind in (RootKind.FLAVOR, RootKind.REFERRER)
            before = plan.roots[i - 1]
            assert root.subject is not None
            assert root.subject.digest == (before.subject or before.descriptor).digest
    components = [r for r in plan.roots if r.kind is RootKind.COMPONENT]
    assert [r.repository for r in components] == [
        "component-descriptors/github.com/gardenlinux/gardenlinux/container-images",
        "component-descriptors/github.com/gardenlinux/gardenlinux",
    ]


def test_component_manifest_uses_current_ocm_media_types(samples: Path) -> None:
    _, plan = _plan(samples)
    pc = plan.component("github.com/gardenlinux/gardenlinux/container-images")
    m = json.loads(pc.manifest)
    assert m["config"]["mediaType"] == MediaType.OCM_CONFIG
    assert m["layers"][0]["mediaType"] == "application/vnd.ocm.software.component-descriptor.v2+yaml+tar"
    assert json.loads(pc.config) == {
        "componentDescriptorLayer": {k: m["layers"][0][k] for k in ("mediaType", "digest", "size")}
    }
    local = {
        r["access"]["localReference"]
        for r in pc.descriptor["component"]["resources"]
        if r["access"]["type"] == "localBlob"
    }
    assert {layer["digest"] for layer in m["layers"][1:]} == local
    assert len(pc.layer) % 512 == 0 and pc.layer.endswith(b"\0" * 1024)


def test_descriptors_load_with_gardener_ocm_fail_mode(samples: Path) -> None:
    _, plan = _plan(samples)
    for pc in plan.components:
        cd = ocm.ComponentDescriptor.from_dict(pc.descriptor, validation_mode=ocm.ValidationMode.FAIL)
        assert cd.component.name == pc.name


def test_cloud_images_identity_like_gardener(samples: Path) -> None:
    _, plan = _plan(samples)
    resources = plan.component("github.com/gardenlinux/gardenlinux").descriptor["component"]["resources"]
    image = next(
        r
        for r in resources
        if r["name"] == "gardenlinux"
        and r["extraIdentity"] == {"platform": "aws", "architecture": "amd64", "feature-flags": "gardener,_prod"}
    )
    assert image["type"] == "virtual_machine_image"
    flavor = next(r for r in resources if r["name"] == "flavor" and r["extraIdentity"] == image["extraIdentity"])
    assert flavor["access"]["type"] == "ociArtifact"
    reference = flavor["access"]["imageReference"]
    assert reference.startswith("local.invalid/gardenlinux:1473.0-aws-gardener_prod-amd64@sha256:")
    assert image["access"] == {"type": "ociBlob", "ref": "local.invalid/gardenlinux", "imageReference":
                               "local.invalid/gardenlinux", "mediaType": "application/io.gardenlinux.image.archive."
                               "format.raw", "digest": "sha256:" + image["digest"]["value"],
                               "size": image["access"]["size"]}
    assert flavor["digest"]["normalisationAlgorithm"] == "ociArtifactDigest/v1"
    assert image["digest"]["normalisationAlgorithm"] == "genericBlobDigest/v1"
    identities = [(r["name"], tuple(sorted(r.get("extraIdentity", {}).items()))) for r in resources]
    assert len(identities) == len(set(identities))


def test_render_is_byte_identical_across_processes(samples: Path, tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "4242"):
        out = tmp_path / f"render-{seed}.yaml"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gardenlinux_ocm",
                "render",
                VERSION,
                "--artefacts",
                str(samples),
                "--components",
                str(COMPONENTS),
                "-o",
                str(out),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and b"platform_variant: vmware" in outputs[0]
    _, a = _plan(samples)
    _, b = _plan(samples)
    assert [c.manifest for c in a.components] == [c.manifest for c in b.components]
    assert a.contents[a.index.descriptor.digest] == b.contents[b.index.descriptor.digest]


def test_build_suffix_maps_to_tag() -> None:
    assert version_to_tag("1473.0+ci.42") == "1473.0.build-ci.42"
    assert tag_to_version("1473.0.build-ci.42") == "1473.0+ci.42"
    assert tag_to_version("1473.0") == "1473.0"


def test_build_metadata_version_end_to_end(components: Path, tmp_path: Path) -> None:
    from gardenlinux_ocm.oci.layout import LayoutTarget
    from gardenlinux_ocm.ocm.fetch import fetch_component

    version = "1473.0+ci.7"
    release = (
        (components / "releases" / "1473.0.yaml").read_text().replace('version: "1473.0"', f'version: "{version}"')
    )
    (components / "releases" / f"{version}.yaml").write_text(release)
    api.sample_artefacts(components, version, tmp_path / "art")
    assert (tmp_path / "art" / "aws-gardener_prod-amd64-1473.0+ci.7-2b1b3a1d.tar").is_file()
    _, plan = api.plan_release(components, version, tmp_path / "art")
    target = LayoutTarget(tmp_path / "oci")
    api.publish(plan, target)
    assert "1473.0.build-ci.7" in target.tags("gardenlinux")
    assert "1473.0.build-ci.7-aws-gardener_prod-amd64" in target.tags("gardenlinux")
    cv = fetch_component(target, "github.com/gardenlinux/gardenlinux", version)
    assert cv.tag == "1473.0.build-ci.7" and cv.descriptor["component"]["version"] == version
