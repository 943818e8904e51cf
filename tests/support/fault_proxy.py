"""A small fault-injecting HTTP reverse proxy between a client and a plain-http registry.

The proxy streams request and response bodies in chunks, rewrites `Location` headers that point at the upstream so
the client keeps talking to the proxy, and passes every other end-to-end header through. A fault plan (a list of
`Fault`) decides which requests get a fault instead of being forwarded:

    proxy.set_faults([Fault.error(503, method="PUT", path=r"/blobs/uploads/")])   # 1st matching PUT -> 503
    proxy.set_faults([Fault.error(429, method="GET", path=r"/manifests/", nth=2)])  # 2nd matching GET -> 429
    proxy.set_faults([Fault.cut(method="PUT", after=64 * 1024)])  # read 64 KiB of the body, drop the connection
    proxy.set_faults([Fault.html()])                              # every request -> 200 text/html
    proxy.set_faults([Fault.truncate(method="GET", path=r"/manifests/")])  # forward, send half the body, drop
    proxy.set_faults([Fault.reset(method="HEAD")])                # reset the connection, nothing forwarded

Besides the plan, `set_chaos(rate, faults, seed=...)` gives each request (that no rule of the plan takes) a fault
with probability `rate`, drawn from the templates in `faults` that match it (their `nth`/`times` are ignored):

    proxy.set_chaos(0.2, CHAOS_FAULTS, seed=7)   # 20 % of all requests: 500, 503, 429, resets, truncated answers

`counts` (per method and path class), `seen` (every request) and `injected` show what the proxy saw and did.
`free_port()` / `unreachable_url()` give a loopback port nobody listens on.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import http.server
import json
import logging
import random
import re
import socket
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

__all__ = [
    "CHAOS_FAULTS",
    "Fault",
    "FaultKind",
    "FaultProxy",
    "Injected",
    "chaos_faults",
    "free_port",
    "path_class",
    "unreachable_url",
]

_log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_CLIENT_TIMEOUT = 30.0  # per socket operation, both sides
_UPSTREAM_TIMEOUT = 60.0
_HOP_BY_HOP = frozenset(
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
    ]
)
_ERROR_CODES = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNKNOWN", 503: "UNAVAILABLE", 504: "UNAVAILABLE"}
_HTML = b"<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n"


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (and that nobody listens on unless someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable_url() -> str:
    """`http://127.0.0.1:PORT` where connections are refused: for "registry down" tests."""
    return f"http://127.0.0.1:{free_port()}"


def path_class(target: str) -> str:
    """Classify an OCI distribution path: base, catalog, uploads, blobs, manifests, tags, referrers or other."""
    path = urllib.parse.urlsplit(target).path
    if path in ("/v2", "/v2/"):
        return "base"
    if path == "/v2/_catalog":
        return "catalog"
    for marker, name in (
        ("/blobs/uploads", "uploads"),
        ("/blobs/", "blobs"),
        ("/manifests/", "manifests"),
        ("/tags/list", "tags"),
        ("/referrers/", "referrers"),
    ):
        if marker in path:
            return name
    return "other"


class FaultKind(enum.StrEnum):
    ERROR = "error"  # answer with `status` (500, 503, 429 + Retry-After, ...)
    CUT = "cut"  # read `cut_after` bytes of the request body, then close without answering
    HTML = "html"  # answer 200 text/html, like a captive portal or a misconfigured ingress
    DELAY = "delay"  # hold the request for `delay` seconds, then forward it (a slow or hanging registry)
    RESET = "reset"  # reset the connection (TCP RST) after the request line and headers; nothing is forwarded
    TRUNCATE = "truncate"  # forward; answer with the full headers but only `keep` of the body, then drop the
    # connection (a response without a body is dropped before its status line: the registry acted, the answer is lost)


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A rule: the `nth` request matching `method` and `path`, and the `times - 1` matching ones after it, fail.

    `method` is an HTTP method or "*"; `path` is a regex searched in the request target (path plus query).
    `times=None` means every matching request from the `nth` on.
    """

    kind: FaultKind
    method: str = "*"
    path: str = ""
    nth: int = 1
    times: int | None = 1
    status: int = 503
    retry_after: int | str | None = None
    cut_after: int = 64 * 1024
    delay: float = 0.0
    keep: float = 0.5
    code: str | None = None  # the registry error code of an ERROR answer (default: one fitting the status)

    @classmethod
    def error(
        cls,
        status: int,
        *,
        method: str = "*",
        path: str = "",
        nth: int = 1,
        times: int | None = 1,
        retry_after: int | str | None = None,
        code: str | None = None,
    ) -> Fault:
        """Answer `status` with a registry-style JSON error; a 429 carries `Retry-After: 1` unless told otherwise."""
        return cls(
            kind=FaultKind.ERROR,
            status=status,
            code=code,
            method=method,
            path=path,
            nth=nth,
            times=times,
            retry_after=retry_after if retry_after is not None else (1 if status == 429 else None),
        )

    @classmethod
    def reset(cls, *, method: str = "*", path: str = "", nth: int = 1, times: int | None = 1) -> Fault:
        """Reset the connection after the request headers (TCP RST): the registry never sees the request."""
        return cls(kind=FaultKind.RESET, method=method, path=path, nth=nth, times=times)

    @classmethod
    def truncate(
        cls, *, method: str = "*", path: str = "", keep: float = 0.5, nth: int = 1, times: int | None = 1
    ) -> Fault:
        """Forward the request; send the answer's headers and `keep` (a fraction) of its body, then drop."""
        return cls(kind=FaultKind.TRUNCATE, method=method, path=path, nth=nth, times=times, keep=keep)

    @classmethod
    def cut(
        cls, *, method: str = "PUT", path: str = "", after: int = 64 * 1024, nth: int = 1, times: int | None = 1
    ) -> Fault:
        """Read `after` bytes of the request body, then drop the connection without an answer."""
        return cls(kind=FaultKind.CUT, method=method, path=path, nth=nth, times=times, cut_after=after)

    @classmethod
    def html(cls, *, method: str = "*", path: str = "", nth: int = 1, times: int | None = None) -> Fault:
        """Answer `200 text/html` (default: every request)."""
        return cls(kind=FaultKind.HTML, method=method, path=path, nth=nth, times=times)

    @classmethod
    def slow(cls, seconds: float, *, method: str = "*", path: str = "", nth: int = 1, times: int | None = 1) -> Fault:
        """Hold the request `seconds` before forwarding it: a point where a run can be caught (and killed)."""
        return cls(kind=FaultKind.DELAY, method=method, path=path, nth=nth, times=times, delay=seconds)

    def matches(self, method: str, target: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and re.search(self.path, target) is not None

    def fires_at(self, match_number: int) -> bool:
        return match_number >= self.nth and (self.times is None or match_number < self.nth + self.times)


@dataclass(frozen=True, kw_only=True)
class Injected:
    """A fault the proxy applied to one request."""

    kind: FaultKind
    method: str
    path: str
    status: int | None


def chaos_faults(retry_after: int | str = 1) -> tuple[Fault, ...]:
    """One template per fault kind of the chaos mode: 500, 503, 429 (+ Retry-After), reset, truncated answer."""
    return (
        Fault.error(500),
        Fault.error(503),
        Fault.error(429, retry_after=retry_after),
        Fault.reset(),
        Fault.truncate(),
    )


CHAOS_FAULTS = chaos_faults()


class FaultProxy:
    """Reverse proxy on a free loopback port in front of `upstream` (`http://HOST:PORT`); `with` or start/stop."""

    def __init__(self, upstream: str, faults: Sequence[Fault] = (), *, max_connections: int = 32) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.upstream = f"http://{parts.netloc}"
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._matches: list[int] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._seen: list[tuple[str, str]] = []
        self._injected: list[Injected] = []
        self._chaos_rate = 0.0
        self._chaos: tuple[Fault, ...] = ()
        self._random = random.Random(0)
        self.stopped = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(faults)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(self, self.max_connections)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()  # delayed requests are dropped, not forwarded after the test
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

    # -- plan and observations ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def set_faults(self, faults: Sequence[Fault]) -> None:
        """Replace the fault plan; the match counters of the rules start again at zero."""
        with self._lock:
            self._faults = list(faults)
            self._matches = [0] * len(self._faults)

    def set_chaos(self, rate: float, faults: Sequence[Fault] = CHAOS_FAULTS, *, seed: int | None = None) -> None:
        """Give each request the plan does not take a fault with probability `rate`, drawn from matching `faults`."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        with self._lock:
            self._chaos_rate = rate
            self._chaos = tuple(faults)
            self._random = random.Random(seed)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)
            self._matches.append(0)

    @property
    def counts(self) -> Counter[tuple[str, str]]:
        """Requests seen (faulted or forwarded) per `(METHOD, path_class)`, e.g. `("PUT", "uploads")`."""
        with self._lock:
            return Counter(self._counts)

    @property
    def seen(self) -> list[tuple[str, str]]:
        """Every request so far as `(METHOD, target)`, in arrival order."""
        with self._lock:
            return list(self._seen)

    def count(self, method: str = "*", klass: str = "*") -> int:
        return sum(n for (m, c), n in self.counts.items() if method in ("*", m) and klass in ("*", c))

    @property
    def injected(self) -> list[Injected]:
        with self._lock:
            return list(self._injected)

    def reset(self) -> None:
        """Forget counts and injected faults (the plan stays, with its match counters reset)."""
        with self._lock:
            self._counts.clear()
            self._seen.clear()
            self._injected.clear()
            self._matches = [0] * len(self._faults)

    def _decide(self, method: str, target: str) -> Fault | None:
        """Count the request; return the first rule that fires for it, after counting it for every matching rule."""
        with self._lock:
            self._counts[(method, path_class(target))] += 1
            self._seen.append((method, target))
            chosen = None
            for index, fault in enumerate(self._faults):
                if fault.matches(method, target):
                    self._matches[index] += 1
                    if chosen is None and fault.fires_at(self._matches[index]):
                        chosen = fault
            if chosen is None and self._chaos_rate and self._random.random() < self._chaos_rate:
                candidates = [fault for fault in self._chaos if fault.matches(method, target)]
                chosen = self._random.choice(candidates) if candidates else None
            if chosen is not None:
                status = {FaultKind.ERROR: chosen.status, FaultKind.HTML: 200}.get(chosen.kind)
                self._injected.append(Injected(kind=chosen.kind, method=method, path=target, status=status))
            return chosen


class _Server(http.server.ThreadingHTTPServer):
    """At most `limit` connections are handled at once; further ones wait in the accept queue."""

    daemon_threads = True

    def __init__(self, owner: FaultProxy, limit: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self._slots = threading.BoundedSemaphore(limit)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("fault proxy: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _CLIENT_TIMEOUT
    # Headers and body go out in separate writes: with Nagle's algorithm, the client's delayed ACK would hold every
    # answer with a body for ~40 ms.
    disable_nagle_algorithm = True

    @property
    def owner(self) -> FaultProxy:
        assert isinstance(self.server, _Server)
        return self.server.owner

    def _handle(self) -> None:
        fault = self.owner._decide(self.command, self.path)
        if fault is None:
            self._forward()
        elif fault.kind is FaultKind.DELAY:
            if self.owner.stopped.wait(fault.delay):
                self.close_connection = True  # the proxy is stopping: drop the request
                return
            self._forward()
        elif fault.kind is FaultKind.CUT:
            self._cut(fault.cut_after)
        elif fault.kind is FaultKind.RESET:
            self._reset()
        elif fault.kind is FaultKind.TRUNCATE:
            self._forward(keep=fault.keep)
        elif fault.kind is FaultKind.HTML:
            self._drain()
            self._answer(200, _HTML, "text/html; charset=utf-8")
        else:
            self._drain()
            code = fault.code or _ERROR_CODES.get(fault.status, "UNKNOWN")
            body = json.dumps({"errors": [{"code": code, "message": "injected by fault proxy"}]}).encode()
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._answer(fault.status, body, "application/json", extra)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's naming)

    # -- request body --------------------------------------------------------------------------------------------------

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _body(self) -> Iterator[bytes]:
        """The request body in chunks of at most `_CHUNK` bytes (de-chunked if the client sent it chunked)."""
        if not self._chunked():
            yield from self._read_exactly(int(self.headers.get("Content-Length") or 0))
            return
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._read_exactly(size)
            self.rfile.readline(1024)  # CRLF after the chunk

    def _read_exactly(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            data = self.rfile.read(min(remaining, _CHUNK))
            if not data:
                raise ConnectionError("client closed the connection in the middle of the request body")
            remaining -= len(data)
            yield data

    def _drain(self) -> None:
        for _ in self._body():
            pass

    def _cut(self, limit: int) -> None:
        seen = 0
        for chunk in self._body():
            seen += len(chunk)
            if seen >= limit:
                break
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _drop(self) -> None:
        """Close the connection (FIN) without a further byte; the request body has been read already."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), whatever the client is still sending."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    # -- answers -------------------------------------------------------------------------------------------------------

    def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, keep: float | None = None) -> None:
        """Send the request upstream and relay the answer (with `keep`: only that fraction of it, then drop)."""
        owner = self.owner
        conn = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=_UPSTREAM_TIMEOUT)
        try:
            chunked = self._chunked()
            try:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers, then body: no Nagle wait
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", f"{owner.upstream_host}:{owner.upstream_port}")
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for chunk in self._body():
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if chunked:
                    conn.send(b"0\r\n\r\n")
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self.close_connection = True
                self._answer(502, f"fault proxy: upstream failed: {exc}\n".encode(), "text/plain")
                return
            self._relay(response, keep)
        finally:
            conn.close()

    def _relay(self, response: http.client.HTTPResponse, keep: float | None = None) -> None:
        length = response.getheader("Content-Length")
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200 or length == "0"
        if keep is not None and no_body:
            self._drop()  # the registry has acted; its answer is lost
            return
        if keep is not None:
            self._relay_truncated(response, length, keep)
            return
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            self.send_header(name, self._rewrite(name, value))
        rechunk = not no_body and length is None
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            return
        while data := response.read(_CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if rechunk else data)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")

    def _rewrite(self, name: str, value: str) -> str:
        """A `Location` pointing at the upstream points at the proxy instead; other headers pass unchanged."""
        if name.lower() == "location" and value.startswith(self.owner.upstream):
            return self.owner.url + value[len(self.owner.upstream) :]
        return value

    def _relay_truncated(self, response: http.client.HTTPResponse, length: str | None, keep: float) -> None:
        """The answer's status and headers as they are, then `keep` of its body, then the connection drops."""
        body = response.read()
        sent = body[: int(len(body) * keep)]
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, self._rewrite(name, value))
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(sent), sent) if length is None and sent else sent)
        self._drop()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from http.server)
        _log.debug("fault proxy: " + format, *args)
