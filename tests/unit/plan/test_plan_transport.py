"""A CTF that resolves from inside: `--access transport`, the default of `--to ctf:`. Every resource of the release
is a local blob (OCI artefacts as artifact sets holding the manifest the resource digest names); publishing again
writes nothing; two fresh CTFs are byte-identical; render gives what publish stored; `--reference-base` keeps the
by-reference form of a CTF built for a known registry."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.ocm.artifact_set import read_artifact_set
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.targets import open_source
from support.consumers import RELEASE
from support.release import VERSION, publish_args

runner = CliRunner()
CONTAINERS = f"{RELEASE}/container-images"


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _locals(descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in descriptor["component"]["resources"] if r.get("relation") == "local"]


@pytest.fixture(scope="module")
def ctf(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("transport") / "gardenlinux-1473.0.tgz"
    _cli(*publish_args(samples, f"ctf:{path}"))
    return path


def test_every_local_resource_is_a_local_blob_and_sets_hold_the_named_manifest(ctf: Path) -> None:
    source = open_source(f"ctf:{ctf}")
    sets = 0
    for name in (RELEASE, CONTAINERS):
        cv = fetch_component(source, name, VERSION)
        for res in _locals(cv.descriptor):
            access = res["access"]
            assert access["type"] == "localBlob", (name, res["name"], access)
            if res["digest"]["normalisationAlgorithm"] != "ociArtifactDigest/v1":
                continue
            assert access["mediaType"].endswith("+tar+gzip") and ":" in access["referenceName"]
            layer = next(d for d in cv.layers if d.digest == access["localReference"])
            with source.fetch(cv.repository, layer) as f:
                found = read_artifact_set(f, deep=True)
            assert found.ok and found.main is not None, found.problems
            assert found.main.digest == "sha256:" + res["digest"]["value"]
            repo, _, tag = access["referenceName"].rpartition(":")
            assert source.resolve(repo, tag).digest == found.main.digest  # and stored natively, for gl-ocm copy
            sets += 1
    assert sets == 26 + 1 + 6 + 2  # flavors, the release index, 3 containers x 2 architectures, 2 container indexes


def test_publishing_again_writes_nothing_and_fresh_ctfs_are_identical(ctf: Path, samples: Path,
                                                                      tmp_path: Path) -> None:
    before = ctf.read_bytes()
    out = _cli(*publish_args(samples, f"ctf:{ctf}"))
    assert "0 manifests written" in " ".join(out.split()) and ctf.read_bytes() == before
    again = tmp_path / "again.tgz"
    _cli(*publish_args(samples, f"ctf:{again}"))
    assert again.read_bytes() == before
    assert not [p for p in ctf.parent.iterdir() if p.name.startswith(".gl-ocm-sets.")]  # scratch removed


def test_render_gives_the_descriptors_publish_stored(ctf: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered.yaml"
    _cli("render", VERSION, "--artefacts", str(samples), "--to", f"ctf:{tmp_path / 'x.tgz'}", "-o", str(out))
    rendered = list(yaml.safe_load_all(io.StringIO(out.read_text())))
    stored = [fetch_component(open_source(f"ctf:{ctf}"), n, VERSION).descriptor for n in (CONTAINERS, RELEASE)]
    assert rendered == stored


def test_a_ctf_for_a_known_registry_stays_by_reference(samples: Path, tmp_path: Path) -> None:
    path = tmp_path / "for-ghcr.tgz"
    _cli(*publish_args(samples, f"ctf:{path}", "--reference-base", "ghcr.io/gardenlinux"))
    cv = fetch_component(open_source(f"ctf:{path}"), RELEASE, VERSION)
    kinds = {r["access"]["type"] for r in _locals(cv.descriptor)}
    assert kinds == {"ociArtifact", "ociBlob"}
    assert all(str(r["access"].get("imageReference", "")).startswith("ghcr.io/gardenlinux/")
               for r in _locals(cv.descriptor))


def test_flavor_jobs_and_assemble_give_the_one_shot_ctf(ctf: Path, samples: Path, tmp_path: Path) -> None:
    """Fan-out into a CTF: each flavor job, the containers job, then assemble (whose artifact sets are read from
    the CTF) give the component versions of a one-shot publish, digest for digest."""
    from gardenlinux_ocm.spec import load_release
    from support.release import COMPONENTS

    fanned = f"ctf:{tmp_path / 'fanned'}"
    for flavor in load_release(COMPONENTS, VERSION).flavors:
        _cli(*publish_args(samples, fanned, "--flavor", flavor.name))
    _cli(*publish_args(samples, fanned, "--containers"))
    _cli("assemble", VERSION, "--to", fanned, "-c", str(COMPONENTS))
    for name in (RELEASE, CONTAINERS):
        one = fetch_component(open_source(f"ctf:{ctf}"), name, VERSION)
        assert fetch_component(open_source(fanned), name, VERSION).manifest_descriptor == one.manifest_descriptor
