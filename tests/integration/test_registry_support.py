"""The registry fixtures and the fault proxy are real: raw HTTP, skopeo and the token flow against them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
import requests

from support.fault_proxy import Fault, FaultKind, FaultProxy, unreachable_url
from support.registry import BOB, RegistryServer
from support.tools import require

pytestmark = pytest.mark.registry

TIMEOUT = 10.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _session(verify: str | bool = True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the machine exports REQUESTS_CA_BUNDLE; we pass our CA explicitly
    session.verify = verify
    return session


def _repo(prefix: str) -> str:
    return f"support/{prefix}-{uuid.uuid4().hex[:8]}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload_url(base: str, location: str, digest: str) -> str:
    url = urllib.parse.urljoin(base, location)
    return f"{url}{'&' if '?' in url else '?'}digest={urllib.parse.quote(digest)}"


def _push_blob(
    session: requests.Session,
    base: str,
    repo: str,
    data: bytes | Iterator[bytes],
    *,
    digest: str | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> requests.Response:
    """POST an upload session, then PUT the whole blob; returns the PUT's response (201 on success)."""
    start = session.post(f"{base}/v2/{repo}/blobs/uploads/", headers=headers, auth=auth, timeout=TIMEOUT)
    assert start.status_code == 202, (start.status_code, start.text)
    digest = digest or _digest(data)  # type: ignore[arg-type]
    return session.put(
        _upload_url(base, start.headers["Location"], digest),
        data=data,
        headers={"Content-Type": "application/octet-stream"} | (headers or {}),
        auth=auth,
        timeout=TIMEOUT,
    )


def _image(
    session: requests.Session,
    base: str,
    repo: str,
    tag: str,
    *,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> bytes:
    """Push a one-layer OCI image with raw HTTP; return the manifest bytes."""
    layer = b"hello from gl-ocm " + uuid.uuid4().bytes
    config = json.dumps({"architecture": "amd64", "os": "linux"}, sort_keys=True).encode()
    for blob in (layer, config):
        assert _push_blob(session, base, repo, blob, headers=headers, auth=auth).status_code == 201
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(layer), "size": len(layer)}
            ],
        },
        separators=(",", ":"),
    ).encode()
    put = session.put(
        f"{base}/v2/{repo}/manifests/{tag}",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST} | (headers or {}),
        auth=auth,
        timeout=TIMEOUT,
    )
    assert put.status_code == 201, (put.status_code, put.text)
    return manifest


def _challenge(response: requests.Response) -> dict[str, str]:
    scheme, _, params = response.headers["WWW-Authenticate"].partition(" ")
    fields = dict(part.split("=", 1) for part in params.split('",'))
    return {"scheme": scheme} | {k.strip(): v.strip().strip('"') for k, v in fields.items()}


# -- anonymous registry -------------------------------------------------------------------------------------------


@pytest.mark.tools
def test_anonymous_push_then_skopeo_reads_the_same_bytes(registry: RegistryServer) -> None:
    skopeo = require("skopeo")
    repo = _repo("anon")
    with _session() as session:
        manifest = _image(session, registry.url, repo, "v1")

    result = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{repo}:v1"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == manifest
    assert registry.tag_manifest_digest(repo, "v1") == _digest(manifest)
    assert registry.tag_manifest_digest(repo, "absent") is None
    assert registry.storage.joinpath("docker/registry/v2/repositories", repo).is_dir()


# -- TLS + htpasswd -----------------------------------------------------------------------------------------------


def test_tls_htpasswd_requires_basic_auth(tls_registry: RegistryServer) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.ca_file is not None and tls_registry.credentials == ("alice", "secret1")
    with _session(str(tls_registry.ca_file)) as session:
        anonymous = session.get(f"{tls_registry.url}/v2/", timeout=TIMEOUT)
        assert anonymous.status_code == 401
        assert _challenge(anonymous)["scheme"] == "Basic"
        assert session.get(f"{tls_registry.url}/v2/", auth=("alice", "wrong"), timeout=TIMEOUT).status_code == 401
        assert session.get(f"{tls_registry.url}/v2/", auth=("alice", "secret1"), timeout=TIMEOUT).status_code == 200

        repo = _repo("tls")
        manifest = _image(session, tls_registry.url, repo, "v1", auth=("alice", "secret1"))
    assert tls_registry.tag_manifest_digest(repo, "v1") == _digest(manifest)


def test_tls_is_signed_by_the_private_ca_only(tls_registry: RegistryServer) -> None:
    with _session(True) as session, pytest.raises(requests.exceptions.SSLError):
        session.get(f"{tls_registry.url}/v2/", timeout=TIMEOUT)


