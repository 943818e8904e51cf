"""RegistryTarget: the `Target` and `Mounter` protocols over an OCI distribution registry, through gardener-oci.

A target is a base `HOST[:PORT][/PREFIX]`; repository `gardenlinux` lives at `HOST/PREFIX/gardenlinux`. Every quirk
of gardener-oci 1.2863.0 (pinned exactly in pyproject.toml) is contained in this module:

- Its built-in retry re-sends a consumed file object (0 bytes under the full Content-Length, then hangs until the
  read timeout), retries TLS errors for minutes and has no total time bound. The client runs with `max_retries=0`;
  `_retrying` here retries whole operations and seeks the caller's stream back to 0 before every upload attempt.
- Its auth step pings `https://HOST/v2/` whatever the routes say, passes an explicit `verify=True` (ignoring a CA
  file), asks the token service for one scope per token (so no cross-repository mount scope) and rejects tokens that
  live 30 s or less. We probe `/v2/` ourselves over the right scheme, pre-seed its auth method as BASIC so that it
  never probes, and run the bearer-token flow here, passing the token as a header. Basic credentials still go
  through its `credentials_lookup`, answered from the caller's `credentials(HOST[:PORT])` (its own
  `docker_credentials_lookup` ignores ports).
- `session.verify` loses against an explicit `verify=True` and against `REQUESTS_CA_BUNDLE`: `_TlsSession` pins ours.
- Its reference parser, which `OciRoutes` applies again to every reference, turns `[::1]:5000/...` and dot-less
  hosts into Docker Hub references: we build URLs ourselves and give it one fixed reference for its auth cache.
- Its manifest model drops index fields and `manifest()` 404s on an index without an index type in Accept; its
  helpers (`put_blob`, `mount_blob`, `head_manifest`) hide 5xx as "absent", leave upload sessions open and log bodies
  at WARNING. We use only `Client._request` (one authenticated request with per-host throttling), always Accept
  every manifest type, and PUT raw manifest bytes with the Content-Type of their `mediaType`.
- Its request logger attaches the basic credentials and headers to log records (`extra`): a filter redacts them.

Credentials never appear in messages or logs: URLs are built without userinfo, registry texts are scrubbed of known
secrets, and transport errors are described by their kind, not by formatting the exception.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email.utils
import enum
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import oci.auth
import oci.client
import oci.model
import requests
import requests.adapters
import requests.auth
import urllib3.exceptions

from ..errors import DigestMismatch, NotFound, RegistryError, TargetError, UsageError
from .model import DIGEST_RE, REPOSITORY_RE, TAG_RE, Descriptor, MediaType, is_manifest, sha256_digest

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["MANIFEST_ACCEPT", "RegistryTarget", "RetryPolicy", "Timeouts"]

_log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    [MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST]
)
_MAX_MANIFEST_BYTES = 4 << 20  # distribution's limit
_CHUNK = 1 << 20
_PAGE = 1000
_ERROR_BODY_LIMIT = 64 << 10
_CREDENTIALS_HINT = (
    "check the credentials: pass --username with --password-stdin, set GL_OCM_REGISTRY_USERNAME and "
    "GL_OCM_REGISTRY_PASSWORD, or log in with `docker login` / `podman login` (docker/podman auth files)"
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How to retry 5xx, 429 and dropped connections: exponential backoff with full jitter, bounded in total.

    Retry number n sleeps `uniform(0, min(max_delay, base_delay * 2**(n-1)))` seconds, or what `Retry-After` asks
    for. No new attempt starts when `attempts` tries are used up or the sleep would end after `total` seconds.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    total: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.total <= 0:
            raise ValueError(f"invalid retry policy: {self}")

    def backoff(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2.0 ** (retry - 1)))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds to wait for a TCP/TLS connection, and for each read (response headers or the next body bytes)."""

    connect: float = 10.0
    read: float = 120.0


class _Mode(enum.Enum):
    ANONYMOUS = "anonymous"
    BASIC = "basic"
    BEARER = "bearer"


class _Retry(Exception):
    """An attempt failed in a way worth retrying (5xx, 429, an expired token)."""

    def __init__(self, status: int, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class _SizeMismatch(Exception):
    """The caller's stream held fewer or more bytes than the descriptor says (raised mid-upload, aborts the PUT)."""


class _LocalReadError(Exception):
    """Reading the caller's stream failed; kept apart from network errors, which requests wraps alike."""


class _Transport(enum.Enum):
    TLS = "tls"
    UNREACHABLE = "unreachable"
    TRANSIENT = "transient"


_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
)


