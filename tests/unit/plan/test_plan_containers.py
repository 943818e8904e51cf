"""Each container in its own repository with a multi-arch index; only the base container in the release index,
whatever the spec order; pattern files in the flavor manifest and the descriptor; flavor jobs plus assemble keep the
one-shot digests with them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from support.release import VERSION, publish_args

CONTAINERS = "github.com/gardenlinux/gardenlinux/container-images"
RELEASE = "github.com/gardenlinux/gardenlinux"
BASE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"


def _reorder(components: Path) -> None:
    """The base container listed last."""
    release = components / "releases" / f"{VERSION}.yaml"
    text = release.read_text()
    base = "  - name: base\n    architectures: [amd64, arm64]\n"
    assert base in text
    release.write_text(text.replace(base, "") + base)


def _json(plan: ReleasePlan, digest: str) -> dict:  # type: ignore[type-arg]
    data = plan.contents[digest].data
    assert data is not None
    return json.loads(data)  # type: ignore[no-any-return]


def test_containers_get_their_own_repository_and_index(samples: Path, components: Path) -> None:
    _reorder(components)
    _, plan = api.plan_release(components, VERSION, samples)
    images = {r.label: r for r in plan.roots if r.kind is RootKind.CONTAINER}
    assert {r.repository for r in images.values()} == {
        "gardenlinux", "gardenlinux/container-python-dev", "gardenlinux/bare-python"}
    indexes = {r.repository: r for r in plan.roots if r.kind is RootKind.CONTAINER_INDEX}
    assert sorted(indexes) == ["gardenlinux/bare-python", "gardenlinux/container-python-dev"]
    for repo, root in indexes.items():
        assert root.tags == (VERSION, f"{VERSION}.0")
        listed = [(m["digest"], m["platform"]) for m in _json(plan, root.descriptor.digest)["manifests"]]
        expected = [(r.descriptor.digest, {"architecture": r.label.rsplit("-", 1)[1], "os": "linux"})
                    for r in images.values() if r.repository == repo]
        assert listed == expected and len(listed) == 2
    release_index = _json(plan, plan.index.descriptor.digest)["manifests"]
    linux = [m["digest"] for m in release_index if m["platform"]["os"] == "linux"]
    assert linux == [images["container-amd64"].descriptor.digest, images["container-arm64"].descriptor.digest]


def test_the_container_component_names_each_index_and_image_where_it_is(samples: Path) -> None:
    _, plan = api.plan_release(Path(__file__).resolve().parents[3] / "components", VERSION, samples)
    descriptor = plan.component(CONTAINERS).descriptor
    refs = {(r["name"], r.get("extraIdentity", {}).get("architecture")): r["access"].get("imageReference")
            for r in descriptor["component"]["resources"] if r["type"] == "ociImage"}
    index = next(r for r in plan.roots
                 if r.repository == "gardenlinux/bare-python" and r.kind is RootKind.CONTAINER_INDEX)
    assert refs[("bare-python", None)] == f"local.invalid/gardenlinux/bare-python:{VERSION}@{index.descriptor.digest}"
    assert refs[("python-dev", "arm64")].startswith(
        f"local.invalid/gardenlinux/container-python-dev:{VERSION}-container-pythonDev-arm64@sha256:")
    assert refs[("base", "amd64")].startswith(f"local.invalid/gardenlinux:{VERSION}-container-amd64@sha256:")
    assert ("base", None) not in refs  # the release index is the base container's index


def _with_logs(samples: Path, tmp_path: Path) -> Path:
    out = tmp_path / "artefacts"
    shutil.copytree(samples, out)
    for name in (f"{BASE}.raw.log", f"{BASE}.chroot.test.log", f"{BASE}.chroot.test.xml"):
        (out / name).write_bytes(f"{name}: ok\n".encode())
    return out


def test_pattern_files_are_layers_and_resources_with_their_part(samples: Path, tmp_path: Path) -> None:
    components = Path(__file__).resolve().parents[3] / "components"
    _, plan = api.plan_release(components, VERSION, _with_logs(samples, tmp_path))
    root = next(r for r in plan.roots if r.label == "aws-gardener_prod-amd64")
    manifest = _json(plan, root.descriptor.digest)
    layers = {la["annotations"]["org.opencontainers.image.title"]: la for la in manifest["layers"]}
    assert layers[f"{BASE}.chroot.test.log"]["mediaType"] == "application/io.gardenlinux.io.chroot.test.log"
    assert layers[f"{BASE}.chroot.test.log"]["annotations"]["io.gardenlinux.role"] == "test-log-stage"
    resources = plan.component(RELEASE).descriptor["component"]["resources"]
    logs = [(r["name"], r["extraIdentity"]) for r in resources if r["name"] in ("build-log", "test-log-stage")]
    flavor = {"platform": "aws", "architecture": "amd64", "feature-flags": "gardener,_prod"}
    assert logs == [("build-log", {**flavor, "artefact": "raw"}), ("test-log-stage", {**flavor, "stage": "chroot"})]
    report = next(r for r in resources if r["name"] == "test-report")
    assert report["access"]["mediaType"] == "application/io.gardenlinux.io.chroot.test.xml"


def test_flavor_job_and_assemble_keep_the_pattern_files(samples: Path, tmp_path: Path) -> None:
    components = Path(__file__).resolve().parents[3] / "components"
    artefacts = _with_logs(samples, tmp_path)
    one_shot, fanned = tmp_path / "one", tmp_path / "fan"
    runner = CliRunner()
    for args in (
        publish_args(artefacts, f"oci-layout:{one_shot}"),
        *(publish_args(artefacts, f"oci-layout:{fanned}", "--flavor", f.name)
          for f in api.plan_release(components, VERSION, artefacts)[0].flavors),
        publish_args(artefacts, f"oci-layout:{fanned}", "--containers"),
        ["assemble", VERSION, "--to", f"oci-layout:{fanned}"],
    ):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
    a, b = LayoutTarget(one_shot, read_only=True), LayoutTarget(fanned, read_only=True)
    for repo in ("gardenlinux", "gardenlinux/bare-python", f"component-descriptors/{RELEASE}"):
        for tag in a.tags(repo):
            assert a.resolve(repo, tag).digest == b.resolve(repo, tag).digest, f"{repo}:{tag}"
    assert api.verify(b, deep=True).ok
