"""Every topology a release is published in, read back by the consumers' own clients.

Topologies: one registry without a prefix; one registry under a path prefix (the production form, e.g.
`europe-docker.pkg.dev/gardener-project/releases`); artefacts and component versions on two registries (Debian's
distribution 2.8 and distribution v3), by reference and by value; an OCI layout; a `gl-ocm copy` to a mirror (from a
registry and from a layout). In each, gardener-ocm looks the release up and resolves every access, the ORAS CLI pulls
a flavor with its file names and fetches the release index, and `gl-ocm verify --deep` passes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.ocm.access import LOCAL_BASE
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.targets import open_source
from support.consumers import RELEASE, oras, oras_manifest, resolve_with_gardener_ocm
from support.registry import RegistryServer
from support.release import VERSION, publish_args
from support.tools import go_tool

pytestmark = pytest.mark.registry
runner = CliRunner()
FLAVOR = f"{VERSION}-aws-gardener_prod-amd64"
CLOUD = RELEASE  # the release component holds every flavor's resources (glci's contract)
# in the sample release 1473.0: flavors; container images (3 containers x 2 architectures), the multi-arch indexes of
# the 2 in their own repositories, the 2 base images in the release index, the containers' 4 package lists
FLAVORS, IMAGES, INDEXES, BASE_IMAGES, PACKAGE_LISTS = 26, 6, 2, 2, 4


@dataclasses.dataclass(frozen=True)
class Topology:
    name: str
    artefacts: str  # --to
    ocm: str  # where the component versions are (--ocm-repository, default --to)

    @property
    def hosts(self) -> list[str]:
        return sorted({self.artefacts.split("/")[0], self.ocm.split("/")[0]})


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


TOPOLOGIES = ["one-registry", "prefix", "split", "split-by-value", "mirror", "layout-then-registry",
              "ctf-then-registry", "ctf-transport-then-registry"]


@pytest.fixture(scope="module", params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest, registry: RegistryServer, registry_v3: RegistryServer, samples: Path,
             key_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The release published (signed) in one topology; each gets its own repositories."""
    name: str = request.param
    a, b = registry.host, registry_v3.host
    key = ["--sign-key", str(key_files[0])]
    if name == "one-registry":
        topo = Topology(name, a, a)
        _cli(*publish_args(samples, topo.artefacts, *key))
    elif name == "prefix":
        topo = Topology(name, f"{a}/gardener-project/releases", f"{a}/gardener-project/releases")
        _cli(*publish_args(samples, topo.artefacts, *key))
    elif name in ("split", "split-by-value"):
        mode = "value" if name == "split-by-value" else "reference"
        topo = Topology(name, f"{a}/{name}/gardenlinux", f"{b}/{name}/gardener-project/releases")
        _cli(*publish_args(samples, topo.artefacts, "--ocm-repository", topo.ocm, "--access", mode, *key))
    elif name == "mirror":
        source = f"{a}/mirror-source/releases"
        _cli(*publish_args(samples, source, *key))
        topo = Topology(name, f"{b}/mirror/gardenlinux", f"{b}/mirror/gardenlinux")
        _cli("copy", source, topo.artefacts)
    elif name == "layout-then-registry":
        layout = tmp_path_factory.mktemp("layout") / "oci"
        _cli(*publish_args(samples, f"oci-layout:{layout}", *key))
        topo = Topology(name, f"{b}/from-layout", f"{b}/from-layout")
        _cli("copy", f"oci-layout:{layout}", topo.artefacts)
    else:  # the air-gapped path: build one file, carry it, publish it; by reference (re-pointed) or self-contained
        archive = tmp_path_factory.mktemp("ctf") / "gardenlinux-1473.0.tgz"
        mode = ["--access", "reference"] if name == "ctf-then-registry" else []
        _cli(*publish_args(samples, f"ctf:{archive}", *key, *mode))
        topo = Topology(name, f"{a}/{name}/releases", f"{a}/{name}/releases")
        _cli("copy", f"ctf:{archive}", topo.artefacts)
    yield topo


def test_gardener_ocm_looks_up_the_release_and_resolves_every_access(topology: Topology) -> None:
    counts = resolve_with_gardener_ocm(topology.ocm, VERSION, topology.hosts)
    assert counts["components"] == 2  # the release (with every flavor) and its container images
    manifests = 1 + FLAVORS + IMAGES + INDEXES  # the release index, every manifest and index
    if topology.name == "ctf-transport-then-registry":  # each as an artifact set, unpacked by the consumer
        assert counts["artifact-set"] == manifests and "ociRegistry" not in counts and "ociBlob/v1" not in counts
        return
    assert counts["ociRegistry"] == manifests
    by_value = topology.name == "split-by-value"
    files = counts.get("localBlob/v1", 0) + counts.get("ociBlob/v1", 0)
    assert files >= 5 * FLAVORS and counts.get("ociBlob/v1", 0) == (0 if by_value else files - PACKAGE_LISTS)


