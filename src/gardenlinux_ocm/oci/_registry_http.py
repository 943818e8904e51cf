"""Transport for `RegistryTarget`: the TLS session, strict and bounded reads, upload bodies, resumable blob reads.

Nothing here keeps registry state: these are the requests-level pieces (and the parsing of a target base) that the
registry modules share. See `registry.py` for the gardener-oci quirks they work around.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import ipaddress
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import requests
import requests.adapters
import requests.auth
import urllib3.exceptions

from ..bounded import LIMITS, json_document
from ..errors import DigestMismatch, RegistryError, UsageError
from .model import REPOSITORY_RE, Descriptor, sha256_digest

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds to wait for a TCP/TLS connection, and for each read (response headers or the next body bytes)."""

    connect: float = 10.0
    read: float = 120.0


class _SizeMismatch(Exception):
    """The caller's stream held fewer or more bytes than the descriptor says (raised mid-upload, aborts the PUT)."""


class _LocalReadError(Exception):
    """Reading the caller's stream failed; kept apart from network errors, which requests wraps alike."""


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

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """The redirect's location, refused (a final `RegistryError`) unless it is an http(s) URL with a host.

        requests would otherwise fail on `file:` ("No connection adapters") or raise a bare `ValueError` for a
        malformed host such as `http://[::1`; the refusal comes before anything of the answer is used.
        """
        location: str | None = super().get_redirect_target(resp)
        if location is None:
            return None
        _check_redirect(resp, location)
        return location

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # signature of requests.Session
        if verify is None or verify is True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def _check_redirect(resp: requests.Response, location: str) -> None:
    shown = location.split("?", 1)[0][:200]
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(resp.url, location))
        host, _port = parts.hostname, parts.port
    except ValueError:
        host, parts = None, None
    if parts is not None and parts.scheme in ("http", "https") and host:
        return
    origin = _strip_query(resp.url) if resp.url else "the registry"
    why = "is no http(s) URL" if parts is not None and parts.scheme not in ("http", "https") else "is malformed"
    raise RegistryError(
        f"{origin} answered {resp.status_code} with a redirect to {shown!r}, which {why}; refused, nothing was read "
        "from it",
        method=resp.request.method or "" if resp.request is not None else "",
        url=origin,
        status=resp.status_code,
        hint="a registry may redirect reads to http(s) storage only; check the registry and any proxy in between",
    )


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


class _ShortBody(Exception):
    """A response body ended before its Content-Length (or the blob's size): a cut connection, worth retrying."""


