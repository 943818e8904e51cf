"""A release published with `--sign-key`, signed again with `gl-ocm sign`, and signed through an external command:
its cosign-format signatures checked by cosign v2.6.5, by gardenlinux-update's check and by `gl-ocm verify`, on
Debian's distribution 2.8, distribution v3 and olareg (which serves the referrers API); then tampered with, which all
three notice."""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.model import MediaType, descriptor_for
from gardenlinux_ocm.oci.registry import RegistryTarget
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.targets import addressing_for
from gardenlinux_ocm.trust.cosign import signature_tag
from support.cosign_cli import Cosign
from support.gardenlinux_update import ERR_NETWORK_PROBLEMS, UpdateRefused, select_update
from support.registry import RegistryServer
from support.release import COMPONENTS, VERSION, publish_args

pytestmark = [pytest.mark.registry, pytest.mark.tools]
runner = CliRunner()
USI = "metal-gardener_prod_usi-amd64"
USI_FLAVOR = """  - cname: metal-gardener_prod_usi
    architectures: [amd64]
    features: [_prod, _usi, base, gardener, metal, server]
    extraRoles: [uki]
"""


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture(scope="module")
def usi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The shipped specs plus a USI flavor whose build has a UKI, and their sample artefacts."""
    components = tmp_path_factory.mktemp("usi") / "components"
    shutil.copytree(COMPONENTS, components)
    release = components / "releases" / f"{VERSION}.yaml"
    text = release.read_text()
    release.write_text(text.replace("containers:\n", USI_FLAVOR + "containers:\n", 1))
    artefacts = components.parent / "artefacts"
    api.sample_artefacts(components, VERSION, artefacts)
    return components, artefacts


@pytest.fixture(params=["registry", "registry_v3", "olareg_registry"])
def server(request: pytest.FixtureRequest) -> RegistryServer:
    """Distribution 2.8 and v3 (no referrers API: the `.sig` tag only) and olareg (the referrers API: the referrer
    form as well)."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _publish(server: RegistryServer, usi: tuple[Path, Path], *extra: str) -> tuple[str, ReleasePlan]:
    components, artefacts = usi
    base = f"{server.host}/signed-{uuid.uuid4().hex[:8]}"
    _cli(*publish_args(artefacts, base, *extra, components=components))
    _, plan = api.plan_release(components, VERSION, artefacts, addressing_for(base))
    return base, plan


def _digest(plan: ReleasePlan, label: str) -> str:
    return next(r.descriptor.digest for r in plan.roots if r.label == label)


def _signed_kinds(plan: ReleasePlan) -> list[Any]:
    return [r for r in plan.roots if r.kind in (RootKind.FLAVOR, RootKind.CONTAINER, RootKind.CONTAINER_INDEX,
                                                  RootKind.INDEX)]


def _os_release(usi: tuple[Path, Path]) -> str:
    return next(usi[1].glob(f"{USI}-{VERSION}-*.release")).read_text()


def test_a_signed_publish_passes_cosign_gardenlinux_update_and_verify(
    server: RegistryServer, usi: tuple[Path, Path], key_files: tuple[Path, Path], cosign_cli: Cosign
) -> None:
    base, plan = _publish(server, usi, "--sign-key", str(key_files[0]))
    repo = base.split("/", 1)[1]
    # cosign, for a flavor manifest, the release index, a container image and a container index
    for reference in (f"{base}/gardenlinux@{_digest(plan, USI)}", f"{base}/gardenlinux@{plan.index.descriptor.digest}",
                      f"{base}/gardenlinux/bare-python@{_digest(plan, 'bare-python-arm64')}",
                      f"{base}/gardenlinux/container-python-dev:{VERSION}"):
        result = cosign_cli.verify(reference, key_files[1])
        assert result.returncode == 0, (reference, result.stderr)
    # gardenlinux-update: its flavor by cname prefix, its signature, its UKI
    update = select_update(server.url, f"{repo}/gardenlinux", VERSION, _os_release(usi), key_files[1].read_bytes())
    uki = next(usi[1].glob(f"{USI}-{VERSION}-*.uki"))
    assert (update.manifest_digest, update.os_version, update.uki_size) == (_digest(plan, USI), VERSION,
                                                                           uki.stat().st_size)
    # gl-ocm verify: every manifest's cosign signature, besides the OCM signatures
    out = json.loads(_cli("verify", base, "--public-key", str(key_files[1]), "--output", "json"))
    cosign_checks = [c for c in out["checks"] if c["kind"] == "signature" and c["detail"].startswith("cosign:")]
    assert len(cosign_checks) == len(_signed_kinds(plan)) and all(c["status"] == "ok" for c in cosign_checks)


