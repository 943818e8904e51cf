"""Authentication for `RegistryTarget`: the `/v2/` probe, auth challenges, bearer tokens and basic credentials.

Requests go through gardener-oci's `Client._request` (one authenticated request); the bearer-token flow runs here.
Credentials and tokens are added to the scrubbed secrets, and gardener-oci's request log is redacted. The quirks this
works around are listed in `registry.py`.
"""

from __future__ import annotations

import base64
import enum
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import oci.auth
import oci.client
import oci.model
import requests

from ...bounded import LIMITS
from ...errors import RegistryError, TargetError
from ..model import REPOSITORY_RE
from .bodies import _preload, _read_limited
from .errors import _CREDENTIALS_HINT, _is_html, _looks_like_registry, _refuse_plain_http
from .http import _content_type, _is_loopback, _strip_query, _TlsSession, _UploadBody
from .retry import _RegistryRetry, _Retry

_log = logging.getLogger(__name__.rpartition(".")[0] + ".registry")  # log as the public module


class _Mode(enum.Enum):
    ANONYMOUS = "anonymous"
    BASIC = "basic"
    BEARER = "bearer"


class _RegistryAuth(_RegistryRetry):
    """Authenticated requests of `RegistryTarget` (a base class; `RegistryTarget.__init__` sets the state)."""

    _prefix: str
    _plain_http: bool
    _auto_scheme: bool
    _loopback: bool
    _api: str
    _timeout: tuple[float, float]
    _credentials_source: Callable[[str], tuple[str, str] | None]
    _mode: _Mode | None
    _realm: str
    _service: str
    _probe_lock: threading.Lock
    _token_lock: threading.Lock
    _tokens: dict[tuple[str, ...], tuple[str, float]]
    _session: _TlsSession
    _client: oci.client.Client

    # -- requests --------------------------------------------------------------------------------------------------

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
            foreign = self._session.request(
                method, url, headers=request_headers, data=data, stream=True, timeout=self._timeout
            )
            return foreign if stream else _preload(foreign)
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
            stream=True,  # never let requests read a body whole: `_preload` reads a bounded one
            timeout=self._timeout,
        )
        if not stream:
            _preload(response)
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
            return self._checked(_preload(self._session.get(url, timeout=self._timeout, stream=True)))

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
        if self._creds is not None and not may_send_credentials(self._api, self._realm):
            raise RegistryError(
                f"refusing to send the credentials for {self._netloc} over plain HTTP to its token service "
                f"{realm.netloc}, which is another host",
                method="GET",
                url=_strip_query(self._realm),
                hint="credentials go to a token service on another host over HTTPS only; the registry must name an "
                "https:// realm (or serve tokens on its own host)",
            )
        params = [("service", self._service)] if self._service else []
        if self._creds is not None:
            params.append(("account", self._creds[0]))
        params += [("scope", scope) for scope in scopes]
        url = self._realm + ("&" if realm.query else "?") + urllib.parse.urlencode(params)
        auth = self._creds

        def attempt() -> requests.Response:
            return self._checked(self._session.get(url, auth=auth, timeout=self._timeout, stream=True))

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
            document = self._json(response, "GET", self._realm, f"token for {self._netloc}",
                                  what="token answer", limit=LIMITS.token)
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


_CHALLENGE_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def may_send_credentials(api: str, realm: str) -> bool:
    """Whether basic credentials may go to the token service `realm` of the registry at `api` (pure).

    Over HTTPS always (Docker Hub's realm is on another host). Over plain HTTP only to the registry's own host (any
    port), and only when that host is a loopback address or the registry itself is plain HTTP (then the credentials
    travel in clear to that host anyway); never over plain HTTP to another host, nor from an HTTPS registry to a
    remote plain-HTTP realm.
    """
    try:
        ours, theirs = urllib.parse.urlsplit(api), urllib.parse.urlsplit(realm)
        our_host, their_host = (ours.hostname or "").lower(), (theirs.hostname or "").lower()
    except ValueError:
        return False
    if theirs.scheme == "https":
        return bool(their_host)
    if theirs.scheme != "http" or not their_host or their_host != our_host:
        return False
    return ours.scheme == "http" or _is_loopback(their_host)


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


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
