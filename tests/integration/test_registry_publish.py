"""Publishing to a real registry (CNCF distribution 2.8), read back by skopeo, umoci, podman, oras and gardener-ocm;
faults, interrupted runs, bad credentials and `gl-ocm copy` between layout and registry."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import RegistryError
from gardenlinux_ocm.oci.graph import successors
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType, descriptor_for
from gardenlinux_ocm.oci.registry import RegistryTarget, RetryPolicy
from gardenlinux_ocm.oci.target import ReadOnlyTarget
from gardenlinux_ocm.ocm.access import AccessMode, Addressing
from gardenlinux_ocm.plan.model import ReleasePlan, RootKind
from gardenlinux_ocm.targets import addressing_for, open_target
from support import fault_proxy as proxy_module
from support.consumers import resolve_with_gardener_ocm
from support.fault_proxy import Fault, free_port
from support.registry import ALICE, RegistryServer
from support.release import COMPONENTS, VERSION, publish_args
from support.tools import optional, require

pytestmark = pytest.mark.registry
runner = CliRunner()
ROOT = "github.com/gardenlinux/gardenlinux"


@pytest.fixture(scope="session")
def on_registry(registry: RegistryServer, samples: Path) -> str:
    """Release 1473.0 published to the session registry (accesses naming it); returns the base."""
    base = f"{registry.host}/gl"
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
    api.publish(plan, open_target(base), jobs=4)
    return base


def _target(base: str, **kw: Any) -> RegistryTarget:
    return RegistryTarget(
        base=base,
        credentials=lambda h: None,
        retry=RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5, total=60),
        **kw,
    )


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=180, env=env).stdout


def _assert_whole(target: ReadOnlyTarget, repo: str, desc: Descriptor) -> None:
    """Everything a tag points at exists: the manifest and, recursively, every child."""
    assert target.exists(repo, desc), f"{repo}@{desc.digest} missing"
    with target.fetch(repo, desc) as f:
        data = f.read()
    for child in successors(desc, data):
        _assert_whole(target, repo, child)


def _roots_digests(target: ReadOnlyTarget, plan: ReleasePlan) -> dict[str, str]:
    return {f"{r.repository}:{t}": target.resolve(r.repository, t).digest for r in plan.roots for t in r.tags}


_MANIFEST_PATH = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/?]+)$")
_BLOB_PATH = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")


@pytest.fixture(params=["distribution-2.8", "distribution-v3"])
def server(request: pytest.FixtureRequest) -> RegistryServer:
    value: RegistryServer = request.getfixturevalue(
        "registry" if request.param == "distribution-2.8" else "registry_v3"
    )
    return value


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """Request body bytes that fault proxies receive, per (method, path class)."""
    counted: Counter[tuple[str, str]] = Counter()
    body = proxy_module._Handler._body

    def counting(handler: Any) -> Iterator[bytes]:
        for chunk in body(handler):
            counted[(handler.command, proxy_module.path_class(handler.path))] += len(chunk)
            yield chunk

    monkeypatch.setattr(proxy_module._Handler, "_body", counting)
    return counted


def test_publish_sends_each_manifest_once_per_tag_and_a_second_publish_only_resolves(
    server: RegistryServer, fault_proxy: Any, sent: Counter[tuple[str, str]], samples: Path
) -> None:
    proxy = fault_proxy(server)
    base = f"{proxy.host}/once-{server.port}"
    prefix = base.partition("/")[2] + "/"
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, Addressing(mode=AccessMode.VALUE))  # blobs shared
    tags = Counter((r.repository, t) for r in plan.roots for t in r.tags)
    referrers = [r for r in plan.roots if r.kind is RootKind.REFERRER]  # the SBOMs: untagged, by digest
    fallbacks = Counter((r.repository, t) for r in plan.roots if r.kind is RootKind.REFERRERS for t in r.tags)
    assert len(referrers) == 2 and len(fallbacks) == 2

    first = api.publish(plan, _target(base), jobs=4)
    manifests = [(m, _MANIFEST_PATH.match(urllib.parse.urlsplit(t).path)) for m, t in proxy.seen]
    put = Counter((h["repo"].removeprefix(prefix), h["ref"]) for m, h in manifests if h and m == "PUT")
    # every root PUT once under each tag, never by digest; a referrer, which has no tag, once by digest
    assert put == tags + Counter((r.repository, r.descriptor.digest) for r in referrers)
    assert sent[("PUT", "manifests")] == sum(r.descriptor.size * max(1, len(r.tags)) for r in plan.roots)
    assert not [h for m, h in manifests if h and m == "GET"]  # nothing read back to tag it
    heads = Counter(
        (b["repo"], b["digest"])
        for m, t in proxy.seen
        if m == "HEAD" and (b := _BLOB_PATH.match(urllib.parse.urlsplit(t).path))
    )
    assert heads and max(heads.values()) == 1  # one existence check per (repository, digest) at most
    mounts = [urllib.parse.urlsplit(t) for m, t in proxy.seen if m == "POST" and "mount=" in t]
    assert len(mounts) == first.stats.blobs_mounted > 0
    for url in mounts:
        repo = url.path.removeprefix("/v2/").removesuffix("/blobs/uploads/")
        digest = urllib.parse.parse_qs(url.query)["mount"][0]
        assert (repo, digest) not in heads  # mounted without asking first
    assert first.stats.manifests_pushed == len(plan.roots) and first.stats.tags_set == sum(tags.values())

    proxy.reset()
    sent.clear()
    second = api.publish(plan, _target(base), jobs=4)
    kinds = {(m, proxy_module.path_class(t)) for m, t in proxy.seen} - {("GET", "base")}
    assert kinds <= {("HEAD", "manifests"), ("GET", "manifests")}  # no referrers API question either
    resolved = Counter(
        (h["repo"].removeprefix(prefix), h["ref"])
        for _, t in proxy.seen
        if (h := _MANIFEST_PATH.match(urllib.parse.urlsplit(t).path))
    )
    # exactly one resolve per tag, nothing else: a fallback tag that is the planned index lists the referrers
    assert resolved == tags
    assert sum(sent.values()) == 0 and second.stats.wrote_nothing
    # the fallback tags were found listing the referrers before the copy, which they are then not part of
    assert second.stats.tags_unchanged == sum(tags.values()) - len(fallbacks)
    direct = _target(f"{server.host}/{prefix.rstrip('/')}")
    for root in plan.roots:
        _assert_whole(direct, root.repository, root.descriptor)


def test_a_mount_answered_with_an_upload_session_uploads_into_it_or_cancels_it(
    server: RegistryServer, fault_proxy: Any
) -> None:
    proxy = fault_proxy(server)
    target = _target(f"{proxy.host}/session-{server.port}")
    layer = os.urandom(4096)
    desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR)
    # `from` lacks the blob: the registry answers 202 with an upload session, and the blob goes into that session.
    assert target.mount("b", desc, "a", lambda: contextlib.nullcontext(io.BytesIO(layer))) is True
    assert [(m, proxy_module.path_class(t)) for m, t in proxy.seen if m != "GET"] == [
        ("POST", "uploads"),
        ("PUT", "uploads"),
    ]
    assert "mount=" in proxy.seen[-2][1] and target.exists("b", desc)
    proxy.reset()
    assert target.mount("c", descriptor_for(b"nowhere", MediaType.OCI_LAYER_TAR), "a") is False  # no content: cancel
    assert [(m, proxy_module.path_class(t)) for m, t in proxy.seen] == [("POST", "uploads"), ("DELETE", "uploads")]


def test_cli_publish_twice_second_run_uploads_nothing(registry: RegistryServer, samples: Path) -> None:
    args = [
        "publish",
        VERSION,
        "--to",
        f"{registry.host}/cli",
        "--artefacts",
        str(samples),
        "--components",
        str(COMPONENTS),
        "--output",
        "json",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(f"{registry.host}/cli"))
    assert a["stats"]["bytes_pushed"] > 0 and a["stats"]["tags_set"] == sum(len(r.tags) for r in plan.roots)
    assert a["stats"]["manifests_pushed"] == len(plan.roots)  # the referrers by digest, everything else by tag
    assert b["stats"]["bytes_pushed"] == 0 and b["stats"]["blobs_pushed"] == 0 and b["stats"]["tags_set"] == 0
    assert a["published"] == b["published"]
    assert {r["digest"] for r in a["published"]} == {r.descriptor.digest for r in plan.roots
                                                     if r.kind is not RootKind.REFERRERS}
    assert {r["digest"] for r in a["fallback_tags_written"]} == {r.descriptor.digest for r in plan.roots
                                                                 if r.kind is RootKind.REFERRERS}
    assert b["fallback_tags_written"] == []


@pytest.mark.tools
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_skopeo_pulls_base_container_and_umoci_unpacks(on_registry: str, tmp_path: Path, arch: str) -> None:
    for tool in ("skopeo", "umoci"):
        require(tool)
    out = tmp_path / "img"
    _run(
        "skopeo",
        "--override-arch",
        arch,
        "copy",
        "--src-tls-verify=false",
        f"docker://{on_registry}/gardenlinux:1473.0",
        f"oci:{out}:x",
    )
    cfg = json.loads(_run("skopeo", "inspect", "--config", f"oci:{out}:x"))
    assert (cfg["architecture"], cfg["os"]) == (arch, "linux")
    _run("umoci", "unpack", "--rootless", "--image", f"{out}:x", str(tmp_path / "bundle"))
    assert "GARDENLINUX_VERSION=1473.0" in (tmp_path / "bundle" / "rootfs" / "etc" / "os-release").read_text()


@pytest.mark.tools
def test_podman_pull(on_registry: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    optional("podman")
    root = tmp_path / "storage"
    run = Path(tempfile.mkdtemp(prefix="glp-", dir="/tmp"))  # podman wants a runroot under 50 characters
    request.addfinalizer(lambda: shutil.rmtree(run, ignore_errors=True))
    podman = ["podman", "--root", str(root), "--runroot", str(run), "--storage-driver", "vfs"]
    pull = [*podman, "pull", "--tls-verify=false", f"{on_registry}/gardenlinux:1473.0"]
    result = subprocess.run(pull, capture_output=True, text=True, timeout=180)
    if result.returncode != 0 and ("permission" in result.stderr.lower() or "namespace" in result.stderr.lower()):
        pytest.skip(f"podman cannot run in this sandbox: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.strip().splitlines()[-1]
    inspect = json.loads(_run(*podman, "image", "inspect", image_id))
    assert inspect[0]["Os"] == "linux"


def test_oras_pulls_a_flavor_with_file_names(on_registry: str, samples: Path, tmp_path: Path) -> None:
    import oras.client

    host, _, prefix = on_registry.partition("/")
    client = oras.client.OrasClient(hostname=host, insecure=True)
    files = client.pull(target=f"{on_registry}/gardenlinux:1473.0-aws-gardener_prod-amd64", outdir=str(tmp_path))
    names = sorted(Path(f).name for f in files)
    expected = sorted(p.name for p in samples.glob("aws-gardener_prod-amd64-1473.0-*"))
    assert names == expected
    for name in names:
        assert (tmp_path / name).read_bytes() == (samples / name).read_bytes()


def test_gardener_ocm_lookup_and_accesses_resolve(on_registry: str, plan: ReleasePlan) -> None:
    counts = resolve_with_gardener_ocm(on_registry, VERSION, [on_registry.split("/")[0]])
    assert counts["components"] == len(plan.components)
    assert counts["ociRegistry"] + counts["ociBlob/v1"] + counts.get("localBlob/v1", 0) > 26 * 6


def test_verify_deep_on_the_registry(on_registry: str) -> None:
    report = api.verify(_target(on_registry), deep=True)
    assert report.ok, [c for c in report.checks if not c.ok][:3]
    assert sum(1 for c in report.checks if c.kind == "index") >= 28  # every flavor and container listed


def test_publish_through_faults_gives_same_digests(
    registry: RegistryServer, fault_proxy: Any, plan: ReleasePlan
) -> None:
    proxy = fault_proxy(
        registry,
        [
            Fault.error(503, method="PUT", path=r"/blobs/uploads/", nth=2),
            Fault.error(500, method="HEAD", path=r"/blobs/", nth=5),
            Fault.error(429, method="POST", path=r"/blobs/uploads/", nth=7),
            Fault.cut(method="PUT", path=r"/blobs/uploads/", after=1000, nth=10),
            Fault.error(503, method="PUT", path=r"/manifests/", nth=3),
        ],
    )
    result = api.publish(plan, _target(f"{proxy.host}/faulty"), jobs=4)
    assert len(proxy.injected) == 5 and result.stats.manifests_pushed == len(plan.roots)
    clean = _target(f"{registry.host}/faulty")
    assert _roots_digests(clean, plan) == {k: v for k, v in _roots_digests(LayoutTargetFromPlan(plan), plan).items()}
    for r in plan.roots:
        _assert_whole(clean, r.repository, r.descriptor)


class LayoutTargetFromPlan:
    """Tag -> digest as the plan has it (what a clean run yields)."""

    def __init__(self, plan: ReleasePlan) -> None:
        self._tags = {(r.repository, t): r.descriptor for r in plan.roots for t in r.tags}

    def resolve(self, repository: str, tag: str) -> Descriptor:
        return self._tags[(repository, tag)]


def test_run_dying_midway_never_leaves_dangling_tags_and_rerun_converges(
    registry: RegistryServer, fault_proxy: Any, plan: ReleasePlan
) -> None:
    # Every manifest of a release is a root, stored by the PUTs under its tags (the SBOM referrers by digest, first):
    # from the 8th manifest PUT on the registry fails, so the run dies with 7 manifests stored, most tags missing.
    proxy = fault_proxy(registry, [Fault.error(500, method="PUT", path=r"/manifests/", nth=8, times=None)])
    base = f"{proxy.host}/dying"
    with pytest.raises(RegistryError) as info:
        api.publish(
            plan,
            RegistryTarget(
                base=base,
                credentials=lambda h: None,
                retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, total=5),
            ),
        )
    assert "500" in str(info.value) and "/dying/" in str(info.value)
    direct = _target(f"{registry.host}/dying")
    tagged = 0
    for repo in {r.repository for r in plan.roots}:
        for tag in direct.tags(repo):
            _assert_whole(direct, repo, direct.resolve(repo, tag))
            tagged += 1
    referrers = sum(r.kind is RootKind.REFERRER for r in plan.roots)
    assert referrers == 2 and tagged == 7 - referrers  # it really died midway: some tags set, most not
    again = api.publish(plan, direct)
    assert again.stats.bytes_pushed == 0  # every blob was already there
    assert _roots_digests(direct, plan) == _roots_digests(LayoutTargetFromPlan(plan), plan)


def test_killed_process_then_rerun_converges(
    registry: RegistryServer, fault_proxy: Any, samples: Path, plan: ReleasePlan
) -> None:
    # The proxy holds the tag PUT of the release index: the run is caught after the flavor tags, before the index
    # and the component versions, and killed there.
    proxy = fault_proxy(registry, [Fault.slow(60, method="PUT", path=r"/gardenlinux/manifests/1473\.0$")])
    cmd = [sys.executable, "-m", "gardenlinux_ocm", *publish_args(samples, f"{proxy.host}/killed"), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not proxy.injected and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # tags are set in root order: the held index tag comes after every flavor tag
    assert proxy.injected, "the run never reached the release index tag"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    direct = _target(f"{registry.host}/killed")
    tags = {repo: direct.tags(repo) for repo in {r.repository for r in plan.roots}}
    for repo, names in tags.items():
        for tag in names:
            _assert_whole(direct, repo, direct.resolve(repo, tag))
    assert "1473.0-vmware-gardener_prod-amd64" in tags["gardenlinux"] and "1473.0" not in tags["gardenlinux"]
    assert all(not names for repo, names in tags.items() if repo.startswith("component-descriptors/"))
    rerun = [sys.executable, "-m", "gardenlinux_ocm", *publish_args(samples, f"{registry.host}/killed")]
    subprocess.run(rerun, check=True, capture_output=True, timeout=180)
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(f"{registry.host}/killed"))
    assert _roots_digests(direct, plan) == _roots_digests(LayoutTargetFromPlan(plan), plan)


def _cli_error(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = runner.invoke(app, args, env=env, input=stdin)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


def test_bad_credentials(tls_registry: RegistryServer, samples: Path) -> None:
    base = [
        *publish_args(samples, tls_registry.host),
        "--ca-file",
        str(tls_registry.ca_file),
    ]
    out = _cli_error(base, env={"GL_OCM_REGISTRY_USERNAME": "alice", "GL_OCM_REGISTRY_PASSWORD": "wrong-pw-123"})
    assert "401" in out or "unauthorized" in out.lower()
    assert "wrong-pw-123" not in out
    out = _cli_error([*base, "--username", "alice", "--password-stdin"], stdin="another-secret-9\n")
    assert "another-secret-9" not in out


def test_token_auth_publish_with_password_stdin(token_registry: RegistryServer, samples: Path) -> None:
    result = runner.invoke(
        app,
        [
            *publish_args(samples, f"{token_registry.host}/tok"),
            "--ca-file",
            str(token_registry.ca_file),
            "--username",
            ALICE[0],
            "--password-stdin",
            "--output",
            "json",
        ],
        input=f"{ALICE[1]}\n",
    )
    assert result.exit_code == 0, result.output
    assert ALICE[1] not in result.output
    assert any("push" in " ".join(r.scopes) for r in token_registry.issuer.requests)


def test_unreachable_registry(samples: Path) -> None:
    out = _cli_error(publish_args(samples, f"127.0.0.1:{free_port()}"))
    assert "cannot reach" in out


def test_registry_answering_html(fault_proxy: Any, samples: Path) -> None:
    proxy = fault_proxy(None, [Fault.html()])
    out = _cli_error(publish_args(samples, proxy.host))
    assert "did not answer like an OCI registry" in out


@pytest.fixture
def layout_release(published: Path) -> Iterator[str]:
    yield f"oci-layout:{published}"


def test_copy_layout_to_registry_and_back(
    layout_release: str, registry: RegistryServer, tmp_path: Path, plan: ReleasePlan
) -> None:
    mirror = f"{registry.host}/mirror"
    result = runner.invoke(app, ["copy", layout_release, mirror, "--output", "json"])
    assert result.exit_code == 0, result.output
    source = LayoutTarget(Path(layout_release.split(":", 1)[1]), read_only=True)
    expected = _roots_digests(source, plan)
    on_mirror = _roots_digests(_target(mirror), plan)
    artefacts = {k for k in expected if not k.startswith("component-descriptors/")}
    assert {k: on_mirror[k] for k in artefacts} == {k: expected[k] for k in artefacts}
    assert all(on_mirror[k] != expected[k] for k in expected.keys() - artefacts)  # accesses re-pointed
    back = tmp_path / "back"
    result = runner.invoke(app, ["copy", mirror, f"oci-layout:{back}", "--version", VERSION])
    assert result.exit_code == 0, result.output
    assert _roots_digests(LayoutTarget(back), plan) == expected  # pointed back at the layout: the same bytes
    again = runner.invoke(app, ["copy", layout_release, mirror, "--output", "json"])
    assert json.loads(again.stdout)["stats"]["bytes_pushed"] == 0


def test_no_secret_in_environment_leaks_into_errors(tls_registry: RegistryServer, samples: Path) -> None:
    env = {**os.environ, "GL_OCM_REGISTRY_USERNAME": "alice", "GL_OCM_REGISTRY_PASSWORD": "s3cr3t-value"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gardenlinux_ocm",
            "--verbose",
            "publish",
            VERSION,
            "--artefacts",
            str(samples),
            "--components",
            str(COMPONENTS),
            "--to",
            tls_registry.host,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "s3cr3t-value" not in proc.stdout + proc.stderr
