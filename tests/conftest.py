"""Generic test fixtures: real OCI registries on loopback and a fault-injecting proxy.

Tests that use a registry carry `@pytest.mark.registry`; `--skip-registry` deselects them. Without
`docker-registry` on PATH they fail with the install command (`make test` installs it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.access import AccessMode, Addressing
from gardenlinux_ocm.plan.model import ReleasePlan
from support.cosign_cli import Cosign
from support.fault_proxy import Fault, FaultProxy
from support.keys import write_key_pair
from support.registry import RegistryMode, RegistryServer, olareg_argv
from support.release import COMPONENTS, VERSION
from support.tools import go_tool, require

REGISTRY_BINARY = "docker-registry"
_CACHE_DIR = pytest.StashKey[str]()

FaultProxyFactory = Callable[..., FaultProxy]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-registry",
        action="store_true",
        default=False,
        help="deselect tests marked `registry` (they start docker-registry on loopback)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """`gl-ocm publish` (in-process or a child) caches digests in a directory of the run, never in the user's home.

    Set before collection, as some test modules copy `os.environ` when they are imported."""
    config.stash[_CACHE_DIR] = tempfile.mkdtemp(prefix="gl-ocm-cache-")
    os.environ["GL_OCM_CACHE_DIR"] = config.stash[_CACHE_DIR]


def pytest_unconfigure(config: pytest.Config) -> None:
    if (directory := config.stash.get(_CACHE_DIR, None)) is not None:
        shutil.rmtree(directory, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--skip-registry"):
        return
    kept = [item for item in items if item.get_closest_marker("registry") is None]
    deselected = [item for item in items if item.get_closest_marker("registry") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _registry_executable() -> str:
    """Debian's docker-registry (CNCF distribution 2.8); missing, the test fails with the install command."""
    return require(REGISTRY_BINARY, "docker-registry")


def _serve(mode: RegistryMode) -> Iterator[RegistryServer]:
    with RegistryServer(mode, executable=_registry_executable()) as server:
        yield server


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """Anonymous plain-http registry, one per test run; use a unique repository name per test."""
    yield from _serve(RegistryMode.ANONYMOUS)


@pytest.fixture(scope="session")
def registry_v3() -> Iterator[RegistryServer]:
    """CNCF distribution v3 (built by `make tools`), anonymous plain http; a second, independent registry."""
    with RegistryServer(RegistryMode.ANONYMOUS, executable=go_tool("distribution-registry")) as server:
        yield server


@pytest.fixture(scope="session")
def olareg_registry() -> Iterator[RegistryServer]:
    """olareg (built by `make tools`), anonymous plain http: the registry here that serves the OCI 1.1 referrers
    API (distribution 2.8 and v3 answer it 404)."""
    with RegistryServer(RegistryMode.ANONYMOUS, executable=go_tool("olareg"), argv=olareg_argv) as server:
        yield server


@pytest.fixture(scope="session")
def tls_registry() -> Iterator[RegistryServer]:
    """TLS (private CA: `.ca_file`, `.cert_dir`) + htpasswd registry; user alice/secret1 (`.credentials`)."""
    yield from _serve(RegistryMode.HTPASSWD)


@pytest.fixture(scope="session")
def token_registry() -> Iterator[RegistryServer]:
    """TLS + bearer-token registry; `.issuer` is the TokenIssuer (alice: pull/push/delete, bob: pull)."""
    yield from _serve(RegistryMode.TOKEN)


@pytest.fixture
def fault_proxy(request: pytest.FixtureRequest) -> Iterator[FaultProxyFactory]:
    """Factory: `fault_proxy(upstream=None, faults=())` starts a FaultProxy (default upstream: `registry`)."""
    started: list[FaultProxy] = []

    def make(upstream: RegistryServer | str | None = None, faults: Sequence[Fault] = ()) -> FaultProxy:
        if upstream is None:
            upstream = request.getfixturevalue("registry")
        url = upstream.url if isinstance(upstream, RegistryServer) else upstream
        proxy = FaultProxy(url, faults).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


# -- the release under test, built by the real code path
@pytest.fixture
def components(tmp_path: Path) -> Path:
    """A private copy of components/ that a test may break."""
    dst = tmp_path / "components"
    shutil.copytree(COMPONENTS, dst)
    return dst


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artefacts") / VERSION
    api.sample_artefacts(COMPONENTS, VERSION, out)
    return out


@pytest.fixture
def artefacts(samples: Path, tmp_path: Path) -> Path:
    """A private copy of the sample artefacts that a test may change."""
    dst = tmp_path / "artefacts"
    shutil.copytree(samples, dst)
    return dst


@pytest.fixture(scope="session")
def plan(samples: Path) -> ReleasePlan:
    """The plan of release 1473.0 from the sample artefacts (nothing published)."""
    return api.plan_release(COMPONENTS, VERSION, samples)[1]


@pytest.fixture(scope="session")
def published_plan(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReleasePlan]:
    """Release 1473.0 published to an OCI layout directory, and its plan (read-only: copy before changing)."""
    out = tmp_path_factory.mktemp("oci") / "oci"
    _, plan = api.plan_release(COMPONENTS, VERSION, samples)
    api.publish(plan, LayoutTarget(out))
    return out, plan


@pytest.fixture(scope="session")
def published_by_value(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 1473.0 published by value (files as local blobs of the component versions) to an OCI layout."""
    out = tmp_path_factory.mktemp("oci-by-value") / "oci"
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, Addressing(mode=AccessMode.VALUE))
    api.publish(plan, LayoutTarget(out))
    return out


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh RSA key pair as PEM files: (private key, public key), for `--sign-key` and `--public-key`."""
    return write_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def other_key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A second key pair: another signer, or the wrong key."""
    return write_key_pair(tmp_path_factory.mktemp("other-key"))


@pytest.fixture(scope="session")
def published(published_plan: tuple[Path, ReleasePlan]) -> Path:
    """The layout directory of `published_plan`."""
    return published_plan[0]


@pytest.fixture
def cosign_cli(tmp_path: Path) -> Cosign:
    """The pinned cosign CLI with a HOME of its own in the test's directory."""
    home = tmp_path / "cosign-home"
    home.mkdir()
    return Cosign(home)