# -- TLS + bearer token -------------------------------------------------------------------------------------------


def test_token_flow_alice_pushes_bob_only_pulls(token_registry: RegistryServer) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    repo = _repo("token")
    base = token_registry.url
    with _session(str(token_registry.ca_file)) as session:
        anonymous = session.get(f"{base}/v2/{repo}/tags/list", timeout=TIMEOUT)
        assert anonymous.status_code == 401
        challenge = _challenge(anonymous)
        assert challenge["scheme"] == "Bearer"
        assert challenge["realm"] == issuer.realm
        assert challenge["service"] == issuer.service
        assert challenge["scope"] == f"repository:{repo}:pull"

        before = issuer.count
        scope = f"repository:{repo}:pull,push"
        alice = {"Authorization": f"Bearer {issuer.fetch_token([scope], auth=('alice', 'secret1'))}"}
        manifest = _image(session, base, repo, "v1", headers=alice)
        layer_digest = json.loads(manifest)["layers"][0]["digest"]

        bob = {"Authorization": f"Bearer {issuer.fetch_token([scope], auth=BOB)}"}
        denied = session.post(f"{base}/v2/{repo}/blobs/uploads/", headers=bob, timeout=TIMEOUT)
        assert denied.status_code in (401, 403)
        assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
        pulled = session.get(f"{base}/v2/{repo}/blobs/{layer_digest}", headers=bob, timeout=TIMEOUT)
        assert pulled.status_code == 200 and _digest(pulled.content) == layer_digest

        wrong = session.get(issuer.realm, params={"scope": scope}, auth=("alice", "nope"), timeout=TIMEOUT)
        assert wrong.status_code == 401

    seen = issuer.requests[before:]
    assert [(r.user, r.status) for r in seen] == [("alice", 200), ("bob", 200), ("alice", 401)]
    assert seen[0].access[0]["actions"] == ["pull", "push"]
    assert seen[1].access[0]["actions"] == ["pull"]
    assert scope in issuer.scopes()
    assert token_registry.tag_manifest_digest(repo, "v1") == _digest(manifest)


# -- fault proxy --------------------------------------------------------------------------------------------------


@pytest.fixture
def proxy(fault_proxy: object) -> Iterator[FaultProxy]:
    yield fault_proxy()  # type: ignore[operator]


