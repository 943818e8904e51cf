"""RegistryTarget: the `Target` and `Mounter` protocols over an OCI distribution registry, through gardener-oci.

A target is a base `HOST[:PORT][/PREFIX]`; repository `gardenlinux` lives at `HOST/PREFIX/gardenlinux`. Every quirk
of gardener-oci 1.2863.0 (pinned exactly in pyproject.toml) is contained in this module and its internal
helpers `_registry_http`, `_registry_bodies`, `_registry_errors`, `_registry_retry`, `_registry_auth`,
`_registry_push` and `_registry_referrers`:

- Its built-in retry re-sends a consumed file object (0 bytes under the full Content-Length, then hangs until the
  read timeout), retries TLS errors for minutes and has no total time bound. The client runs with `max_retries=0`;
  `_retrying` retries whole operations within a time budget (`RetryPolicy`) and seeks the caller's stream back to 0
  before every upload attempt. Bodies are read inside the attempt with a length check, so a cut manifest or blob
  read is retried (a blob is resumed with a ranged GET) instead of surfacing as short content.
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

import collections
import contextlib
import io
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import oci.client
import requests

from ...errors import DigestMismatch, NotFound, RegistryError, TargetError, UsageError
from ..model import DIGEST_RE, TAG_RE, Descriptor, MediaType, is_manifest, sha256_digest
from .auth import _Mode
from .bodies import _BlobReader, _read_body, _ShortBody
from .errors import _is_html, _Secrets
from .http import (
    _CHUNK,
    Timeouts,
    _check_content,
    _content_type,
    _is_loopback,
    _json_media_type,
    _next_page,
    _parse_base,
    _TlsSession,
)
from .push import _MAX_MANIFEST_BYTES, _RegistryPush
from .referrers import _RegistryReferrers
from .retry import RetryPolicy, _RetryBudget

__all__ = ["MANIFEST_ACCEPT", "RegistryTarget", "RetryPolicy", "Timeouts"]

_log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    [MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST]
)
_PAGE = 1000


class RegistryTarget(_RegistryPush, _RegistryReferrers):
    """A writable base `HOST[:PORT][/PREFIX]` on an OCI registry; implements `Target`, `Mounter` and
    `ReferrersApi`.

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
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass
        timeout: Timeouts = Timeouts(),  # noqa: B008 - frozen dataclass
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
        self._retry_budget = _RetryBudget(retry.total)
        self._body_seconds = retry.operation
        self._manifest_cache: collections.OrderedDict[tuple[str, str], tuple[bytes, str]] = collections.OrderedDict()
        self._absent: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
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
        """HEAD the blob or manifest; a blob found absent is remembered, so that its upload does not ask again."""
        found = self._exists(repository, descriptor)
        if not found and not is_manifest(descriptor.media_type):
            self._note_absent(repository, descriptor.digest)
        return found

    def _exists(self, repository: str, descriptor: Descriptor) -> bool:
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

        def reopen(offset: int) -> requests.Response:
            return self._open_blob(repository, descriptor, ref, url, offset)

        def retrying(attempt: Callable[[], bytes]) -> bytes:
            return self._retrying("GET", ref, url, attempt)

        response = self._retrying("GET", ref, url, lambda: reopen(0))
        blob = _BlobReader(response, descriptor, ref, reopen=reopen, retrying=retrying, seconds=self._body_seconds)
        reader = io.BufferedReader(blob, buffer_size=_CHUNK)
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
        return Descriptor(media_type=_json_media_type(data, ref) or media_type, digest=digest, size=len(data))

    def tags(self, repository: str) -> list[str]:
        ref = self._ref(repository)
        url: str | None = self._url(repository, "tags", "list") + f"?n={_PAGE}"
        tags: set[str] = set()
        first = True
        while url is not None:
            response = self._request("GET", url, repository=repository, reference=ref, stream=True)
            if first and response.status_code == 404:
                return []
            if response.status_code != 200:
                self._fail(response, "GET", ref)
            page = self._json(response, "GET", url, ref, what="tag list").get("tags") or []
            if not isinstance(page, list) or not all(isinstance(tag, str) for tag in page):
                raise self._not_a_registry("a malformed tag list", "GET", url, ref)
            tags.update(page)
            url, first = _next_page(response, url), False
        return sorted(tags)

    def repositories(self) -> list[str]:
        self._ensure_probed()  # the scheme is known only then: auto mode may switch a loopback registry to HTTPS
        catalog = f"{self._netloc}/_catalog"
        url: str | None = f"{self._api}_catalog?n={_PAGE}"
        names: set[str] = set()
        while url is not None:
            response = self._request("GET", url, scopes=("registry:catalog:*",), reference=catalog, stream=True)
            if response.status_code == 401 and self._rejects_credentials():
                self._fail(response, "GET", catalog)
            if response.status_code in (401, 403, 404, 405, 501):
                _log.debug("%s does not list its repositories (%s)", self._netloc, response.status_code)
                response.close()
                return []
            if response.status_code != 200:
                self._fail(response, "GET", catalog)
            page = self._json(response, "GET", url, catalog, what="catalog").get("repositories") or []
            names.update(str(name) for name in page)
            url = _next_page(response, url)
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

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        """Point `tag` at a manifest; with `data`, by one PUT of those bytes under the tag, which stores it too.

        Without `data` the tag is resolved first and, unless it points there already, the stored manifest (kept from
        this target's push or read, else fetched) is PUT under it.
        """
        if not TAG_RE.match(tag):
            raise TargetError(f"{tag!r} is not a valid OCI tag", reference=tag)
        if data is not None:
            self._store_manifest(repository, tag, descriptor, data)
            return
        with contextlib.suppress(NotFound):
            if self.resolve(repository, tag).digest == descriptor.digest:
                _log.debug("%s already points at %s", self._ref(repository, tag), descriptor.digest)
                return
        by_digest = self._ref(repository, descriptor.digest)
        cached = self._cached_manifest(repository, descriptor.digest)
        try:
            data, content_type = cached or self._manifest_bytes(repository, descriptor.digest)
        except NotFound as e:
            raise NotFound(f"cannot tag {tag}: {by_digest} is not stored", reference=by_digest) from e
        _check_content(data, descriptor, by_digest, self._netloc)
        self._put_manifest(repository, tag, descriptor, data, _json_media_type(data, by_digest) or content_type)

    # -- Mounter ---------------------------------------------------------------------------------------------------

    def mount(
        self,
        repository: str,
        descriptor: Descriptor,
        from_repository: str,
        content: Callable[[], contextlib.AbstractContextManager[BinaryIO]] | None = None,
    ) -> bool:
        """POST a cross-repository mount (no HEAD first: 201 means the blob is there, whether it was before or not).

        A 202 is an upload session that the registry opened instead (distribution 2.8 and v3 do so when the source
        repository lacks the blob or may not be read): with `content` the blob is uploaded into it and True returned;
        without, the session is cancelled (DELETE) and False returned.
        """
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
            self._take_absent(repository, descriptor.digest)  # forget an earlier answer: it is there now
            return True
        if response.status_code == 202:
            location = response.headers.get("Location")
            if content is None or not location:
                self._cancel_upload(response, repository)  # the caller pushes
                return False
            response.close()
            _log.debug("mount of %s from %s refused; uploading into the session opened instead", ref, source)
            with content() as stream:
                self._push_blob(repository, descriptor, stream, session=urllib.parse.urljoin(response.url, location))
            return True
        if response.status_code in (401, 403):
            if self._mode is _Mode.BEARER:
                _log.debug("mount of %s from %s not allowed (%s)", ref, source, response.status_code)
                return False
            self._fail(response, "POST", ref)
        _log.debug("mount of %s from %s not available (%s)", ref, source, response.status_code)
        return False

    # -- reading helpers -------------------------------------------------------------------------------------------

    def _manifest_bytes(self, repository: str, reference: str) -> tuple[bytes, str]:
        """GET a manifest (by tag or digest) with every manifest type in Accept: its raw bytes and Content-Type.

        The body is read inside the attempt and checked against its Content-Length: a cut read is retried.
        """
        ref = self._ref(repository, reference)
        url = self._url(repository, "manifests", reference)

        def attempt() -> tuple[bytes, str]:
            response = self._checked(
                self._send("GET", url, repository=repository, headers={"Accept": MANIFEST_ACCEPT}, stream=True)
            )
            with response:
                if response.status_code != 200:
                    raise self._error(response, "GET", ref)
                media_type = _content_type(response)
                if _is_html(media_type):
                    raise self._not_a_registry(media_type, "GET", url, ref)
                return _read_body(response, _MAX_MANIFEST_BYTES + 1, ref, seconds=self._body_seconds), media_type

        data, media_type = self._retrying("GET", ref, url, attempt)
        if len(data) > _MAX_MANIFEST_BYTES:
            raise RegistryError(f"registry {self._netloc} served more than 4 MiB for manifest {ref}", reference=ref)
        if DIGEST_RE.match(reference) and sha256_digest(data) == reference:
            self._remember_manifest(repository, reference, data, media_type)
        return data, media_type

    def _open_blob(
        self, repository: str, descriptor: Descriptor, ref: str, url: str, offset: int, *, ranged: bool = True
    ) -> requests.Response:
        """GET a blob from `offset` (a ranged GET resumes a cut read; a 200 is skipped forward). One attempt."""
        headers = {"Accept-Encoding": "identity"}
        if offset and ranged:
            headers["Range"] = f"bytes={offset}-"
        response = self._checked(self._send("GET", url, repository=repository, headers=headers, stream=True))
        status = response.status_code
        if status == 206 and offset and ranged:
            if _range_start(response) == offset:
                return response
            response.close()  # not the range we asked for: take the whole blob and skip
            return self._open_blob(repository, descriptor, ref, url, offset, ranged=False)
        if status != 200:
            raise self._error(response, "GET", ref)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) != descriptor.size:
            response.close()
            raise DigestMismatch(
                f"{ref}: {self._netloc} has {length} bytes, the descriptor says {descriptor.size}", reference=ref
            )
        skipped = 0
        try:
            while skipped < offset and (data := response.raw.read(min(offset - skipped, _CHUNK), decode_content=True)):
                skipped += len(data)
        except BaseException:
            response.close()
            raise
        if skipped < offset:
            response.close()
            raise _ShortBody(f"the body of {ref} ended after {skipped} of {descriptor.size} bytes")
        return response

    def _rejects_credentials(self) -> bool:
        """Whether the registry rejects our basic credentials as such (GET /v2/ with them is 401 too)."""
        if self._mode is not _Mode.BASIC or self._creds is None:
            return False
        response = self._request("GET", self._api, reference=self._netloc)
        response.close()
        return response.status_code == 401


def _range_start(response: requests.Response) -> int | None:
    """The first byte of a 206 answer's `Content-Range: bytes START-END/TOTAL`, None when it is not that."""
    unit, _, spec = response.headers.get("Content-Range", "").strip().partition(" ")
    start = spec.partition("-")[0]
    return int(start) if unit.lower() == "bytes" and start.isdigit() else None
