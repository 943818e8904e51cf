"""Transport for `RegistryTarget`: the TLS session (which refuses redirects that are no http(s) URL), upload
bodies, the parsing of a target base and the small helpers the registry modules share; `_registry_bodies` reads
the answers.

Nothing here keeps registry state: these are the requests-level pieces that the registry modules share. See
`registry.py` for the gardener-oci quirks they work around.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import requests
import requests.adapters
import requests.auth

from ...bounded import LIMITS, json_document
from ...errors import DigestMismatch, RegistryError, UsageError
from ..model import REPOSITORY_RE, Descriptor, sha256_digest

if TYPE_CHECKING:
    pass

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