class RegistryTarget:
    """A writable base `HOST[:PORT][/PREFIX]` on an OCI registry; implements `Target` and `Mounter`.

    `push` reads blobs as a stream with bounded memory and needs a seekable stream to retry an upload (it seeks to 0
    before each attempt). The registry verifies digests server-side. Thread-safe: one instance may serve many workers.
    """

    def __init__(
        self,
        *,
        base: str,
        credentials: Callable[[str], tuple[str, str] | None],
        plain_http: bool | None = None,
        ca_file: Path | None = None,
        insecure_skip_tls_verify: bool = False,
        retry: RetryPolicy = RetryPolicy(),
        timeout: Timeouts = Timeouts(),
        pool_size: int = 16,
    ) -> None:
        scheme, netloc, hostname, prefix = _parse_base(base)
        loopback = _is_loopback(hostname)
        # Auto mode on loopback: plain HTTP first, as docker does, switching to HTTPS when the server speaks TLS.
        self._auto_scheme = plain_http is None and scheme is None and loopback
        if plain_http is None:
            plain_http = scheme == "http" if scheme else loopback
        elif scheme is not None and (scheme == "http") != plain_http:
            raise UsageError(f"registry target {netloc}: the {scheme}:// prefix contradicts plain_http={plain_http}")
        if ca_file is not None and not ca_file.is_file():
            raise UsageError(f"CA file {ca_file} does not exist", hint="pass a PEM file with --ca-file")
        self._netloc = netloc
        self._prefix = prefix
        self._plain_http = plain_http
        self._loopback = loopback
        self._api = f"{'http' if plain_http else 'https'}://{netloc}/v2/"
        self._retry_policy = retry
        self._timeout = (timeout.connect, timeout.read)
        self._credentials_source = credentials
        self._creds: tuple[str, str] | None = None
        self._secrets = _Secrets()
        self._mode: _Mode | None = None
        self._realm = ""
        self._service = ""
        self._reached = False
        self._probe_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        verify: bool | str = False if insecure_skip_tls_verify else (str(ca_file) if ca_file is not None else True)
        if insecure_skip_tls_verify and not plain_http:
            _log.warning("TLS certificate verification is disabled for %s", netloc)
        self._session = _TlsSession(verify=verify, pool_size=pool_size)
        # We build URLs ourselves (`_url`): OciRoutes re-parses references with normalisation, which turns
        # `[::1]:5000/x` and dot-less hosts into Docker Hub paths. Its routes are still pointed at our scheme.
        self._client = oci.client.Client(
            credentials_lookup=self._gardener_credentials,
            routes=oci.client.OciRoutes(base_api_url_lookup=self._api_url),
            session=self._session,
            max_retries=0,
            max_concurrency_per_host=pool_size,
            max_write_concurrency_per_host=pool_size,
        )

    # -- ReadOnlyTarget --------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self._netloc}/{self._prefix}" if self._prefix else self._netloc

    def __repr__(self) -> str:
        return f"RegistryTarget({self.name!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        ref = self._ref(repository, descriptor.digest)
        if is_manifest(descriptor.media_type):
            url, headers = self._url(repository, "manifests", descriptor.digest), {"Accept": MANIFEST_ACCEPT}
        else:
            url, headers = self._url(repository, "blobs", descriptor.digest), {}
        response = self._request("HEAD", url, repository=repository, reference=ref, headers=headers)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            self._fail(response, "HEAD", ref)
        return True

    @contextlib.contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        ref = self._ref(repository, descriptor.digest)
        if is_manifest(descriptor.media_type):
            data, _ = self._manifest_bytes(repository, descriptor.digest)
            _check_content(data, descriptor, ref, self._netloc)
            yield io.BytesIO(data)
            return
        url = self._url(repository, "blobs", descriptor.digest)
        response = self._request(
            "GET", url, repository=repository, reference=ref, headers={"Accept-Encoding": "identity"}, stream=True
        )
        if response.status_code != 200:
            self._fail(response, "GET", ref)
        reader = io.BufferedReader(_BlobReader(response, descriptor, ref, self._netloc), buffer_size=_CHUNK)
        try:
            yield reader
        finally:
            reader.close()

    def resolve(self, repository: str, reference: str) -> Descriptor:
        is_digest = bool(DIGEST_RE.match(reference))
        if not is_digest and not TAG_RE.match(reference):
            raise TargetError(f"{reference!r} is neither a tag nor a sha256 digest", reference=reference)
        ref = self._ref(repository, reference)
        url = self._url(repository, "manifests", reference)
        response = self._request("HEAD", url, repository=repository, reference=ref, headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code not in (200, 405):
            self._fail(response, "HEAD", ref)
        digest = response.headers.get("Docker-Content-Digest", "")
        media_type = _content_type(response)
        size = response.headers.get("Content-Length", "")
        if _is_html(media_type):
            raise self._not_a_registry(media_type, "HEAD", url, ref)
        if (
            response.status_code == 200
            and DIGEST_RE.match(digest)
            and size.isdigit()
            and media_type
            and (not is_digest or digest == reference)
        ):
            return Descriptor(media_type=media_type, digest=digest, size=int(size))
        # No (usable) Docker-Content-Digest: the distribution spec makes it optional. Hash the manifest ourselves.
        data, media_type = self._manifest_bytes(repository, reference)
        digest = sha256_digest(data)
        if is_digest and digest != reference:
            raise DigestMismatch(f"registry {self._netloc} served {ref} with digest {digest}", reference=ref)
        return Descriptor(media_type=_json_media_type(data) or media_type, digest=digest, size=len(data))

    def tags(self, repository: str) -> list[str]:
        ref = self._ref(repository)
        url: str | None = self._url(repository, "tags", "list") + f"?n={_PAGE}"
        tags: set[str] = set()
        first = True
        while url is not None:
            response = self._request("GET", url, repository=repository, reference=ref)
            if first and response.status_code == 404:
                return []
            if response.status_code != 200:
                self._fail(response, "GET", ref)
            page = self._json(response, "GET", url, ref).get("tags") or []
            if not isinstance(page, list) or not all(isinstance(tag, str) for tag in page):
                raise self._not_a_registry("a malformed tag list", "GET", url, ref)
            tags.update(page)
            url, first = self._next_page(response, url), False
        return sorted(tags)

    def repositories(self) -> list[str]:
        url: str | None = f"{self._api}_catalog?n={_PAGE}"
        names: set[str] = set()
        while url is not None:
            response = self._request("GET", url, scopes=("registry:catalog:*",), reference=f"{self._netloc}/_catalog")
            if response.status_code in (401, 403, 404, 405, 501):
                _log.debug("%s does not list its repositories (%s)", self._netloc, response.status_code)
                return []
            if response.status_code != 200:
                self._fail(response, "GET", f"{self._netloc}/_catalog")
            page = self._json(response, "GET", url, f"{self._netloc}/_catalog").get("repositories") or []
            names.update(str(name) for name in page)
            url = self._next_page(response, url)
        if not self._prefix:
            return sorted(names)
        head = self._prefix + "/"
        return sorted(name[len(head) :] for name in names if name.startswith(head))

    # -- Target ----------------------------------------------------------------------------------------------------

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        """Store `content` under its digest, reading it from position 0 (retries seek back to 0)."""
        if is_manifest(descriptor.media_type):
            self._push_manifest(repository, descriptor, content)
        else:
            self._push_blob(repository, descriptor, content)

    def tag(self, repository: str, descriptor: Descriptor, tag: str) -> None:
        if not TAG_RE.match(tag):
            raise TargetError(f"{tag!r} is not a valid OCI tag", reference=tag)
        with contextlib.suppress(NotFound):
            if self.resolve(repository, tag).digest == descriptor.digest:
                _log.debug("%s already points at %s", self._ref(repository, tag), descriptor.digest)
                return
        by_digest = self._ref(repository, descriptor.digest)
        try:
            data, content_type = self._manifest_bytes(repository, descriptor.digest)
        except NotFound as e:
            raise NotFound(f"cannot tag {tag}: {by_digest} is not stored", reference=by_digest) from e
        _check_content(data, descriptor, by_digest, self._netloc)
        self._put_manifest(repository, tag, descriptor, data, _json_media_type(data) or content_type)

    # -- Mounter ---------------------------------------------------------------------------------------------------

    def mount(self, repository: str, descriptor: Descriptor, from_repository: str) -> bool:
        ref = self._ref(repository, descriptor.digest)
        source = self._full_name(from_repository)
        url = (
            self._url(repository, "blobs", "uploads", "")
            + "?"
            + urllib.parse.urlencode({"mount": descriptor.digest, "from": source})
        )
        response = self._request(
            "POST",
            url,
            repository=repository,
            push=True,
            scopes=(self._scope(repository, push=True), f"repository:{source}:pull"),
            reference=ref,
            headers={"Content-Length": "0"},
        )
        if response.status_code == 201:
            _log.debug("mounted %s from %s", ref, source)
            return True
        if response.status_code == 202:
            # The registry opened an upload session instead of mounting: cancel it, the caller pushes.
            self._cancel_upload(response, repository)
            return False
        if response.status_code in (401, 403):
            if self._mode is _Mode.BEARER:
                _log.debug("mount of %s from %s not allowed (%s)", ref, source, response.status_code)
                return False
            self._fail(response, "POST", ref)
        _log.debug("mount of %s from %s not available (%s)", ref, source, response.status_code)
        return False

    # -- pushing ---------------------------------------------------------------------------------------------------

    def _push_manifest(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        ref = self._ref(repository, descriptor.digest)
        if descriptor.size > _MAX_MANIFEST_BYTES:
            raise TargetError(f"manifest {ref} is {descriptor.size} bytes; registries accept at most 4 MiB")
        _rewind(content)
        data = _read_up_to(content, descriptor.size + 1)
        _check_content(data, descriptor, ref, "the source")
        media_type = _json_media_type(data) or descriptor.media_type
        self._put_manifest(repository, descriptor.digest, descriptor, data, media_type)

    def _put_manifest(
        self, repository: str, reference: str, descriptor: Descriptor, data: bytes, media_type: str
    ) -> None:
        ref = self._ref(repository, reference)
        response = self._request(
            "PUT",
            self._url(repository, "manifests", reference),
            repository=repository,
            push=True,
            reference=ref,
            headers={"Content-Type": media_type},
            data=data,
        )
        if not 200 <= response.status_code < 300:
            self._fail(response, "PUT", ref)
        self._check_stored_digest(response, descriptor, ref)

    def _push_blob(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        ref = self._ref(repository, descriptor.digest)
        if self.exists(repository, descriptor):
            _log.debug("%s exists, not uploading", ref)
            return
        uploads = self._url(repository, "blobs", "uploads", "")
        seekable = content.seekable()
        consumed = False

        def attempt() -> requests.Response:
            nonlocal consumed
            if seekable:
                content.seek(0)
            elif consumed:
                raise TargetError(
                    f"cannot retry the upload of {ref}: the content stream is not seekable", reference=ref
                )
            started = self._checked(
                self._send("POST", uploads, repository=repository, push=True, headers={"Content-Length": "0"})
            )
            if started.status_code != 202 or not started.headers.get("Location"):
                self._fail(started, "POST", ref)
            location = urllib.parse.urljoin(started.url, started.headers["Location"])
            started.close()
            separator = "&" if urllib.parse.urlsplit(location).query else "?"
            url = location + separator + urllib.parse.urlencode({"digest": descriptor.digest})
            body: _UploadBody | bytes = _UploadBody(content, descriptor.size) if descriptor.size else b""
            consumed = True
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(descriptor.size)}
            return self._checked(self._send("PUT", url, repository=repository, push=True, headers=headers, data=body))

        try:
            response = self._retrying("PUT", ref, uploads, attempt)
        except _SizeMismatch as e:
            raise DigestMismatch(f"{ref}: {e}", reference=ref) from None
        except _LocalReadError as e:
            raise TargetError(f"cannot read the content of {ref}: {e}", reference=ref) from e.__cause__
        if response.status_code != 201:
            self._fail(response, "PUT", ref)
        self._check_stored_digest(response, descriptor, ref)
        _log.debug("uploaded %s (%d bytes)", ref, descriptor.size)

    def _cancel_upload(self, response: requests.Response, repository: str) -> None:
        location = response.headers.get("Location")
        response.close()
        if not location:
            return
        url = urllib.parse.urljoin(response.url, location)
        try:
            self._send("DELETE", url, repository=repository, push=True).close()
        except (RegistryError, _Retry, *_TRANSPORT_ERRORS) as e:
            _log.debug("could not cancel an upload session on %s: %s", self._netloc, type(e).__name__)

    def _check_stored_digest(self, response: requests.Response, descriptor: Descriptor, reference: str) -> None:
        stored = response.headers.get("Docker-Content-Digest")
        response.close()
        if stored and stored != descriptor.digest:
            raise DigestMismatch(
                f"registry {self._netloc} stored {reference} as {stored}, expected {descriptor.digest}",
                reference=reference,
            )

    # -- reading helpers -------------------------------------------------------------------------------------------

    def _manifest_bytes(self, repository: str, reference: str) -> tuple[bytes, str]:
        """GET a manifest (by tag or digest) with every manifest type in Accept: its raw bytes and Content-Type."""
        ref = self._ref(repository, reference)
        url = self._url(repository, "manifests", reference)
        response = self._request(
            "GET", url, repository=repository, reference=ref, headers={"Accept": MANIFEST_ACCEPT}, stream=True
        )
        with response:
            if response.status_code != 200:
                self._fail(response, "GET", ref)
            media_type = _content_type(response)
            if _is_html(media_type):
                raise self._not_a_registry(media_type, "GET", url, ref)
            data = _read_limited(response, _MAX_MANIFEST_BYTES + 1)
        if len(data) > _MAX_MANIFEST_BYTES:
            raise RegistryError(f"registry {self._netloc} served more than 4 MiB for manifest {ref}", reference=ref)
        return data, media_type

    def _json(self, response: requests.Response, method: str, url: str, reference: str) -> dict[str, Any]:
        media_type = _content_type(response)
        try:
            document = response.json()
        except ValueError:
            document = None
        if _is_html(media_type) or not isinstance(document, dict):
            raise self._not_a_registry(media_type or "no JSON", method, url, reference)
        return document

    def _next_page(self, response: requests.Response, url: str) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        next_url = urllib.parse.urljoin(url, link)
        return None if next_url == url else next_url

    # -- requests, retries and errors ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        reference: str,
        repository: str | None = None,
        push: bool = False,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request with retries; returns the first response that is not worth retrying (any status)."""

        def attempt() -> requests.Response:
            response = self._send(
                method, url, repository=repository, push=push, scopes=scopes, headers=headers, data=data, stream=stream
            )
            return self._checked(response)

        return self._retrying(method, reference, url, attempt)

    def _retrying[T](self, method: str, reference: str, url: str, attempt: Callable[[], T]) -> T:
        policy = self._retry_policy
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            cause: BaseException | None = None
            try:
                return attempt()
            except _Retry as e:
                status, detail, wait = e.status, e.detail, e.retry_after
            except _TRANSPORT_ERRORS as e:
                kind, detail = _describe_transport_error(e)
                self._raise_if_fatal(kind, detail, method, url, reference, e)
                status, wait, cause = None, None, e
            delay = wait if wait is not None else policy.backoff(tries)
            elapsed = time.monotonic() - started
            if tries >= policy.attempts or elapsed + delay > policy.total:
                message = (
                    f"{method} {reference} failed after {tries} attempt(s) in {elapsed:.1f} s; "
                    f"last: {self._secrets.scrub(detail)}"
                )
                if "text/html" in detail:
                    message = f"{self._netloc} did not answer like an OCI registry (got text/html): {message}"
                raise RegistryError(
                    message,
                    method=method,
                    url=_strip_query(url),
                    status=status,
                    reference=reference,
                    hint="the registry or the network kept failing; try again later or check the registry's health",
                ) from cause
            _log.warning(
                "%s %s: %s; retry %d of %d in %.2f s",
                method,
                reference,
                self._secrets.scrub(detail),
                tries,
                policy.attempts - 1,
                delay,
            )
            time.sleep(delay)

    def _raise_if_fatal(
        self, kind: _Transport, detail: str, method: str, url: str, reference: str, error: BaseException
    ) -> None:
        if kind is _Transport.TLS:
            hint = (
                "certificate not trusted; pass --ca-file with the registry's CA, or --insecure-skip-tls-verify"
                if "not trusted" in detail
                else "if the registry speaks plain HTTP, pass --plain-http"
            )
            raise RegistryError(
                f"cannot reach registry {self._netloc}: {detail}",
                method=method,
                url=_strip_query(url),
                reference=reference,
                hint=hint,
            ) from error
        if kind is _Transport.UNREACHABLE and not self._reached:
            raise RegistryError(
                f"cannot reach registry {self._netloc}: {detail}",
                method=method,
                url=_strip_query(url),
                reference=reference,
                hint="check the host name and port, and that the registry is running",
            ) from error

    def _checked(self, response: requests.Response) -> requests.Response:
        """Raise `_Retry` for statuses worth retrying; return every other response."""
        status = response.status_code
        if status == 429 or (500 <= status < 600 and status not in (501, 505)):
            media_type = _content_type(response)
            detail = f"{status} {response.reason}" + (f" ({media_type})" if media_type else "")
            retry_after = _retry_after(response)
            response.close()
            raise _Retry(status, detail, retry_after)
        return response

    def _send(
        self,
        method: str,
        url: str,
        *,
        repository: str | None,
        push: bool = False,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        data: bytes | _UploadBody | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request, authenticated through gardener-oci's client (or anonymous to a foreign host)."""
        self._ensure_probed()
        request_headers = dict(headers or {})
        if not self._same_origin(url):
            # An upload Location on another host (storage backend): never send our credentials there.
            return self._session.request(
                method, url, headers=request_headers, data=data, stream=stream, timeout=self._timeout
            )
        scopes = scopes or ((self._scope(repository, push=push),) if repository is not None else ())
        if self._mode is _Mode.BEARER and scopes:
            request_headers["Authorization"] = "Bearer " + self._token(scopes)
        # Client._request with max_retries=0 is one authenticated request: routing of the auth method cached for the
        # host (pre-seeded BASIC, so no https probe), basic credentials from our lookup, per-host throttling.
        response: requests.Response = self._client._request(
            url=url,
            image_reference=self._seed_ref,
            scope=scopes[0] if scopes else "registry:catalog:*",
            method=method,
            headers=request_headers,
            raise_for_status=False,
            warn_if_not_ok=False,
            data=data,
            stream=stream,
            timeout=self._timeout,
        )
        self._reached = True
        _log.debug("%s %s -> %s", method, _strip_query(url), response.status_code)
        # /v2/ let us in anonymously but this operation wants credentials: follow its challenge (once).
        if (
            response.status_code == 401
            and self._mode is _Mode.ANONYMOUS
            and self._upgrade(*_parse_challenge(response.headers.get("WWW-Authenticate", "")))
        ):
            response.close()
            raise _Retry(401, "401 authentication required", 0.0)
        if response.status_code == 401 and self._mode is _Mode.BEARER:
            challenge = _parse_challenge(response.headers.get("WWW-Authenticate", ""))[1]
            if challenge.get("error") == "invalid_token":
                with self._token_lock:
                    self._tokens.pop(scopes, None)
                response.close()
                raise _Retry(401, "401 token expired", 0.0)
        return response

    def _fail(self, response: requests.Response, method: str, reference: str) -> NoReturn:
        raise self._error(response, method, reference)

    def _error(self, response: requests.Response, method: str, reference: str) -> TargetError:
        status = response.status_code
        media_type = _content_type(response)
        body = _read_limited(response, _ERROR_BODY_LIMIT) if method != "HEAD" else b""
        response.close()
        codes, details = _registry_errors(body)
        url = _strip_query(response.url or "")
        if status == 404:
            return NotFound(f"{reference} not found on {self._netloc}", reference=reference)
        if status in (401, 403):
            what = "rejected the credentials for" if status == 401 and self._creds else "denied access to"
            if "insufficient_scope" in response.headers.get("WWW-Authenticate", "") or "DENIED" in codes:
                what = "denied access to"
            user = f" (user {self._creds[0]!r})" if self._creds else " (no credentials)"
            return RegistryError(
                f"registry {self._netloc} {what} {method} {reference}{user}: {status} {response.reason}",
                method=method,
                url=url,
                status=status,
                reference=reference,
                hint=_CREDENTIALS_HINT + "; the user also needs pull/push rights on the repository",
            )
        if _is_html(media_type):
            return self._not_a_registry(media_type, method, url, reference, status=status)
        text = self._secrets.scrub("; ".join(details))[:500]
        if "DIGEST_INVALID" in codes or "SIZE_INVALID" in codes:
            return DigestMismatch(
                f"registry {self._netloc} rejected {reference}: the content does not match its digest or size"
                + (f" ({text})" if text else ""),
                reference=reference,
            )
        return RegistryError(
            f"{method} {reference} failed: {status} {response.reason}" + (f": {text}" if text else ""),
            method=method,
            url=url,
            status=status,
            reference=reference,
        )

    def _not_a_registry(
        self, got: str, method: str, url: str, reference: str, *, status: int | None = None
    ) -> RegistryError:
        return RegistryError(
            f"{self._netloc} did not answer like an OCI registry (got {got or 'no Content-Type'})"
            + (f"; {method} {urllib.parse.urlsplit(url).path} answered {status}" if status is not None else ""),
            method=method,
            url=_strip_query(url),
            status=status,
            reference=reference,
            hint="check the host, port and path of the target, and any proxy in between",
        )

    # -- authentication --------------------------------------------------------------------------------------------

    def _ensure_probed(self) -> None:
        if self._mode is not None:
            return
        with self._probe_lock:
            if self._mode is None:
                self._probe()

    def _probe(self) -> None:
        """GET /v2/ over our scheme: is it a registry, and which auth does it want (no credentials sent)?"""
        url = self._api

        def attempt() -> requests.Response:
            return self._checked(self._session.get(url, timeout=self._timeout))

        with self._retrying("GET", self._netloc, url, attempt) as response:
            self._reached = True
            media_type = _content_type(response)
            scheme, params = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if response.status_code == 200 and _looks_like_registry(response, media_type):
                mode = _Mode.ANONYMOUS
            elif response.status_code == 401 and scheme == "bearer" and params.get("realm"):
                mode, self._realm, self._service = _Mode.BEARER, params["realm"], params.get("service", "")
            elif response.status_code == 401 and (scheme == "basic" or not (scheme or _is_html(media_type))):
                mode = _Mode.BASIC
            elif response.status_code == 400 and self._plain_http and b"HTTPS" in _read_limited(response, 4096):
                if self._auto_scheme:
                    _log.debug("registry %s speaks HTTPS; switching from plain HTTP", self._netloc)
                    self._auto_scheme = False
                    self._plain_http = False
                    self._api = f"https://{self._netloc}/v2/"
                    return self._probe()
                raise RegistryError(
                    f"registry {self._netloc} speaks HTTPS, not plain HTTP",
                    method="GET",
                    url=url,
                    status=400,
                    hint="drop --plain-http, or pass --no-plain-http",
                )
            else:
                raise self._not_a_registry(media_type, "GET", url, self._netloc, status=response.status_code)
        self._set_mode(mode)

    def _upgrade(self, scheme: str, params: dict[str, str]) -> bool:
        """Leave anonymous mode for the auth a 401 challenge asks for; False when the challenge is not understood."""
        with self._probe_lock:
            if self._mode is not _Mode.ANONYMOUS:
                return True
            if scheme == "bearer" and params.get("realm"):
                self._realm, self._service = params["realm"], params.get("service", "")
                self._set_mode(_Mode.BEARER)
                return True
            if scheme == "basic":
                self._set_mode(_Mode.BASIC)
                return True
            return False

    def _set_mode(self, mode: _Mode) -> None:
        creds = self._credentials_source(self._netloc) if mode is not _Mode.ANONYMOUS else None
        if creds is not None:
            self._secrets.add(creds[1], base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode())
            if mode is _Mode.BASIC and self._plain_http and not self._loopback:
                raise _refuse_plain_http(self._netloc)
        self._creds = creds
        # Keep gardener-oci from probing https://HOST/v2/ itself: it never leaves this cached method.
        self._client.token_cache.set_auth_method(self._seed_ref, oci.client.AuthMethod.BASIC)
        self._mode = mode
        _log.debug("registry %s: %s auth, %s", self._netloc, mode.value, "http" if self._plain_http else "https")

    def _gardener_credentials(self, *args: Any, **kwargs: Any) -> oci.auth.OciBasicAuthCredentials | None:
        """gardener-oci's `credentials_lookup`: basic credentials only for a registry that asked for them."""
        if self._mode is not _Mode.BASIC or self._creds is None:
            return None
        if self._plain_http and not self._loopback:
            raise _refuse_plain_http(self._netloc)
        return oci.auth.OciBasicAuthCredentials(username=self._creds[0], password=self._creds[1])

    def _token(self, scopes: tuple[str, ...]) -> str:
        with self._token_lock:
            cached = self._tokens.get(scopes)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch_token(scopes)
            # Renew a little early: a quarter of the lifetime, at most 30 s, before it runs out.
            self._tokens[scopes] = (token, time.monotonic() + lifetime - min(30.0, lifetime / 4))
            return token

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        """The bearer-token flow of the distribution spec: GET realm?service=&scope=... with basic credentials."""
        realm = urllib.parse.urlsplit(self._realm)
        realm_host = realm.hostname or ""
        if self._creds is not None and realm.scheme != "https" and not _is_loopback(realm_host):
            raise _refuse_plain_http(realm.netloc)
        params = [("service", self._service)] if self._service else []
        if self._creds is not None:
            params.append(("account", self._creds[0]))
        params += [("scope", scope) for scope in scopes]
        url = self._realm + ("&" if realm.query else "?") + urllib.parse.urlencode(params)
        auth = self._creds

        def attempt() -> requests.Response:
            return self._checked(self._session.get(url, auth=auth, timeout=self._timeout))

        with self._retrying("GET", f"token for {self._netloc}", self._realm, attempt) as response:
            if response.status_code in (401, 403):
                who = f"user {self._creds[0]!r}" if self._creds else "anonymous access"
                raise RegistryError(
                    f"the token service of {self._netloc} rejected {who}: {response.status_code} {response.reason}",
                    method="GET",
                    url=_strip_query(self._realm),
                    status=response.status_code,
                    hint=_CREDENTIALS_HINT,
                )
            if response.status_code != 200:
                self._fail(response, "GET", f"token for {self._netloc}")
            document = self._json(response, "GET", self._realm, f"token for {self._netloc}")
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise self._not_a_registry("a token answer without a token", "GET", self._realm, self._netloc)
        self._secrets.add(token)
        expires_in = document.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 60.0
        return token, lifetime

    # -- names -----------------------------------------------------------------------------------------------------

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urllib.parse.urlsplit(self._api), urllib.parse.urlsplit(url)
        default = {"http": 80, "https": 443}
        return (ours.scheme, ours.hostname, ours.port or default[ours.scheme]) == (
            theirs.scheme,
            theirs.hostname,
            theirs.port or default.get(theirs.scheme),
        )

    @property
    def _seed_ref(self) -> oci.model.OciImageReference:
        """The reference gardener-oci keys its auth-method cache by (all our requests share one)."""
        return oci.model.OciImageReference(f"{self._netloc}/{self._prefix or 'v2'}", normalise=False)

    def _api_url(self, image_reference: str | oci.model.OciImageReference, **_: Any) -> str:
        """gardener-oci's `base_api_url_lookup`: our scheme, whatever the reference."""
        return self._api

    def _full_name(self, repository: str) -> str:
        name = f"{self._prefix}/{repository}" if self._prefix else repository
        if not REPOSITORY_RE.match(name):
            raise TargetError(f"{name!r} is not a valid OCI repository name", reference=name)
        return name

    def _scope(self, repository: str | None, *, push: bool) -> str:
        name = self._full_name(repository) if repository is not None else ""
        return f"repository:{name}:{'pull,push' if push else 'pull'}"

    def _ref(self, repository: str, reference: str | None = None) -> str:
        """`HOST/PREFIX/REPO[@digest|:tag]`: how messages name what an operation is about."""
        text = f"{self._netloc}/{self._full_name(repository)}"
        if reference is not None:
            text += ("@" if reference.startswith("sha256:") else ":") + reference
        return text

    def _url(self, repository: str, *parts: str) -> str:
        """`SCHEME://HOST/v2/PREFIX/REPO/PARTS...` (a trailing "" gives a trailing slash). Probes first: the
        scheme is only known then (auto mode may switch a loopback registry to HTTPS)."""
        self._ensure_probed()
        return self._api + "/".join([self._full_name(repository), *parts])


# -- transport helpers ---------------------------------------------------------------------------------------------


class _TlsSession(requests.Session):
    """A session whose `verify` beats an explicit `verify=True` (gardener-oci's auth step) and REQUESTS_CA_BUNDLE."""

    def __init__(self, *, verify: bool | str, pool_size: int) -> None:
        super().__init__()
        self.verify = verify
        # A session-level auth that does nothing keeps requests from sending ~/.netrc credentials.
        self.auth = _NoAuth()
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # signature of requests.Session
        if verify is None or verify is True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


class _Adapter(requests.adapters.HTTPAdapter):
    """Sends request bodies in 1 MiB blocks (http.client's default of 16 KiB costs CPU on GiB-sized uploads)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", _CHUNK)
        super().init_poolmanager(*args, **kwargs)


class _NoAuth(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class _UploadBody:
    """Feeds exactly `size` bytes of the caller's stream to requests in bounded chunks, never the whole blob.

    `__len__` gives requests the Content-Length (without it, it would also add `Transfer-Encoding: chunked`). A short
    or long stream raises `_SizeMismatch` before the last byte is sent, so the registry never commits a wrong blob.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size
        self._remaining = size

    def __len__(self) -> int:
        return self._remaining

    def read(self, amount: int = -1) -> bytes:
        if self._remaining == 0:
            return b""
        want = min(_CHUNK if amount is None or amount < 0 else amount, self._remaining, _CHUNK)
        try:
            data = self._stream.read(want)
            if len(data) == self._remaining and self._stream.read(1):
                raise _SizeMismatch(f"the content is longer than the {self._size} bytes its descriptor says")
        except OSError as e:
            raise _LocalReadError(f"{type(e).__name__}: {e.strerror or e}") from e
        if not data:
            raise _SizeMismatch(f"the content has {self._size - self._remaining} bytes, its descriptor {self._size}")
        self._remaining -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_CHUNK):
            yield chunk


class _BlobReader(io.RawIOBase):
    """A blob response body that checks size and digest as the bytes pass (raises `DigestMismatch` at the end)."""

    def __init__(self, response: requests.Response, descriptor: Descriptor, reference: str, netloc: str) -> None:
        super().__init__()
        self._response = response
        self._descriptor = descriptor
        self._reference = reference
        self._netloc = netloc
        self._hash = hashlib.sha256()
        self._count = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._eof:
            return 0
        view = memoryview(buffer).cast("B")
        try:
            data = self._response.raw.read(min(len(view), _CHUNK), decode_content=True)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as e:
            raise RegistryError(
                f"connection to {self._netloc} dropped while reading {self._reference} "
                f"after {self._count} bytes ({type(e).__name__})",
                method="GET",
                reference=self._reference,
                hint="try again; the copy resumes with the blobs that are missing",
            ) from e
        if not data:
            self._eof = True
            _check_digest(self._count, "sha256:" + self._hash.hexdigest(), self._descriptor, self._reference)
            return 0
        self._count += len(data)
        if self._count > self._descriptor.size:
            raise DigestMismatch(
                f"registry {self._netloc} served more than {self._descriptor.size} bytes for {self._reference}",
                reference=self._reference,
            )
        self._hash.update(data)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()
        super().close()


class _Secrets:
    """Known secrets (password, its basic-auth form, tokens) and patterns to scrub from any text we pass on."""

    _USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
    _HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+")
    _SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            self._values.update(v for v in values if len(v) >= 4)

    def scrub(self, text: str) -> str:
        text = self._USERINFO.sub("", text)
        text = self._HEADER.sub(r"\1***", text)
        text = self._SCHEME.sub(r"\1 ***", text)
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "***")
        return text


