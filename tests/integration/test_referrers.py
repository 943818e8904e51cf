"""A flavor's SBOM as a referrer of its flavor manifest, on olareg (the referrers API), distribution v3 and Debian's
distribution 2.8 (the fallback tag): `oras discover` lists it, `oras pull` gets it, `gl-ocm verify` finds it both
ways and `gl-ocm download --role sbom` writes it. Signatures become referrers too where the API is served, and
`cosign verify --experimental-oci11` accepts them there without the `.sig` tag."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.referrers import fallback_tag
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.targets import addressing_for
from gardenlinux_ocm.trust.cosign import SIGNATURE_ARTIFACT_TYPE, signature_tag
from support.consumers import oras
from support.cosign_cli import Cosign
from support.registry import MANIFEST_ACCEPT, RegistryServer
from support.release import COMPONENTS, VERSION, publish_args
from support.tools import go_tool

pytestmark = [pytest.mark.registry, pytest.mark.tools]
runner = CliRunner()
FLAVOR = "gdch-gardener_prod-amd64"
SBOM_TYPE = "application/vnd.cyclonedx+json"
INDEX_ACCEPT = {"Accept": "application/vnd.oci.image.index.v1+json"}


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture(params=["registry", "registry_v3", "olareg_registry"])
def server(request: pytest.FixtureRequest) -> RegistryServer:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _serves_api(server: RegistryServer) -> bool:
    return server.executable.endswith("olareg")


def _publish(server: RegistryServer, samples: Path, *extra: str) -> tuple[str, ReleasePlan]:
    base = f"{server.host}/ref-{uuid.uuid4().hex[:8]}"
    _cli(*publish_args(samples, base, *extra))
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
    return base, plan


def _root(plan: ReleasePlan, label: str) -> Any:
    return next(r for r in plan.roots if r.label == label)


def _discover(base: str, reference: str, *extra: str) -> list[dict[str, Any]]:
    out = oras(go_tool("oras"), "discover", "--plain-http", "--format", "json", *extra, f"{base}/{reference}")
    return json.loads(out)["referrers"]  # type: ignore[no-any-return]


def test_oras_verify_and_download_find_the_sbom(server: RegistryServer, samples: Path, tmp_path: Path) -> None:
    base, plan = _publish(server, samples)
    repo = base.split("/", 1)[1] + "/gardenlinux"
    flavor, referrer = _root(plan, FLAVOR), _root(plan, f"{FLAVOR} sbom")
    assert referrer.kind is RootKind.REFERRER
    sbom = next(samples.glob(f"{FLAVOR}-{VERSION}-*.sbom"))
    # oras: the referrer, its type and annotations, through the API or the fallback tag as the registry offers
    (found,) = _discover(base, f"gardenlinux:{VERSION}-{FLAVOR}")
    assert (found["digest"], found["artifactType"]) == (referrer.descriptor.digest, SBOM_TYPE)
    assert found["annotations"]["org.opencontainers.image.title"] == sbom.name
    api_answer = server.raw_get(f"/v2/{repo}/referrers/{flavor.descriptor.digest}", headers=INDEX_ACCEPT)
    tag_answer = server.raw_get(f"/v2/{repo}/manifests/{fallback_tag(flavor.descriptor.digest)}",
                                headers={"Accept": MANIFEST_ACCEPT})
    if _serves_api(server):
        assert api_answer.status_code == 200 and tag_answer.status_code == 404  # no fallback tag where the API is
        listed = api_answer.json()["manifests"]
    else:
        assert api_answer.status_code == 404 and tag_answer.status_code == 200
        listed = tag_answer.json()["manifests"]
    assert [m["digest"] for m in listed] == [referrer.descriptor.digest]
    pulled = tmp_path / "pulled"
    oras(go_tool("oras"), "pull", "--plain-http", f"{base}/gardenlinux@{referrer.descriptor.digest}", "-o",
         str(pulled))
    assert (pulled / sbom.name).read_bytes() == sbom.read_bytes()
    # gl-ocm verify: the descriptor's SBOM resource names the referrer, found the way the registry offers
    report = json.loads(_cli("verify", base, "--deep", "--output", "json"))
    checks = [c for c in report["checks"] if c["kind"] == "referrer"]
    way = "referrers API" if _serves_api(server) else "fallback tag"
    assert len(checks) == 2 and all(c["status"] == "ok" and f"listed by the {way}" in c["detail"] for c in checks)
    out = tmp_path / "dl"
    _cli("download", base, VERSION, "--flavor", FLAVOR, "--role", "sbom", "-o", str(out))
    assert (out / sbom.name).read_bytes() == sbom.read_bytes()


def test_publishing_again_writes_nothing_and_keeps_a_referrer_oras_attached(server: RegistryServer, samples: Path,
                                                                           tmp_path: Path) -> None:
    base, plan = _publish(server, samples)
    note = tmp_path / "scan.txt"
    note.write_text("scanned: no findings\n")
    oras(go_tool("oras"), "attach", "--plain-http", "--artifact-type", "application/vnd.example.scan+txt",
         f"{base}/gardenlinux:{VERSION}-{FLAVOR}", f"{note.name}:text/plain", cwd=tmp_path)
    types = sorted(r["artifactType"] for r in _discover(base, f"gardenlinux:{VERSION}-{FLAVOR}"))
    assert types == sorted(["application/vnd.example.scan+txt", SBOM_TYPE])
    again = json.loads(_cli(*publish_args(samples, base, "--output", "json")))
    assert again["stats"]["manifests_pushed"] == again["stats"]["tags_set"] == again["stats"]["blobs_pushed"] == 0
    assert sorted(r["artifactType"] for r in _discover(base, f"gardenlinux:{VERSION}-{FLAVOR}")) == types
    report = json.loads(_cli("verify", base, "--output", "json"))
    assert report["ok"] is True


def test_a_flavor_job_and_assemble_find_the_referrers(server: RegistryServer, samples: Path) -> None:
    base = f"{server.host}/fan-{uuid.uuid4().hex[:8]}"
    spec, _ = api.plan_release(COMPONENTS, VERSION, samples)
    flags = [arg for f in spec.flavors for arg in ("--flavor", f.name)]
    _cli(*publish_args(samples, base, *flags))
    _cli(*publish_args(samples, base, "--containers"))
    _cli("assemble", VERSION, "--to", base)
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
    repo = base.split("/", 1)[1]
    for digest, path in ((plan.index.descriptor.digest, f"{repo}/gardenlinux/manifests/{VERSION}"),
                         (plan.component("github.com/gardenlinux/gardenlinux").manifest_descriptor.digest,
                          f"{repo}/component-descriptors/github.com/gardenlinux/gardenlinux/manifests/{VERSION}")):
        assert server.tag_manifest_digest(*path.split("/manifests/")) == digest, path
    assert json.loads(_cli("verify", base, "--output", "json"))["ok"] is True


def test_signatures_are_referrers_only_where_the_api_is_served(
        server: RegistryServer, samples: Path, key_files: tuple[Path, Path], cosign_cli: Cosign) -> None:
    base, plan = _publish(server, samples, "--sign-key", str(key_files[0]))
    flavor = _root(plan, "aws-gardener_prod-amd64")
    signatures = _discover(base, f"gardenlinux@{flavor.descriptor.digest}", "--artifact-type",
                           SIGNATURE_ARTIFACT_TYPE)
    reference = f"{base}/gardenlinux@{flavor.descriptor.digest}"
    if not _serves_api(server):
        assert signatures == []  # the `.sig` tag only
        return
    assert len(signatures) == 1
    signed = [r for r in plan.roots if r.kind in (RootKind.FLAVOR, RootKind.CONTAINER, RootKind.CONTAINER_INDEX,
                                                  RootKind.INDEX)]
    for root in signed:  # every signed manifest has its referrer, the release index too
        index = server.raw_get(f"/v2/{base.split('/', 1)[1]}/{root.repository}/referrers/{root.descriptor.digest}",
                               headers=INDEX_ACCEPT).json()["manifests"]
        assert [m["artifactType"] for m in index].count(SIGNATURE_ARTIFACT_TYPE) == 1, root.label
    # without the `.sig` tag, cosign finds the signature through the referrers API alone
    repo = base.split("/", 1)[1] + "/gardenlinux"
    deleted = server.raw_get(f"/v2/{repo}/manifests/{signature_tag(flavor.descriptor.digest)}", method="DELETE")
    assert deleted.status_code == 202, deleted.text
    assert cosign_cli.verify(reference, key_files[1]).returncode != 0
    result = cosign_cli.run("verify", "--key", str(key_files[1]), "--insecure-ignore-tlog=true",
                            "--experimental-oci11", reference)
    assert result.returncode == 0, result.stderr
    # signing again: the referrers are there, nothing is added
    again = json.loads(_cli("sign", base, f"github.com/gardenlinux/gardenlinux:{VERSION}", "-K", str(key_files[0]),
                            "--output", "json"))
    assert again["tags_set"] == 1  # the deleted `.sig` tag, set again
    assert len(_discover(base, f"gardenlinux@{flavor.descriptor.digest}", "--artifact-type",
                         SIGNATURE_ARTIFACT_TYPE)) == 1


@pytest.mark.parametrize("destination", ["olareg_registry", "registry_v3"])
def test_copy_carries_the_referrers_to_a_registry_with_or_without_the_api(
        registry: RegistryServer, destination: str, samples: Path, request: pytest.FixtureRequest) -> None:
    base, plan = _publish(registry, samples)  # distribution 2.8: the fallback tag
    dst_server: RegistryServer = request.getfixturevalue(destination)
    dst = f"{dst_server.host}/copied-{uuid.uuid4().hex[:8]}"
    _cli("copy", base, dst, "--version", VERSION)
    referrer = _root(plan, f"{FLAVOR} sbom")
    (found,) = _discover(dst, f"gardenlinux:{VERSION}-{FLAVOR}")
    assert (found["digest"], found["artifactType"]) == (referrer.descriptor.digest, SBOM_TYPE)
    flavor = _root(plan, FLAVOR)
    tag = dst_server.tag_manifest_digest(f"{dst.split('/', 1)[1]}/gardenlinux", fallback_tag(flavor.descriptor.digest))
    assert (tag is None) == _serves_api(dst_server)  # a fallback tag only where the API is not served
    report = json.loads(_cli("verify", dst, "--output", "json"))
    way = "referrers API" if _serves_api(dst_server) else "fallback tag"
    checks = [c for c in report["checks"] if c["kind"] == "referrer"]
    assert report["ok"] is True and len(checks) == 2 and all(f"listed by the {way}" in c["detail"] for c in checks)