def test_signing_again_adds_nothing_and_another_key_adds_a_signature(
    server: RegistryServer, usi: tuple[Path, Path], key_files: tuple[Path, Path], other_key_files: tuple[Path, Path],
    cosign_cli: Cosign
) -> None:
    base, plan = _publish(server, usi, "--sign-key", str(key_files[0]))
    subjects = _signed_kinds(plan)
    with RegistryTarget(base=base, credentials=lambda host: None) as target:
        def signatures() -> dict[str, str]:
            return {f"{r.repository}@{r.descriptor.digest}":
                    target.resolve(r.repository, signature_tag(r.descriptor.digest)).digest for r in subjects}

        before = signatures()
        again = json.loads(_cli(*publish_args(usi[1], base, "--sign-key", str(key_files[0]), "--output", "json",
                                              components=usi[0])))
        assert again["images_signed"] == {"signed": 0, "already": len(subjects)}
        assert again["stats"]["manifests_pushed"] == 0 and signatures() == before
        component = f"github.com/gardenlinux/gardenlinux:{VERSION}"
        second = json.loads(_cli("sign", base, component, "-K", str(other_key_files[0]), "--output", "json"))
        assert second["images_signed"] == {"signed": len(subjects), "already": 0}
        after = signatures()
        assert all(after[k] != before[k] for k in before)
    index = f"{base}/gardenlinux@{plan.index.descriptor.digest}"
    for key in (key_files, other_key_files):
        assert cosign_cli.verify(index, key[1]).returncode == 0
    # gardenlinux-update reads the first signature: the first key's
    repo = base.split("/", 1)[1]
    select_update(server.url, f"{repo}/gardenlinux", VERSION, _os_release(usi), key_files[1].read_bytes())


def test_tampering_is_noticed_by_cosign_gardenlinux_update_and_verify(
    server: RegistryServer, usi: tuple[Path, Path], key_files: tuple[Path, Path], cosign_cli: Cosign
) -> None:
    base, plan = _publish(server, usi, "--sign-key", str(key_files[0]))
    repo = base.split("/", 1)[1]
    with RegistryTarget(base=base, credentials=lambda host: None) as target:
        # a changed USI manifest (another annotation), and the release tag re-pointed at an index that lists it
        genuine = target.resolve("gardenlinux", f"{VERSION}-{USI}")
        with target.fetch("gardenlinux", genuine) as f:
            manifest = json.loads(f.read())
        manifest["annotations"]["org.opencontainers.image.description"] += " (changed)"
        evil = json.dumps(manifest).encode()
        evil_desc = descriptor_for(evil, MediaType.OCI_MANIFEST)
        target.tag("gardenlinux", evil_desc, f"{VERSION}-{USI}", evil)
        with target.fetch("gardenlinux", plan.index.descriptor) as f:
            index = json.loads(f.read())
        for entry in index["manifests"]:
            if entry["digest"] == genuine.digest:
                entry["digest"], entry["size"] = evil_desc.digest, evil_desc.size
        evil_index = json.dumps(index).encode()
        target.tag("gardenlinux", descriptor_for(evil_index, MediaType.OCI_INDEX), VERSION, evil_index)
    with pytest.raises(UpdateRefused) as refused:
        select_update(server.url, f"{repo}/gardenlinux", VERSION, _os_release(usi), key_files[1].read_bytes())
    assert refused.value.code == ERR_NETWORK_PROBLEMS and ".sig" in str(refused.value)
    assert cosign_cli.verify(f"{base}/gardenlinux:{VERSION}", key_files[1]).returncode != 0
    assert cosign_cli.verify(f"{base}/gardenlinux:{VERSION}-{USI}", key_files[1]).returncode != 0
    out = json.loads(_cli("verify", base, "--public-key", str(key_files[1]), "--output", "json", code=1))
    failed = [c for c in out["checks"] if c["status"] == "failed"]
    assert any(c["kind"] == "signature" and "no signature" in c["detail"] and USI in c["subject"] for c in failed)


def test_an_external_signer_holds_the_key_outside_the_process(
    server: RegistryServer, usi: tuple[Path, Path], key_files: tuple[Path, Path], cosign_cli: Cosign,
    tmp_path: Path
) -> None:
    """The key file is readable only by the signer script, named nowhere in gl-ocm's arguments."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH")
    vault = tmp_path / "vault"
    vault.mkdir()
    shutil.copy(key_files[0], vault / "release.pem")
    signer = tmp_path / "kms-sign"
    signer.write_text(f"#!/bin/sh\nexec openssl pkeyutl -sign -inkey {vault / 'release.pem'} "
                      "-pkeyopt digest:sha256\n")
    signer.chmod(signer.stat().st_mode | stat.S_IXUSR)
    base, plan = _publish(server, usi, "--signer-command", str(signer), "--signer-public-key", str(key_files[1]))
    assert cosign_cli.verify(f"{base}/gardenlinux@{_digest(plan, USI)}", key_files[1]).returncode == 0
    out = json.loads(_cli("verify", base, "--public-key", str(key_files[1]), "--output", "json"))
    assert out["ok"], [c for c in out["checks"] if c["status"] == "failed"]
    # a signer that fails publishes nothing
    broken = tmp_path / "broken-sign"
    broken.write_text("#!/bin/sh\necho 'no such key' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    fresh = f"{server.host}/broken-{uuid.uuid4().hex[:8]}"
    text = _cli(*publish_args(usi[1], fresh, "--signer-command", str(broken), components=usi[0]), code=2)
    assert "broken-sign" in " ".join(text.split())
    with RegistryTarget(base=fresh, credentials=lambda host: None) as target:
        assert target.tags("gardenlinux") == []
    assert os.environ.get("GL_OCM_SIGNER_COMMAND") is None
