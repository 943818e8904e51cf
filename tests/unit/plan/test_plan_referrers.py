"""Files of `attach: referrer` roles: referrers of their flavor manifest instead of its layers, in the plan, the
descriptor and an OCI layout (fallback tag); found again by verify, download and assemble. The shipped spec attaches
the SBOM role so; release 1473.0 gives the gdch flavors an SBOM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.referrers import Via, fallback_tag, list_referrers
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.trust.model import CheckKind
from support.release import COMPONENTS, VERSION, publish_args
from support.spec_edit import edit, spec_error

runner = CliRunner()
FLAVOR = "gdch-gardener_prod-amd64"
BASE = f"{FLAVOR}-1473.0-2b1b3a1d"
RELEASE = "github.com/gardenlinux/gardenlinux"
SBOM_TYPE = "application/vnd.cyclonedx+json"


def _json(plan: ReleasePlan, digest: str) -> Any:
    data = plan.contents[digest].data
    assert data is not None
    return json.loads(data)


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_an_sbom_is_a_referrer_of_its_flavor_not_a_layer(samples: Path) -> None:
    _, plan = api.plan_release(COMPONENTS, VERSION, samples)
    flavor = next(r for r in plan.roots if r.kind is RootKind.FLAVOR and r.label == FLAVOR)
    manifest = _json(plan, flavor.descriptor.digest)
    titles = [la["annotations"]["org.opencontainers.image.title"] for la in manifest["layers"]]
    assert f"{BASE}.sbom" not in titles and f"{BASE}.tar" in titles
    assert manifest["annotations"]["io.gardenlinux.referrers"] == "sbom"
    (referrer,) = [r for r in plan.roots if r.kind is RootKind.REFERRER and r.subject == flavor.descriptor.bare()]
    assert referrer.tags == () and referrer.label == f"{FLAVOR} sbom"
    doc = _json(plan, referrer.descriptor.digest)
    assert doc["artifactType"] == SBOM_TYPE
    assert doc["subject"] == flavor.descriptor.bare().to_dict()
    (layer,) = doc["layers"]
    sbom = (samples / f"{BASE}.sbom").read_bytes()
    assert layer["size"] == len(sbom) and layer["annotations"]["org.opencontainers.image.title"] == f"{BASE}.sbom"
    (fallback,) = [r for r in plan.roots if r.kind is RootKind.REFERRERS and r.subject == flavor.descriptor.bare()]
    assert fallback.tags == (fallback_tag(flavor.descriptor.digest),)
    assert [m["digest"] for m in _json(plan, fallback.descriptor.digest)["manifests"]] == [referrer.descriptor.digest]
    # flavors without an SBOM have no referrers, and no annotation
    aws = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    assert "io.gardenlinux.referrers" not in _json(plan, aws.descriptor.digest)["annotations"]


def test_the_descriptor_references_the_sbom_like_any_file_and_names_its_referrer(samples: Path) -> None:
    _, plan = api.plan_release(COMPONENTS, VERSION, samples)
    referrer = next(r for r in plan.roots if r.kind is RootKind.REFERRER and r.label == f"{FLAVOR} sbom")
    resources = plan.component(RELEASE).descriptor["component"]["resources"]
    (sbom,) = [r for r in resources if r["name"] == "sbom" and r["extraIdentity"]["platform"] == "gdch"
               and r["extraIdentity"]["architecture"] == "amd64"]
    layer = _json(plan, referrer.descriptor.digest)["layers"][0]
    access = sbom["access"]
    assert (access["type"], access["mediaType"], access["digest"], access["size"]) == (
        "ociBlob", SBOM_TYPE, layer["digest"], layer["size"])
    assert access["ref"].endswith("/gardenlinux")  # the release repository, where the referrer and its blob are
    (label,) = sbom["labels"]
    assert label["name"] == "gardenlinux.io/referrer" and label["signing"] is True
    assert label["value"] == {"mediaType": referrer.descriptor.media_type, "digest": referrer.descriptor.digest,
                              "size": referrer.descriptor.size, "artifactType": SBOM_TYPE}


def test_a_layout_gets_the_fallback_tag_and_everything_finds_the_sbom(published_plan: tuple[Path, ReleasePlan],
                                                                      tmp_path: Path) -> None:
    layout, plan = published_plan
    target = LayoutTarget(layout, read_only=True)
    flavor = target.resolve("gardenlinux", f"{VERSION}-{FLAVOR}")
    found = list_referrers(target, "gardenlinux", flavor)
    referrer = next(r for r in plan.roots if r.kind is RootKind.REFERRER and r.label == f"{FLAVOR} sbom")
    assert found.via is Via.TAG and [e.digest for e in found.entries] == [referrer.descriptor.digest]
    assert found.entries[0].artifact_type == SBOM_TYPE
    report = api.verify(target, deep=True)
    assert report.ok, [c for c in report.checks if not c.ok]
    checks = [c for c in report.checks if c.kind is CheckKind.REFERRER]
    assert len(checks) == 2 and all("listed by the fallback tag" in c.detail for c in checks)
    out = tmp_path / "dl"
    _cli("download", f"oci-layout:{layout}", VERSION, "--flavor", FLAVOR, "--role", "sbom", "-o", str(out))
    assert [p.name for p in out.iterdir()] == [f"{BASE}.sbom"]


def test_publishing_again_writes_nothing_and_keeps_the_fallback_tag(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{out}"))
    before = (out / "gardenlinux" / "index.json").read_bytes()
    again = json.loads(_cli(*publish_args(samples, f"oci-layout:{out}", "--output", "json")))
    assert again["stats"]["blobs_pushed"] == again["stats"]["manifests_pushed"] == again["stats"]["tags_set"] == 0
    assert (out / "gardenlinux" / "index.json").read_bytes() == before


def test_verify_fails_when_the_fallback_tag_is_gone(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{out}"))
    index = out / "gardenlinux" / "index.json"
    doc = json.loads(index.read_text())
    doc["manifests"] = [m for m in doc["manifests"]
                        if not m["annotations"]["org.opencontainers.image.ref.name"].startswith("sha256-")]
    index.write_text(json.dumps(doc))
    report = api.verify(LayoutTarget(out, read_only=True))
    failed = [c for c in report.checks if not c.ok]
    assert {c.kind for c in failed} == {CheckKind.REFERRER} and len(failed) == 2
    assert "does not list" in failed[0].detail


def test_flavor_jobs_and_assemble_give_the_one_shot_digests_and_need_the_referrers(samples: Path,
                                                                                   tmp_path: Path) -> None:
    one, fan = tmp_path / "one", tmp_path / "fan"
    _cli(*publish_args(samples, f"oci-layout:{one}"))
    spec, _ = api.plan_release(COMPONENTS, VERSION, samples)
    for f in spec.flavors:
        _cli(*publish_args(samples, f"oci-layout:{fan}", "--flavor", f.name))
    _cli(*publish_args(samples, f"oci-layout:{fan}", "--containers"))
    # a flavor job that stopped before its referrers: assemble refuses, naming the flavor
    broken = tmp_path / "broken"
    shutil.copytree(fan, broken)
    index = broken / "gardenlinux" / "index.json"
    doc = json.loads(index.read_text())
    doc["manifests"] = [m for m in doc["manifests"]
                        if not m["annotations"]["org.opencontainers.image.ref.name"].startswith("sha256-")]
    index.write_text(json.dumps(doc))
    text = " ".join(_cli("assemble", VERSION, "--to", f"oci-layout:{broken}", code=1).split())
    assert "names referrers that the fallback tag does not list: sbom" in text and "--flavor gdch-gardener_prod" in text
    _cli("assemble", VERSION, "--to", f"oci-layout:{fan}")
    a, b = LayoutTarget(one, read_only=True), LayoutTarget(fan, read_only=True)
    for repo in ("gardenlinux", f"component-descriptors/{RELEASE}"):
        assert a.tags(repo) == b.tags(repo)
        for tag in a.tags(repo):
            assert a.resolve(repo, tag).digest == b.resolve(repo, tag).digest, f"{repo}:{tag}"


# -- the spec
def _edited(tmp_path: Path, old: str, new: str) -> Path:
    components = tmp_path / "components"
    shutil.copytree(COMPONENTS, components)
    edit(components / "gardenlinux.yaml", old, new)
    return components


def test_an_artifact_type_needs_attach_referrer(tmp_path: Path) -> None:
    error = spec_error(_edited(tmp_path, "resourceType: gardenlinux.io/changelog}",
                               "resourceType: gardenlinux.io/changelog, artifactType: application/x-changelog}"),
                       VERSION)
    assert error.path == "roles.changelog.artifactType" and "only a referrer" in error.message


def test_a_platform_image_cannot_be_a_referrer(tmp_path: Path) -> None:
    error = spec_error(_edited(tmp_path, "resourceType: virtual_machine_image}",
                               "resourceType: virtual_machine_image, attach: referrer}"), VERSION)
    assert error.path.startswith("platforms.") and "must be a layer" in error.message


def test_attach_takes_layer_or_referrer(tmp_path: Path) -> None:
    error = spec_error(_edited(tmp_path, "attach: referrer}", "attach: referer}"), VERSION)
    assert error.path == "roles.sbom.attach" and "referrer" in error.message


def test_a_pattern_role_attached_as_referrer_names_its_part_in_the_artifact_type(samples: Path,
                                                                                 tmp_path: Path) -> None:
    components = _edited(tmp_path, "resourceType: gardenlinux.io/testReport}",
                         "resourceType: gardenlinux.io/testReport, attach: referrer, "
                         "artifactType: \"application/io.gardenlinux.test-report.{*}.v1+xml\"}")
    artefacts = tmp_path / "artefacts"
    shutil.copytree(samples, artefacts)
    aws = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"
    for stage in ("chroot", "platform"):
        (artefacts / f"{aws}.{stage}.test.xml").write_text(f"<testsuite name='{stage}'/>\n")
    _, plan = api.plan_release(components, VERSION, artefacts)
    referrers = [r for r in plan.roots if r.kind is RootKind.REFERRER and r.label.startswith("aws-gardener_prod-amd64")]
    types = [_json(plan, r.descriptor.digest)["artifactType"] for r in referrers]
    assert types == ["application/io.gardenlinux.test-report.chroot.v1+xml",
                     "application/io.gardenlinux.test-report.platform.v1+xml"]
    flavor = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    assert _json(plan, flavor.descriptor.digest)["annotations"]["io.gardenlinux.referrers"] == (
        "chroot.test.xml,platform.test.xml")


def test_by_value_the_sbom_is_a_local_blob_and_still_found_as_a_referrer(published_by_value: Path) -> None:
    report = api.verify(LayoutTarget(published_by_value, read_only=True), deep=True)
    assert report.ok, [c for c in report.checks if not c.ok]
    checks = [c for c in report.checks if c.kind is CheckKind.REFERRER]
    assert len(checks) == 2 and all("listed by the fallback tag" in c.detail for c in checks)
    resources = [c for c in report.checks if c.kind is CheckKind.RESOURCE and c.subject == checks[0].subject]
    assert resources and "blob" in resources[0].detail  # the localBlob of the component version