def test_every_access_names_where_the_artefacts_are(topology: Topology) -> None:
    """The prefix bug: a reference must carry the whole base (host and path), never only the host."""
    descriptor = fetch_component(open_source(topology.ocm), CLOUD, VERSION).descriptor
    for res in (r for r in descriptor["component"]["resources"] if r["relation"] == "local"):
        access = res["access"]
        where = access.get("imageReference") if access["type"] != "localBlob" else None
        assert where is None or where.startswith(topology.artefacts + "/gardenlinux"), where
        assert LOCAL_BASE not in json.dumps(access)


def test_oras_pulls_a_flavor_with_its_file_names(topology: Topology, samples: Path, tmp_path: Path) -> None:
    oras(go_tool("oras"), "pull", "--plain-http", f"{topology.artefacts}/gardenlinux:{FLAVOR}", "-o", str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in samples.glob("aws-gardener_prod-amd64-1473.0-*"))
    for name in names:
        assert (tmp_path / name).read_bytes() == (samples / name).read_bytes()


def test_oras_fetches_the_release_index(topology: Topology) -> None:
    index = oras_manifest(go_tool("oras"), f"{topology.artefacts}/gardenlinux:{VERSION}", "--plain-http")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert len(index["manifests"]) == FLAVORS + BASE_IMAGES


def test_gl_ocm_verifies_deep_with_the_signature(topology: Topology, key_files: tuple[Path, Path]) -> None:
    out = _cli("verify", topology.ocm, "--deep", "--public-key", str(key_files[1]), "--output", "json")
    report = json.loads(out)
    assert report["ok"] and report["version"] == VERSION
    kinds = {c["kind"] for c in report["checks"] if c["status"] == "ok"}
    assert {"resource", "content", "index", "signature"} <= kinds, kinds


def test_oras_reads_the_layout(samples: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{layout}"))
    executable = go_tool("oras")
    index = oras_manifest(executable, f"{layout}/gardenlinux:{VERSION}", "--oci-layout")
    assert len(index["manifests"]) == FLAVORS + BASE_IMAGES
    out = tmp_path / "pulled"
    oras(executable, "pull", "--oci-layout", f"{layout}/gardenlinux:{FLAVOR}", "-o", str(out))
    expected = sorted(p.name for p in samples.glob("aws-gardener_prod-amd64-1473.0-*"))
    assert sorted(p.name for p in out.iterdir()) == expected
    _cli("verify", f"oci-layout:{layout}", "--deep")


@pytest.mark.parametrize("suffix", ["", ".tar", ".tgz"])
def test_a_ctf_verifies_and_a_second_publish_leaves_it_unchanged(samples: Path, tmp_path: Path, suffix: str) -> None:
    ctf = tmp_path / f"release{suffix}"
    out = _cli(*publish_args(samples, f"ctf:{ctf}", "--output", "json"))
    assert json.loads(out)["stats"]["blobs_pushed"] > 0
    _cli("verify", f"ctf:{ctf}", "--deep")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in ([ctf] if suffix else sorted(ctf.rglob("*")))
              if p.is_file()}
    again = json.loads(_cli(*publish_args(samples, f"ctf:{ctf}", "--output", "json")))["stats"]
    assert again["blobs_pushed"] == again["manifests_pushed"] == again["tags_set"] == 0
    assert before == {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}


def test_copy_repoints_accesses_and_keeps_the_signatures(registry: RegistryServer, registry_v3: RegistryServer,
                                                         samples: Path, key_files: tuple[Path, Path]) -> None:
    """`access` is outside the normalised digest: the mirror's descriptors differ only there, signatures verify."""
    source, mirror = f"{registry.host}/resign-source/releases", f"{registry_v3.host}/resign-mirror"
    _cli(*publish_args(samples, source, "--sign-key", str(key_files[0])))
    _cli("copy", source, mirror)
    for name in (RELEASE, f"{RELEASE}/container-images"):
        before = fetch_component(open_source(source), name, VERSION)
        after = fetch_component(open_source(mirror), name, VERSION)
        assert before.manifest_descriptor.digest != after.manifest_descriptor.digest  # the descriptor changed ...
        assert before.descriptor["signatures"] == after.descriptor["signatures"]  # ... its signed digest did not
        old, new = json.dumps(before.descriptor["component"]), json.dumps(after.descriptor["component"])
        assert source not in new and new == old.replace(source + "/", mirror + "/")
    # the OCI artefacts themselves keep their digests
    index = oras_manifest(go_tool("oras"), f"{mirror}/gardenlinux:{VERSION}", "--plain-http")
    assert index == oras_manifest(go_tool("oras"), f"{source}/gardenlinux:{VERSION}", "--plain-http")
    _cli("verify", mirror, "--public-key", str(key_files[1]))
