"""Containers in their own repositories, read back by skopeo, umoci and podman from a real registry (Debian's
distribution 2.8 and distribution v3): the release tag gets the base container whatever the spec order, and every
other container's tag gets that container."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.oci.model import sha256_digest
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.targets import addressing_for, open_source, open_target
from support.registry import RegistryServer
from support.release import COMPONENTS, VERSION
from support.tools import optional, require

pytestmark = [pytest.mark.registry, pytest.mark.tools]


def _base_last(tmp: Path) -> Path:
    """A copy of the shipped specs with the base container listed after the others."""
    components = tmp / "components"
    shutil.copytree(COMPONENTS, components)
    release = components / "releases" / f"{VERSION}.yaml"
    text, base = release.read_text(), "  - name: base\n    architectures: [amd64, arm64]\n"
    assert base in text
    release.write_text(text.replace(base, "") + base)
    return components


@pytest.fixture(scope="module", params=["registry", "registry_v3"])
def published(request: pytest.FixtureRequest, samples: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, ReleasePlan]]:
    server: RegistryServer = request.getfixturevalue(request.param)
    base = f"{server.host}/containers"
    components = _base_last(tmp_path_factory.mktemp("spec"))
    spec, plan = api.plan_release(components, VERSION, samples, addressing_for(base))
    assert spec.containers[-1].name == "base"
    api.publish(plan, open_target(base), jobs=4)
    yield base, plan


def _digest(plan: ReleasePlan, label: str) -> str:
    return next(r.descriptor.digest for r in plan.roots if r.label == label)


def _config(plan: ReleasePlan, label: str) -> str:
    """The config digest of a container image: what skopeo's `inspect --config` and podman's image ID identify."""
    data = plan.contents[_digest(plan, label)].data
    assert data is not None
    return str(json.loads(data)["config"]["digest"])


def _skopeo(*args: str) -> str:
    require("skopeo")
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_skopeo_gets_the_base_container_from_the_release_tag(published: tuple[str, ReleasePlan], arch: str,
                                                              tmp_path: Path) -> None:
    base, plan = published
    for tag in (VERSION, f"{VERSION}.0"):
        config = _skopeo("--override-arch", arch, "inspect", "--config", "--raw", "--tls-verify=false",
                         f"docker://{base}/gardenlinux:{tag}")
        assert sha256_digest(config.encode()) == _config(plan, f"container-{arch}")
    require("umoci")
    _skopeo("--override-arch", arch, "copy", "--src-tls-verify=false", f"docker://{base}/gardenlinux:{VERSION}",
            f"oci:{tmp_path / 'img'}:x")
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'img'}:x", str(tmp_path / "b")],
                   check=True, capture_output=True, timeout=120)
    os_release = (tmp_path / "b" / "rootfs" / "etc" / "os-release").read_text()
    assert f"GARDENLINUX_CNAME=container-{arch}-{VERSION}\n" in os_release


@pytest.mark.parametrize(("repository", "cname"), [
    ("gardenlinux/container-python-dev", "container-pythonDev"),
    ("gardenlinux/bare-python", "bare-python"),
])
def test_each_other_container_is_its_own_multi_arch_image(published: tuple[str, ReleasePlan], repository: str,
                                                          cname: str) -> None:
    base, plan = published
    index = next(r for r in plan.roots if r.kind is RootKind.CONTAINER_INDEX and r.repository == repository)
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{base}/{repository}:{VERSION}")
    assert sha256_digest(raw.encode()) == index.descriptor.digest
    for arch in ("amd64", "arm64"):
        config = _skopeo("--override-arch", arch, "inspect", "--config", "--raw", "--tls-verify=false",
                         f"docker://{base}/{repository}:{VERSION}")
        assert sha256_digest(config.encode()) == _config(plan, f"{cname}-{arch}")
        assert json.loads(config)["architecture"] == arch


def test_the_release_index_lists_no_other_container(published: tuple[str, ReleasePlan]) -> None:
    base, plan = published
    doc = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{base}/gardenlinux:{VERSION}"))
    linux = [m["digest"] for m in doc["manifests"] if m["platform"]["os"] == "linux"]
    assert linux == [_digest(plan, "container-amd64"), _digest(plan, "container-arm64")]
    assert api.verify(open_source(base), deep=True).ok


def test_podman_pulls_the_base_container(published: tuple[str, ReleasePlan], tmp_path: Path,
                                         request: pytest.FixtureRequest) -> None:
    optional("podman")
    base, plan = published
    run = Path(tempfile.mkdtemp(prefix="glp-", dir="/tmp"))  # podman wants a short runroot
    request.addfinalizer(lambda: shutil.rmtree(run, ignore_errors=True))
    podman = ["podman", "--root", str(tmp_path / "storage"), "--runroot", str(run), "--storage-driver", "vfs"]
    result = subprocess.run([*podman, "pull", "--arch", "amd64", "--tls-verify=false", f"{base}/gardenlinux:{VERSION}"],
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0 and ("permission" in result.stderr.lower() or "namespace" in result.stderr.lower()):
        pytest.skip(f"podman cannot run in this sandbox: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    image = json.loads(subprocess.run([*podman, "image", "inspect", result.stdout.split()[-1]], check=True,
                                      capture_output=True, text=True, timeout=60).stdout)[0]
    assert "sha256:" + image["Id"] == _config(plan, "container-amd64")
