"""`gl-ocm copy`, `verify` and `sign` against the TLS (htpasswd) and the token-auth registries of the suite.

The release is copied from a layout to the root of each registry, so that `verify HOST` without a component argument
has to find it through the catalog: on loopback the scheme is probed first (plain HTTP, then HTTPS), and the catalog
request must use what the probe found. A wrong password gives exit 1 with the 401 and never the password.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from support.registry import ALICE, RegistryServer
from support.release import VERSION

pytestmark = pytest.mark.registry
runner = CliRunner()
ROOT = "github.com/gardenlinux/gardenlinux"
WRONG_PASSWORD = "not-the-Pa55word-9"
KINDS = ["tls_registry", "token_registry"]


def _env(password: str = ALICE[1]) -> dict[str, str]:
    return {"GL_OCM_REGISTRY_USERNAME": ALICE[0], "GL_OCM_REGISTRY_PASSWORD": password}


def _cli(server: RegistryServer, *args: str, password: str = ALICE[1]) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--ca-file", str(server.ca_file)], env=_env(password))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest, published: Path) -> RegistryServer:
    """A TLS registry holding release 1473.0 at its root, copied there with `gl-ocm copy`."""
    registry: RegistryServer = request.getfixturevalue(request.param)
    code, output = _cli(registry, "copy", f"oci-layout:{published}", registry.host, "--output", "json")
    assert code == 0, output
    return registry


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = directory / "key.pem", directory / "key.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def test_verify_host_without_a_component(server: RegistryServer) -> None:
    code, output = _cli(server, "verify", server.host, "--output", "json")
    assert code == 0, output
    report = json.loads(output)
    assert report["component"] == ROOT and report["version"] == VERSION


def test_verify_with_a_wrong_password_says_401_and_hides_it(server: RegistryServer) -> None:
    for args in (["verify", server.host], ["verify", server.host, f"{ROOT}:{VERSION}"]):
        code, output = _cli(server, *args, password=WRONG_PASSWORD)
        assert code == 1, output
        assert "401" in output and "alice" in output
        assert WRONG_PASSWORD not in output


def test_copy_sign_and_verify_the_signature(
    server: RegistryServer, keys: tuple[Path, Path], tmp_path: Path, published: Path
) -> None:
    private, public = keys
    copied = f"{server.host}/signed"
    code, output = _cli(server, "copy", server.host if server.issuer is None else f"oci-layout:{published}", copied)
    assert code == 0, output
    code, output = _cli(server, "sign", copied, f"{ROOT}:{VERSION}", "--private-key", str(private))
    assert code == 0, output
    code, output = _cli(server, "verify", copied, "--public-key", str(public), "--output", "json")
    assert code == 0, output
    assert any(c["kind"] == "signature" and c["status"] == "ok" for c in json.loads(output)["checks"])
    code, output = _cli(server, "copy", copied, f"oci-layout:{tmp_path / 'back'}", "--version", VERSION)
    if server.issuer is not None:
        # The token issuer grants no catalog scope: a registry source cannot list its repositories.
        assert code == 1 and "holds no repositories" in output, output
        return
    assert code == 0, output
    back = LayoutTarget(tmp_path / "back", read_only=True)
    assert back.tags(f"component-descriptors/{ROOT}") == [VERSION]