_REQUEST_LOG_FIELDS = ("auth", "headers", "data")


class _RedactGardenerRequestLog(logging.Filter):
    """gardener-oci logs every request with `extra={'auth': (user, password), 'headers': {...}}`: blank those."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field in _REQUEST_LOG_FIELDS:
            if hasattr(record, field):
                setattr(record, field, "<redacted>")
        return True


def _install_log_redaction() -> None:
    request_logger = logging.getLogger("oci.client.request_logger")
    if not any(isinstance(f, _RedactGardenerRequestLog) for f in request_logger.filters):
        request_logger.addFilter(_RedactGardenerRequestLog())


_install_log_redaction()


# -- pure helpers --------------------------------------------------------------------------------------------------


def _parse_base(base: str) -> tuple[str | None, str, str, str]:
    """`[http(s)://]HOST[:PORT][/PREFIX]` -> (scheme or None, netloc, hostname, prefix)."""
    text = base.strip()
    if "@" in text:
        # Do not echo the text: it may hold a password.
        raise UsageError(
            "a registry target must not contain credentials (user:password@)",
            hint="pass --username with --password-stdin, or set GL_OCM_REGISTRY_USERNAME/GL_OCM_REGISTRY_PASSWORD",
        )
    scheme = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise UsageError(
                f"registry target {base!r}: unsupported scheme {scheme!r}", hint="use HOST[:PORT][/PREFIX]"
            )
    netloc, _, prefix = text.partition("/")
    prefix = prefix.strip("/")
    try:
        parsed = urllib.parse.urlsplit("//" + netloc)
        hostname, _port = parsed.hostname, parsed.port
    except ValueError:
        hostname = None
    if not netloc or not hostname or any(c.isspace() for c in netloc):
        raise UsageError(f"registry target {base!r} has no valid HOST[:PORT]", hint="e.g. ghcr.io/gardenlinux")
    if prefix and not REPOSITORY_RE.match(prefix):
        raise UsageError(
            f"registry target {base!r}: {prefix!r} is not a valid repository prefix",
            hint="use lower-case letters, digits, '.', '_', '-' and '/'",
        )
    return scheme, netloc.lower(), hostname, prefix


def _is_loopback(hostname: str) -> bool:
    host = hostname.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_plain_http(netloc: str) -> RegistryError:
    return RegistryError(
        f"refusing to send credentials over plain HTTP to {netloc}",
        hint="use HTTPS (do not pass --plain-http), or use a loopback registry for plain-HTTP tests",
    )


_CHALLENGE_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe_transport_error(error: BaseException) -> tuple[_Transport, str]:
    """Classify a transport error by its causes, without formatting it (messages can carry request details)."""
    causes = list(_causes(error))
    if any(isinstance(c, ssl.SSLError | requests.exceptions.SSLError | urllib3.exceptions.SSLError) for c in causes):
        reasons = " ".join(
            str(getattr(c, "reason", "") or "") + " " + str(getattr(c, "verify_message", "") or "") for c in causes
        )
        if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes) or "CERTIFICATE_VERIFY_FAILED" in reasons:
            verify = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
            detail = f" ({verify.verify_message})" if verify is not None and verify.verify_message else ""
            return _Transport.TLS, f"TLS certificate not trusted{detail}"
        if "WRONG_VERSION_NUMBER" in reasons or "RECORD_LAYER_FAILURE" in reasons:
            return _Transport.TLS, "TLS handshake failed: the server does not seem to speak TLS"
        return _Transport.TLS, "TLS handshake failed"
    if any(isinstance(c, urllib3.exceptions.NameResolutionError | socket.gaierror) for c in causes):
        return _Transport.UNREACHABLE, "name resolution failed"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return _Transport.UNREACHABLE, "connection refused"
    if isinstance(error, requests.exceptions.ConnectTimeout) or any(
        isinstance(c, urllib3.exceptions.ConnectTimeoutError) for c in causes
    ):
        return _Transport.UNREACHABLE, "connection timed out"
    if any(isinstance(c, urllib3.exceptions.NewConnectionError) for c in causes):
        os_error = next((c for c in causes if isinstance(c, OSError) and c.strerror), None)
        return _Transport.UNREACHABLE, f"cannot connect ({os_error.strerror if os_error else 'no route'})"
    if isinstance(error, requests.exceptions.ReadTimeout) or any(
        isinstance(c, urllib3.exceptions.ReadTimeoutError | TimeoutError) for c in causes
    ):
        return _Transport.TRANSIENT, "read timed out"
    innermost = causes[-1] if causes else error
    return _Transport.TRANSIENT, f"connection dropped ({type(innermost).__name__})"


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack.extend(e for e in linked if isinstance(e, BaseException))


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _looks_like_registry(response: requests.Response, media_type: str) -> bool:
    """A 200 on /v2/ from a registry: the API-version header, or a JSON (or empty) body; not a web page."""
    if response.headers.get("Docker-Distribution-API-Version"):
        return True
    return media_type == "application/json" or media_type.endswith("+json") or not _read_limited(response, 1024)


def _is_html(media_type: str) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def _strip_query(url: str) -> str:
    """A URL for messages: no userinfo, no query (upload URLs carry session state)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _read_limited(response: requests.Response, limit: int) -> bytes:
    chunks, total = [], 0
    try:
        for chunk in response.iter_content(min(limit, _CHUNK)):
            chunks.append(chunk)
            total += len(chunk)
            if total >= limit:
                break
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
        pass  # an unreadable error body only costs us its details
    return b"".join(chunks)[:limit]


