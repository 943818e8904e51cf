"""Errors of `RegistryTarget`: what registry answers and transport failures mean, as our errors.

Responses become `RegistryError`, `NotFound` or `DigestMismatch`; an HTML answer is "not a registry"; known secrets
are scrubbed from every text passed on.

Transport errors are described by their kind, never by formatting the exception (messages can carry request details).
"""

from __future__ import annotations

import enum
import http.client
import re
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, NoReturn

import requests
import urllib3.exceptions

from ...bounded import LIMITS, json_document
from ...errors import DigestMismatch, NotFound, RefusedDocument, RegistryError, TargetError
from ..model import Descriptor
from .bodies import _read_body, _read_limited
from .http import _content_type, _strip_query

_ERROR_BODY_LIMIT = 64 << 10
_CREDENTIALS_HINT = (
    "check the credentials: pass --username with --password-stdin, set GL_OCM_REGISTRY_USERNAME and "
    "GL_OCM_REGISTRY_PASSWORD, or log in with `docker login` / `podman login` (docker/podman auth files)"
)


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


class _RegistryErrors:
    """The error side of `RegistryTarget`: what a failed request or response means, as one of our errors.

    A base class of `RegistryTarget`, whose `__init__` sets the state declared here.
    """

    _netloc: str
    _creds: tuple[str, str] | None
    _secrets: _Secrets
    _reached: bool
    _body_seconds: float  # how long reading one answer's body may take: the deadline of an operation

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

    def _fail(self, response: requests.Response, method: str, reference: str) -> NoReturn:
        raise self._error(response, method, reference)

    def _error(
        self, response: requests.Response, method: str, reference: str, *, body: bytes | None = None
    ) -> TargetError:
        """The error a final answer means; `body` when the caller has already read (part of) it."""
        status = response.status_code
        media_type = _content_type(response)
        if body is None:
            body = _error_body(response, method)
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

    def _json(
        self, response: requests.Response, method: str, url: str, reference: str, *, what: str = "listing",
        limit: int = LIMITS.listing,
    ) -> dict[str, Any]:
        """The JSON object of a (streamed) answer, read within `limit` bytes and the operation's deadline."""
        media_type = _content_type(response)
        data = _read_body(response, limit + 1, reference, seconds=self._body_seconds)
        try:
            document = json_document(data, what=what, where=reference, limit=limit)
        except ValueError:
            document = None
        if _is_html(media_type) or not isinstance(document, dict):
            raise self._not_a_registry(media_type or "no JSON", method, url, reference)
        return document

    def _check_stored_digest(self, response: requests.Response, descriptor: Descriptor, reference: str) -> None:
        stored = response.headers.get("Docker-Content-Digest")
        response.close()
        if stored and stored != descriptor.digest:
            raise DigestMismatch(
                f"registry {self._netloc} stored {reference} as {stored}, expected {descriptor.digest}",
                reference=reference,
            )


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


def _refuse_plain_http(netloc: str) -> RegistryError:
    return RegistryError(
        f"refusing to send credentials over plain HTTP to {netloc}",
        hint="use HTTPS (do not pass --plain-http), or use a loopback registry for plain-HTTP tests",
    )


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


def _looks_like_registry(response: requests.Response, media_type: str) -> bool:
    """A 200 on /v2/ from a registry: the API-version header, or a JSON (or empty) body; not a web page."""
    if response.headers.get("Docker-Distribution-API-Version"):
        return True
    return media_type == "application/json" or media_type.endswith("+json") or not _read_limited(response, 1024)


def _error_body(response: requests.Response, method: str) -> bytes:
    """The start of an error body, for its codes and messages (nothing for HEAD); unreadable costs only details."""
    return _read_limited(response, _ERROR_BODY_LIMIT) if method != "HEAD" else b""


def _is_html(media_type: str) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def _registry_errors(body: bytes) -> tuple[set[str], list[str]]:
    """Codes and `code: message` texts of a distribution error body (`{"errors": [...]}`); empty when it is none."""
    try:
        document = json_document(body, what="error body", where="the registry", limit=LIMITS.error)
    except (ValueError, RefusedDocument):
        return set(), []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return set(), []
    codes = {str(e.get("code", "")) for e in errors if isinstance(e, dict)}
    texts = [f"{e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)]
    return codes, texts
