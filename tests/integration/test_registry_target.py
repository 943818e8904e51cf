"""RegistryTarget against a real docker-registry: anonymous http, TLS + htpasswd, bearer tokens, faults."""

from __future__ import annotations

import http.server
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm.errors import DigestMismatch, NotFound, RegistryError
from gardenlinux_ocm.oci.model import Descriptor, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.oci.registry import RegistryTarget, RetryPolicy, Timeouts
from gardenlinux_ocm.oci.registry import target as registry_module
from gardenlinux_ocm.oci.target import Mounter, Target
from support.artefact import artefact
from support.fault_proxy import Fault, FaultProxy, unreachable_url
from support.registry import ALICE, BOB, RegistryServer

pytestmark = pytest.mark.registry

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total=20.0)
TIMEOUTS = Timeouts(connect=2.0, read=15.0)
WRONG_PASSWORD = "wrong-Pa55word-xyz"
CHUNK_LIMIT = 1 << 20


class TrackingFile(io.FileIO):
    """A file that records how it is read: the largest read, and every seek to the start."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.largest_read = 0
        self.rewinds = 0
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        assert size is not None and size >= 0, "push must never read the whole stream at once"
        self.largest_read = max(self.largest_read, size)
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:
            self.rewinds += 1
        return super().seek(offset, whence)


def anonymous(base: str, **kwargs: Any) -> RegistryTarget:
    return RegistryTarget(base=base, credentials=lambda host: None, retry=FAST, timeout=TIMEOUTS, **kwargs)


def repo_name() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"


def publish(target: RegistryTarget, repo: str, layer: bytes, tag: str = "v1") -> Descriptor:
    layer_desc, config, manifest_desc, manifest = artefact(layer)
    target.push(repo, layer_desc, io.BytesIO(layer))
    target.push(repo, config, io.BytesIO(b"{}"))
    target.push(repo, manifest_desc, io.BytesIO(manifest))
    target.tag(repo, manifest_desc, tag)
    return manifest_desc


def assert_no_secret(secrets: list[str], error: BaseException | None, caplog: pytest.LogCaptureFixture) -> None:
    texts = [str(error), repr(error)] if error is not None else []
    if error is not None:
        texts += [str(error.__cause__), str(getattr(error, "url", "")), str(getattr(error, "hint", ""))]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.__dict__)]
    for secret in secrets:
        for text in texts:
            assert secret not in text


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * CHUNK_LIMIT + 12345)
    path = tmp_path / "layer.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("oci", "oci.client", "oci.client.request_logger", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


# -- anonymous plain-http registry ---------------------------------------------------------------------------------


def test_implements_the_protocols(registry: RegistryServer) -> None:
    target = anonymous(registry.host)
    assert isinstance(target, Target) and isinstance(target, Mounter)
    assert target.name == registry.host


def test_push_resolve_fetch_round_trip(registry: RegistryServer, big_file: tuple[Path, bytes]) -> None:
    path, data = big_file
    repo = repo_name()
    target = anonymous(registry.host)
    layer_desc, config, manifest_desc, manifest = artefact(data)
    with TrackingFile(path) as stream:
        target.push(repo, layer_desc, stream)
        assert stream.bytes_read == len(data) and stream.rewinds == 1
        assert 0 < stream.largest_read <= CHUNK_LIMIT
    target.push(repo, config, io.BytesIO(b"{}"))
    target.push(repo, manifest_desc, io.BytesIO(manifest))
    target.tag(repo, manifest_desc, "1473.0")

    assert registry.tag_manifest_digest(repo, "1473.0") == manifest_desc.digest
    resolved = target.resolve(repo, "1473.0")
    assert resolved == Descriptor(media_type=MediaType.OCI_MANIFEST, digest=manifest_desc.digest, size=len(manifest))
    assert target.resolve(repo, manifest_desc.digest).digest == manifest_desc.digest
    assert target.exists(repo, layer_desc) and target.exists(repo, manifest_desc)
    assert not target.exists(repo, descriptor_for(b"absent", MediaType.OCI_LAYER_TAR))
    with target.fetch(repo, layer_desc) as blob:
        assert blob.read() == data
    with target.fetch(repo, manifest_desc) as raw:
        assert raw.read() == manifest
    assert target.tags(repo) == ["1473.0"]
    assert repo in target.repositories()


def test_index_is_stored_verbatim(registry: RegistryServer) -> None:
    repo = repo_name()
    target = anonymous(registry.host)
    manifest_desc = publish(target, repo, b"layer")
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "artifactType": "application/vnd.gardenlinux.release",
            "manifests": [manifest_desc.to_dict()],
            "annotations": {"org.opencontainers.image.version": "1473.0"},
        }
    )
    index_desc = descriptor_for(index, MediaType.OCI_INDEX)
    target.push(repo, index_desc, io.BytesIO(index))
    target.tag(repo, index_desc, "1473.0")
    assert target.resolve(repo, "1473.0") == index_desc
    with target.fetch(repo, index_desc) as raw:
        assert raw.read() == index


def test_missing_things(registry: RegistryServer) -> None:
    target = anonymous(registry.host)
    repo = repo_name()
    assert target.tags(repo) == []
    with pytest.raises(NotFound):
        target.resolve(repo, "nope")
    with pytest.raises(NotFound), target.fetch(repo, descriptor_for(b"x", MediaType.OCI_LAYER_TAR)):
        pass


def test_tagging_again_is_a_no_op_and_retagging_moves(registry: RegistryServer) -> None:
    repo = repo_name()
    proxy = FaultProxy(registry.url).start()
    try:
        target = anonymous(proxy.host)
        first = publish(target, repo, b"one")
        proxy.reset()
        target.tag(repo, first, "v1")
        assert proxy.count("PUT") == 0
        second = publish(target, repo, b"two", tag="v1")
        assert target.resolve(repo, "v1").digest == second.digest != first.digest
    finally:
        proxy.stop()


def test_second_push_is_skipped(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry)
    target = anonymous(proxy.host)
    repo = repo_name()
    layer_desc, *_ = artefact(b"same bytes" * 1000)
    target.push(repo, layer_desc, io.BytesIO(b"same bytes" * 1000))
    assert proxy.count("PUT", "uploads") == 1
    proxy.reset()
    target.push(repo, layer_desc, io.BytesIO(b"same bytes" * 1000))
    assert proxy.count("HEAD", "blobs") == 1
    assert proxy.count("POST") == 0 and proxy.count("PUT") == 0


def test_mount_between_repositories(registry: RegistryServer) -> None:
    target = anonymous(registry.host)
    source, dest = repo_name(), repo_name()
    layer = os.urandom(4096)
    layer_desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR)
    target.push(source, layer_desc, io.BytesIO(layer))
    assert not target.exists(dest, layer_desc)
    assert target.mount(dest, layer_desc, source) is True
    assert target.exists(dest, layer_desc)
    missing = descriptor_for(b"not anywhere", MediaType.OCI_LAYER_TAR)
    assert target.mount(dest, missing, source) is False


def test_prefix_is_part_of_every_repository(registry: RegistryServer) -> None:
    prefix = f"mirror{uuid.uuid4().hex[:8]}"
    target = anonymous(f"{registry.host}/{prefix}")
    assert target.name == f"{registry.host}/{prefix}"
    manifest_desc = publish(target, "gardenlinux", b"prefixed")
    assert registry.tag_manifest_digest(f"{prefix}/gardenlinux", "v1") == manifest_desc.digest
    assert target.repositories() == ["gardenlinux"]


def test_empty_blob(registry: RegistryServer) -> None:
    target = anonymous(registry.host)
    repo = repo_name()
    empty = descriptor_for(b"", MediaType.OCI_LAYER_TAR)
    target.push(repo, empty, io.BytesIO(b""))
    assert target.exists(repo, empty)
    with target.fetch(repo, empty) as blob:
        assert blob.read() == b""


def test_digest_mismatch(registry: RegistryServer) -> None:
    target = anonymous(registry.host)
    repo = repo_name()
    claimed = descriptor_for(b"A" * 1000, MediaType.OCI_LAYER_TAR)
    with pytest.raises(DigestMismatch):  # same size, other bytes: the registry says DIGEST_INVALID
        target.push(repo, claimed, io.BytesIO(b"B" * 1000))
    with pytest.raises(DigestMismatch):  # shorter stream: caught before the registry commits anything
        target.push(repo, claimed, io.BytesIO(b"A" * 999))
    with pytest.raises(DigestMismatch):  # longer stream
        target.push(repo, claimed, io.BytesIO(b"A" * 1001))
    assert not target.exists(repo, claimed)


# -- TLS + htpasswd ------------------------------------------------------------------------------------------------


def test_tls_htpasswd_with_ca_file(
    tls_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A system bundle in REQUESTS_CA_BUNDLE (as on the project's machines) must not replace our CA file.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/system-bundle.pem")
    target = RegistryTarget(
        base=tls_registry.host,
        credentials=lambda host: ALICE if host == tls_registry.host else None,
        plain_http=False,
        ca_file=tls_registry.ca_file,
        retry=FAST,
        timeout=TIMEOUTS,
    )
    repo = repo_name()
    manifest_desc = publish(target, repo, os.urandom(2048))
    assert target.resolve(repo, "v1").digest == manifest_desc.digest
    assert tls_registry.tag_manifest_digest(repo, "v1") == manifest_desc.digest
    assert_no_secret([ALICE[1]], None, debug_logs)


def test_tls_wrong_password(tls_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture) -> None:
    target = RegistryTarget(
        base=tls_registry.host,
        credentials=lambda host: ("alice", WRONG_PASSWORD),
        plain_http=False,
        ca_file=tls_registry.ca_file,
        retry=FAST,
        timeout=TIMEOUTS,
    )
    with pytest.raises(RegistryError) as info:
        target.tags(repo_name())
    error = info.value
    assert error.status == 401 and error.exit_code == 1
    assert "alice" in str(error) and "--password-stdin" in str(error)
    assert_no_secret([WRONG_PASSWORD], error, debug_logs)


def test_tls_without_ca_file_is_not_trusted(tls_registry: RegistryServer) -> None:
    target = RegistryTarget(
        base=tls_registry.host, credentials=lambda host: ALICE, plain_http=False, retry=FAST, timeout=TIMEOUTS
    )
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        target.tags(repo_name())
    assert time.monotonic() - started < 5
    assert f"cannot reach registry {tls_registry.host}" in str(info.value)
    assert "certificate not trusted" in str(info.value) and "--ca-file" in str(info.value)


def test_plain_http_against_tls_registry_says_so(tls_registry: RegistryServer) -> None:
    target = RegistryTarget(base=tls_registry.host, credentials=lambda host: ALICE, plain_http=True, retry=FAST,
                            timeout=TIMEOUTS)  # forced: the user asked for plain HTTP
    with pytest.raises(RegistryError, match="speaks HTTPS"):
        target.tags(repo_name())


def test_loopback_auto_mode_switches_to_https(tls_registry: RegistryServer) -> None:
    target = RegistryTarget(base=tls_registry.host, credentials=lambda host: ALICE, ca_file=tls_registry.ca_file,
                            retry=FAST, timeout=TIMEOUTS)  # loopback: plain HTTP first, HTTPS when the server says so
    assert target.tags(repo_name()) == []


# -- bearer tokens -------------------------------------------------------------------------------------------------


def token_target(server: RegistryServer, creds: tuple[str, str] | None) -> RegistryTarget:
    return RegistryTarget(
        base=server.host,
        credentials=lambda host: creds,
        plain_http=False,
        ca_file=server.ca_file,
        retry=FAST,
        timeout=TIMEOUTS,
    )


def test_token_flow(token_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.reset()
    target = token_target(token_registry, ALICE)
    repo, other = repo_name(), repo_name()
    manifest_desc = publish(target, repo, os.urandom(1024))
    assert token_registry.tag_manifest_digest(repo, "v1") == manifest_desc.digest
    assert any(r.user == "alice" and f"repository:{repo}:pull,push" in r.scopes for r in issuer.requests)
    # A mount needs pull on the source too: one token carries both scopes.
    layer = os.urandom(512)
    layer_desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR)
    target.push(repo, layer_desc, io.BytesIO(layer))
    assert target.mount(other, layer_desc, repo) is True
    assert target.exists(other, layer_desc)
    assert any(
        f"repository:{repo}:pull" in r.scopes and f"repository:{other}:pull,push" in r.scopes for r in issuer.requests
    )
    tokens = [token for token, _ in target._tokens.values()]
    assert tokens
    assert_no_secret([ALICE[1], *tokens], None, debug_logs)
    assert all(record.__dict__.get("auth") in (None, "<redacted>") for record in debug_logs.records)


def test_token_pull_only_user_cannot_push(token_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture) -> None:
    repo = repo_name()
    manifest_desc = publish(token_target(token_registry, ALICE), repo, b"for bob")
    bob = token_target(token_registry, BOB)
    assert bob.resolve(repo, "v1").digest == manifest_desc.digest
    layer = os.urandom(256)
    with pytest.raises(RegistryError) as info:
        bob.push(repo, descriptor_for(layer, MediaType.OCI_LAYER_TAR), io.BytesIO(layer))
    assert info.value.status in (401, 403)
    assert "denied" in str(info.value) and "bob" in str(info.value)
    assert bob.mount(repo_name(), descriptor_for(b"for bob", MediaType.OCI_LAYER_TAR), repo) is False
    assert_no_secret([BOB[1]], info.value, debug_logs)


def test_token_wrong_password(token_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture) -> None:
    target = token_target(token_registry, ("alice", WRONG_PASSWORD))
    with pytest.raises(RegistryError) as info:
        target.tags(repo_name())
    assert "rejected user 'alice'" in str(info.value) and info.value.status == 401
    assert_no_secret([WRONG_PASSWORD], info.value, debug_logs)


def test_token_anonymous_can_pull_not_push(token_registry: RegistryServer) -> None:
    repo = repo_name()
    manifest_desc = publish(token_target(token_registry, ALICE), repo, b"public")
    anon = token_target(token_registry, None)
    assert anon.resolve(repo, "v1").digest == manifest_desc.digest
    with pytest.raises(RegistryError, match="no credentials"):
        anon.push(repo, descriptor_for(b"x", MediaType.OCI_LAYER_TAR), io.BytesIO(b"x"))


# -- faults --------------------------------------------------------------------------------------------------------


def test_5xx_and_429_are_retried(registry: RegistryServer, fault_proxy: Any, big_file: tuple[Path, bytes]) -> None:
    path, data = big_file
    faults = [
        Fault.error(503, method="PUT", path=r"/blobs/uploads/"),
        Fault.error(500, method="POST", path=r"/blobs/uploads/"),
        Fault.error(429, method="HEAD", path=r"/blobs/"),
        Fault.error(502, method="PUT", path=r"/manifests/sha256:"),
        Fault.error(503, method="GET", path=r"/manifests/"),
    ]
    proxy: FaultProxy = fault_proxy(registry, faults)
    target = anonymous(proxy.host)
    repo = repo_name()
    layer_desc, config, manifest_desc, manifest = artefact(data)
    with TrackingFile(path) as stream:
        target.push(repo, layer_desc, stream)
    target.push(repo, config, io.BytesIO(b"{}"))
    target.push(repo, manifest_desc, io.BytesIO(manifest))
    target.tag(repo, manifest_desc, "v1")
    assert {f.status for f in proxy.injected} == {503, 500, 429, 502}
    assert registry.tag_manifest_digest(repo, "v1") == manifest_desc.digest
    with target.fetch(repo, layer_desc) as blob:
        assert blob.read() == data


def test_cut_upload_is_retried_from_the_start(
    registry: RegistryServer, fault_proxy: Any, big_file: tuple[Path, bytes]
) -> None:
    path, data = big_file
    proxy: FaultProxy = fault_proxy(registry, [Fault.cut(method="PUT", path=r"/blobs/uploads/", after=256 * 1024)])
    target = anonymous(proxy.host)
    repo = repo_name()
    layer_desc = descriptor_for(data, MediaType.OCI_LAYER_TAR)
    with TrackingFile(path) as stream:
        target.push(repo, layer_desc, stream)
        assert stream.rewinds == 2
        assert stream.bytes_read > len(data)
    assert [f.kind for f in proxy.injected] == ["cut"]
    with anonymous(registry.host).fetch(repo, layer_desc) as blob:
        assert blob.read() == data


def test_retry_gives_up_with_the_reference_and_status(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(503, method="GET", path=r"/manifests/", times=None)])
    target = anonymous(proxy.host)
    repo = repo_name()
    manifest_desc = publish(anonymous(registry.host), repo, b"x")
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        target.tag(repo, manifest_desc, "v2")
    assert time.monotonic() - started < 5
    error = info.value
    assert error.status == 503 and error.method == "GET"
    assert f"{proxy.host}/{repo}@{manifest_desc.digest}" in str(error)
    assert "after 4 attempt(s)" in str(error) and "503" in str(error)


def test_retry_after_is_honoured(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(429, method="GET", path=r"/tags/list")])
    started = time.monotonic()
    assert anonymous(proxy.host).tags(repo_name()) == []
    assert time.monotonic() - started >= 0.9  # the proxy sends Retry-After: 1; FAST alone would wait < 0.1 s


def test_unreachable_port_fails_fast() -> None:
    target = anonymous(unreachable_url().removeprefix("http://"))
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        target.tags("gardenlinux")
    assert time.monotonic() - started < 2
    assert "cannot reach registry 127.0.0.1:" in str(info.value) and "connection refused" in str(info.value)


@pytest.mark.parametrize("path", ["", r"/tags/list"], ids=["everything", "tags-only"])
def test_html_answer_is_not_a_registry(registry: RegistryServer, fault_proxy: Any, path: str) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.html(path=path)])
    with pytest.raises(RegistryError) as info:
        anonymous(proxy.host).tags("gardenlinux")
    assert f"{proxy.host} did not answer like an OCI registry (got text/html" in str(info.value)


# -- credentials never over plain http to a remote host ------------------------------------------------------------


class _BasicChallenge(http.server.BaseHTTPRequestHandler):
    seen_authorization: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen_authorization.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="x"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def basic_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BasicChallenge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_basic_credentials_never_go_over_plain_http_to_a_remote_host(
    basic_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "_is_loopback", lambda host: False)  # pretend 127.0.0.1 is remote
    _BasicChallenge.seen_authorization.clear()
    target = RegistryTarget(
        base=basic_server, credentials=lambda host: ALICE, plain_http=True, retry=FAST, timeout=TIMEOUTS
    )
    with pytest.raises(RegistryError, match="refusing to send credentials over plain HTTP"):
        target.tags("gardenlinux")
    assert _BasicChallenge.seen_authorization == [""]


def test_gardener_request_log_is_redacted(tls_registry: RegistryServer, debug_logs: pytest.LogCaptureFixture) -> None:
    target = RegistryTarget(
        base=tls_registry.host,
        credentials=lambda host: ALICE,
        plain_http=False,
        ca_file=tls_registry.ca_file,
        retry=FAST,
        timeout=TIMEOUTS,
    )
    assert target.tags(repo_name()) == []
    request_records = [r for r in debug_logs.records if r.name == "oci.client.request_logger"]
    assert request_records, "gardener-oci's request logger should have logged the request"
    assert all(r.__dict__["auth"] == "<redacted>" for r in request_records)
    assert_no_secret([ALICE[1]], None, debug_logs)


def test_parallel_pushes_share_one_target(token_registry: RegistryServer) -> None:
    target = token_target(token_registry, ALICE)
    repo = repo_name()
    layers = [os.urandom(50_000 + i) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda data: target.push(repo, descriptor_for(data, MediaType.OCI_LAYER_TAR), io.BytesIO(data)), layers
            )
        )
    assert all(target.exists(repo, descriptor_for(data, MediaType.OCI_LAYER_TAR)) for data in layers)