def _registry_errors(body: bytes) -> tuple[set[str], list[str]]:
    """Codes and `code: message` texts of a distribution error body (`{"errors": [...]}`); empty when it is none."""
    try:
        document = json.loads(body)
    except ValueError:
        return set(), []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return set(), []
    codes = {str(e.get("code", "")) for e in errors if isinstance(e, dict)}
    texts = [f"{e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)]
    return codes, texts


def _json_media_type(data: bytes) -> str | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    return media_type if isinstance(media_type, str) and media_type else None


def _read_up_to(stream: BinaryIO, limit: int) -> bytes:
    """Up to `limit` bytes, looping over short reads."""
    chunks, total = [], 0
    while total < limit and (chunk := stream.read(min(limit - total, _CHUNK))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _rewind(stream: BinaryIO) -> None:
    if stream.seekable():
        stream.seek(0)


def _check_content(data: bytes, descriptor: Descriptor, reference: str, source: str) -> None:
    _check_digest(len(data), sha256_digest(data), descriptor, reference, source)


def _check_digest(size: int, digest: str, descriptor: Descriptor, reference: str, source: str = "the registry") -> None:
    if size != descriptor.size:
        amount = f"more than {descriptor.size}" if size > descriptor.size else str(size)
        raise DigestMismatch(
            f"{reference}: {source} has {amount} bytes, the descriptor says {descriptor.size}", reference=reference
        )
    if digest != descriptor.digest:
        raise DigestMismatch(f"{reference}: {source} has content with digest {digest}", reference=reference)