def test_proxy_injects_one_503_and_counts_it(proxy: FaultProxy, registry: RegistryServer) -> None:
    proxy.set_faults([Fault.error(503, method="PUT", path=r"/blobs/uploads/")])
    repo, data = _repo("proxy"), b"x" * 100_000
    with _session() as session:
        start = session.post(f"{proxy.url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
        assert start.headers["Location"].startswith(proxy.url + "/v2/")  # rewritten from the upstream's address
        first = session.put(
            _upload_url(proxy.url, start.headers["Location"], _digest(data)), data=data, timeout=TIMEOUT
        )
        assert first.status_code == 503
        assert first.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert _push_blob(session, proxy.url, repo, data).status_code == 201  # the retry goes through

    assert proxy.counts[("PUT", "uploads")] == 2
    assert proxy.counts[("POST", "uploads")] == 2
    assert [(i.kind, i.method, i.status) for i in proxy.injected] == [(FaultKind.ERROR, "PUT", 503)]
    assert registry.raw_get(f"/v2/{repo}/blobs/{_digest(data)}").content == data


@pytest.mark.parametrize("status", [500, 503, 429])
def test_proxy_error_statuses(proxy: FaultProxy, status: int) -> None:
    proxy.set_faults([Fault.error(status, method="GET", path=r"^/v2/$", nth=2)])
    with _session() as session:
        answers = [session.get(f"{proxy.url}/v2/", timeout=TIMEOUT) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, status, 200]
    assert answers[1].headers.get("Retry-After") == ("1" if status == 429 else None)
    assert proxy.count("GET", "base") == 3 and len(proxy.injected) == 1


def test_proxy_html_mode_answers_text_html(proxy: FaultProxy) -> None:
    proxy.set_faults([Fault.html()])
    with _session() as session:
        base = session.get(f"{proxy.url}/v2/", timeout=TIMEOUT)
        manifest = session.get(f"{proxy.url}/v2/any/manifests/v1", timeout=TIMEOUT)
    for answer in (base, manifest):
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.text.startswith("<html>")
    assert proxy.count("GET") == 2 and {i.kind for i in proxy.injected} == {FaultKind.HTML}


def test_proxy_cuts_an_upload_midway(proxy: FaultProxy, registry: RegistryServer) -> None:
    proxy.set_faults([Fault.cut(method="PUT", path=r"/blobs/uploads/", after=64 * 1024)])
    repo, data = _repo("cut"), bytes(range(256)) * 8192  # 2 MiB
    with _session() as session:
        with pytest.raises(requests.exceptions.ConnectionError):
            _push_blob(session, proxy.url, repo, data)
        assert _push_blob(session, proxy.url, repo, data).status_code == 201
    assert [i.kind for i in proxy.injected] == [FaultKind.CUT]
    assert registry.tag_manifest_digest(repo, "none") is None


def test_proxy_streams_sized_and_chunked_bodies(proxy: FaultProxy) -> None:
    repo, data = _repo("stream"), hashlib.sha256(b"seed").digest() * (1024 * 1024)  # 32 MiB
    other = data[::-1]
    pieces = (other[i : i + 1_000_000] for i in range(0, len(other), 1_000_000))  # a generator: sent chunked
    with _session() as session:
        assert _push_blob(session, proxy.url, repo, data).status_code == 201  # Content-Length
        assert _push_blob(session, proxy.url, repo, pieces, digest=_digest(other)).status_code == 201
        digest = hashlib.sha256()
        with session.get(f"{proxy.url}/v2/{repo}/blobs/{_digest(other)}", stream=True, timeout=TIMEOUT) as got:
            for block in got.iter_content(1024 * 1024):
                digest.update(block)
    assert "sha256:" + digest.hexdigest() == _digest(other)
    assert proxy.counts[("PUT", "uploads")] == 2 and proxy.injected == []


def test_unreachable_url_refuses_connections() -> None:
    with _session() as session, pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{unreachable_url()}/v2/", timeout=2)


def test_proxy_truncates_an_answer_and_keeps_its_length_header(proxy: FaultProxy) -> None:
    repo, data = _repo("truncate"), bytes(range(256)) * 1024  # 256 KiB
    with _session() as session:
        assert _push_blob(session, proxy.url, repo, data).status_code == 201
        proxy.set_faults([Fault.truncate(method="GET", path=r"/blobs/", keep=0.25)])
        url = f"{proxy.url}/v2/{repo}/blobs/{_digest(data)}"
        with session.get(url, stream=True, timeout=TIMEOUT) as cut:
            assert cut.status_code == 200 and cut.headers["Content-Length"] == str(len(data))
            with pytest.raises(requests.exceptions.RequestException):
                b"".join(cut.iter_content(65536))
        assert session.get(url, timeout=TIMEOUT).content == data  # one answer only
    assert [i.kind for i in proxy.injected] == [FaultKind.TRUNCATE]


def test_proxy_drops_an_answer_without_a_body_after_forwarding(proxy: FaultProxy, registry: RegistryServer) -> None:
    repo, data = _repo("lost"), b"stored, answer lost"
    proxy.set_faults([Fault.truncate(method="PUT", path=r"/blobs/uploads/")])
    with _session() as session, pytest.raises(requests.exceptions.ConnectionError):
        _push_blob(session, proxy.url, repo, data)
    assert registry.raw_get(f"/v2/{repo}/blobs/{_digest(data)}").content == data  # the registry did act


def test_proxy_resets_connections(proxy: FaultProxy) -> None:
    proxy.set_faults([Fault.reset(method="GET", path=r"^/v2/$")])
    with _session() as session:
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(f"{proxy.url}/v2/", timeout=TIMEOUT)
        assert session.get(f"{proxy.url}/v2/", timeout=TIMEOUT).status_code == 200
    assert [i.kind for i in proxy.injected] == [FaultKind.RESET]


def test_proxy_chaos_is_random_at_the_rate_and_repeatable_by_seed(proxy: FaultProxy) -> None:
    def statuses(seed: int) -> list[int]:
        proxy.set_chaos(0.3, [Fault.error(500), Fault.error(429, retry_after=0)], seed=seed)
        with _session() as session:
            return [session.get(f"{proxy.url}/v2/", timeout=TIMEOUT).status_code for _ in range(100)]

    first = statuses(7)
    assert 15 <= sum(s != 200 for s in first) <= 45 and {500, 429} <= set(first)
    assert statuses(7) == first and statuses(8) != first
    proxy.set_chaos(0.0)
    with _session() as session:
        answer = session.get(f"{proxy.url}/v2/", timeout=TIMEOUT)
    assert answer.status_code == 200