class _BlobReader(io.RawIOBase):
    """A blob response body that checks size and digest as the bytes pass (raises `DigestMismatch` at the end).

    A dropped connection or a body cut short is resumed where it stopped: `reopen(offset)` asks for the rest (a
    ranged GET), and each read runs through `retrying`, the target's retry loop. Bytes already hashed are never
    hashed twice, so a resumed blob still has to match its digest as a whole. Each 1 MiB (or the rest of the blob)
    must arrive within `seconds`: a peer that trickles bytes within the read timeout is stopped too.
    """

    def __init__(
        self,
        response: requests.Response,
        descriptor: Descriptor,
        reference: str,
        *,
        reopen: Callable[[int], requests.Response],
        retrying: Callable[[Callable[[], bytes]], bytes],
        seconds: float | None = None,
    ) -> None:
        super().__init__()
        self._seconds = seconds
        self._response: requests.Response | None = response
        self._descriptor = descriptor
        self._reference = reference
        self._reopen = reopen
        self._retrying = retrying
        self._hash = hashlib.sha256()
        self._count = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._eof:
            return 0
        view = memoryview(buffer).cast("B")
        want = min(len(view), _CHUNK)
        data = self._retrying(lambda: self._read(want))
        if not data:
            self._eof = True
            _check_digest(self._count, "sha256:" + self._hash.hexdigest(), self._descriptor, self._reference)
            return 0
        self._count += len(data)
        if self._count > self._descriptor.size:
            raise DigestMismatch(
                f"{self._reference}: the registry served more than the {self._descriptor.size} bytes of its descriptor",
                reference=self._reference,
            )
        self._hash.update(data)
        view[: len(data)] = data
        return len(data)

    def _read(self, amount: int) -> bytes:
        """One read of the body, re-opened at the current offset after a failure (one attempt of `retrying`)."""
        if self._response is None:
            self._response = self._reopen(self._count)
        started = time.monotonic()
        data = bytearray()
        try:
            while len(data) < amount:
                piece: bytes = self._response.raw.read1(amount - len(data), decode_content=True)
                if not piece:
                    break
                data += piece
                if self._seconds is not None and len(data) < amount and time.monotonic() - started > self._seconds:
                    raise RegistryError(
                        f"{self._reference}: the blob arrives slower than {_CHUNK >> 20} MiB in {self._seconds:g} s, "
                        "the deadline of an operation",
                        reference=self._reference,
                        hint="the registry or the network stalls; try again later, or raise GL_OCM_DEADLINE",
                    )
        except BaseException:
            self._drop()
            raise
        if not data and self._count < self._descriptor.size:
            self._drop()
            raise _ShortBody(
                f"the body of {self._reference} ended after {self._count} of {self._descriptor.size} bytes"
            )
        return bytes(data)

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._drop()
        super().close()


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


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _strip_query(url: str) -> str:
    """A URL for messages: no userinfo, no query (upload URLs carry session state)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _already_read(response: requests.Response) -> bool:
    """Whether requests read the body itself (a request without `stream=True`): then `raw` is spent."""
    return bool(getattr(response, "_content_consumed", False))


_ERROR_BODY_SECONDS = 5.0  # an error body is read for its details only: what arrives in this time
_SMALL_BODY = 64 << 10  # what is kept of an answer that is not streamed (errors, upload sessions, the /v2/ probe)


def _preload(response: requests.Response) -> requests.Response:
    """What requests does without `stream=True`, bounded: at most 64 KiB of the body, read within a few seconds,
    kept as `content`. A body read to its end gives its connection back to the pool; a longer one drops it."""
    head = response.request is not None and response.request.method == "HEAD"
    data = b"" if head else _read_limited(response, _SMALL_BODY)
    complete = head or response.raw.isclosed()
    response._content = data
    # requests' own flag: with it set, close() returns the connection instead of closing it
    response._content_consumed = complete  # type: ignore[attr-defined]  # private in requests, unannotated
    response.close()
    response._content_consumed = True  # type: ignore[attr-defined]  # as above: `content` is what we read
    return response


def _read_limited(response: requests.Response, limit: int) -> bytes:
    """Up to `limit` bytes of an (error) body, as much as arrives within a few seconds; never raises."""
    if _already_read(response):
        return response.content[:limit]
    chunks, total = [], 0
    deadline = time.monotonic() + _ERROR_BODY_SECONDS
    try:
        while total < limit and time.monotonic() < deadline:
            chunk = response.raw.read1(min(limit - total, _CHUNK), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
        pass  # an unreadable error body only costs us its details
    return b"".join(chunks)[:limit]


def _read_body(response: requests.Response, limit: int, reference: str, *, seconds: float | None = None) -> bytes:
    """The whole body (up to `limit` bytes), or `_ShortBody` when it ends before its Content-Length.

    The body is read as it arrives (`read1`), so that a peer trickling bytes within the read timeout still ends at
    `seconds` (a final `RegistryError`, never retried). Transport errors propagate (the retry loop treats them as
    transient); unlike `_read_limited`, which is for error bodies, nothing is swallowed.
    """
    if _already_read(response):  # not streamed: requests has read it (bounded by the caller's request)
        return response.content[:limit]
    chunks, total = [], 0
    deadline = None if seconds is None else time.monotonic() + seconds
    while total < limit:
        if deadline is not None and time.monotonic() > deadline:
            response.close()
            raise RegistryError(
                f"the body of {reference} did not arrive within {seconds:g} s, the deadline of an operation",
                reference=reference,
                hint="the registry or the network stalls; try again later, or raise GL_OCM_DEADLINE",
            )
        try:
            chunk = response.raw.read1(min(limit - total, _CHUNK), decode_content=True)
        except urllib3.exceptions.ProtocolError as e:
            raise requests.exceptions.ChunkedEncodingError(e) from e
        except urllib3.exceptions.ReadTimeoutError as e:
            raise requests.exceptions.ReadTimeout(e) from e
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    length = response.headers.get("Content-Length", "")
    identity = response.headers.get("Content-Encoding", "identity").lower() in ("", "identity")
    if identity and length.isdigit() and total < min(int(length), limit):
        raise _ShortBody(f"the body of {reference} ended after {total} of {length} bytes")
    return b"".join(chunks)[:limit]


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


def _json_media_type(data: bytes, where: str = "the registry") -> str | None:
    try:
        document = json_document(data, what="manifest", where=where, limit=LIMITS.manifest)
    except ValueError:
        return None
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    return media_type if isinstance(media_type, str) and media_type else None


def _next_page(response: requests.Response, url: str) -> str | None:
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    next_url = urllib.parse.urljoin(url, link)
    return None if next_url == url else next_url
