"""A minimal bearer-token issuer for distribution's `auth: token`, run in a background thread.

Tokens are RS256 JWTs with `x5c: [signer cert]`; the registry accepts them when the signer chains to its
`rootcertbundle`. Users: alice (pull, push, delete), bob (pull); anonymous gets pull. Every request is recorded in
`requests` so a test can assert that the token flow really happened.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["DEFAULT_USERS", "IssuedRequest", "TokenIssuer"]

DEFAULT_USERS: Mapping[str, tuple[str, frozenset[str]]] = {
    "alice": ("secret1", frozenset({"pull", "push", "delete"})),
    "bob": ("secret2", frozenset({"pull"})),
}


@dataclass(frozen=True, kw_only=True)
class IssuedRequest:
    """One request the issuer saw: who asked (`""` = anonymous), for which scopes, what it granted."""

    user: str
    scopes: tuple[str, ...]
    status: int
    access: tuple[Mapping[str, Any], ...] = ()


class TokenIssuer:
    """Serves `GET /token?service=..&scope=..` on a free loopback port; `start()`/`stop()` or `with`."""

    def __init__(
        self,
        *,
        signer_key: rsa.RSAPrivateKey,
        signer_cert: x509.Certificate,
        users: Mapping[str, tuple[str, frozenset[str]]] = DEFAULT_USERS,
        anonymous: frozenset[str] = frozenset({"pull"}),
        service: str = "gl-ocm-test-registry",
        issuer: str = "gl-ocm-test-issuer",
        ttl: int = 300,
    ) -> None:
        self.signer_key = signer_key
        self.signer_cert = signer_cert
        self.users = dict(users)
        self.anonymous = anonymous
        self.service = service
        self.issuer = issuer
        self.ttl = ttl
        self._lock = threading.Lock()
        self._requests: list[IssuedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server(self)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="token-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests look at ------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "issuer not started"
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def requests(self) -> list[IssuedRequest]:
        """A snapshot of the requests seen so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def scopes(self) -> list[str]:
        """Every scope asked for so far, in order."""
        return [scope for request in self.requests for scope in request.scopes]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def fetch_token(self, scopes: Iterable[str], *, auth: tuple[str, str] | None = None, timeout: float = 10) -> str:
        """Get a token over HTTP like a client would (so it is recorded too); raise on a non-200 answer."""
        params = [("service", self.service)] + [("scope", s) for s in scopes]
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(self.realm, params=params, auth=auth, timeout=timeout)
        response.raise_for_status()
        return str(response.json()["token"])

    # -- token making ------------------------------------------------------------------------------------------------

    def grant(self, user: str, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The `access` claim for `user` ("" = anonymous): requested actions filtered by what the user may do."""
        allowed = self.users[user][1] if user else self.anonymous
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            if name and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        return access

    def make_token(self, user: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        der = self.signer_cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}  # standard base64 here
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,  # a string: distribution 2.8 rejects a list
            "exp": now + self.ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        signature = self.signer_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def _record(self, request: IssuedRequest) -> None:
        with self._lock:
            self._requests.append(request)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: TokenIssuer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    @property
    def owner(self) -> TokenIssuer:
        assert isinstance(self.server, _Server)
        return self.server.owner

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = tuple(" ".join(query.get("scope", [])).split())
        if url.path != "/token":
            return self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]}, "", scopes)
        user = ""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, password = "", None
            if user not in self.owner.users or self.owner.users[user][0] != password:
                body: dict[str, Any] = {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username/password"}]}
                return self._reply(401, body, user, scopes)
        access = self.owner.grant(user, scopes)
        token = self.owner.make_token(user, access)
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {"token": token, "access_token": token, "expires_in": self.owner.ttl, "issued_at": issued_at}
        self._reply(200, body, user, scopes, access)

    def _reply(
        self,
        status: int,
        body: Mapping[str, Any],
        user: str,
        scopes: tuple[str, ...],
        access: list[dict[str, Any]] | None = None,
    ) -> None:
        self.owner._record(IssuedRequest(user=user, scopes=scopes, status=status, access=tuple(access or ())))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from http.server)
        pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
