"""A registry-shaped HTTP server on loopback that misbehaves on purpose, and a way to run `gl-ocm` against it.

A test says, per request pattern, what the peer answers (`Answer`) and how it misbehaves (`Misbehaviour`):

    peer.on("GET", r"/manifests/", Answer.json_bytes(b"[" * 100_000))        # a manifest nested 100,000 deep
    peer.on("GET", r"/token", Answer(misbehaviour=Misbehaviour.ENDLESS))      # a token answer that never ends
    peer.on("GET", r"/blobs/", Answer(body=b"x" * 10, misbehaviour=Misbehaviour.STALL))  # headers, then silence
    peer.on("GET", r"/_catalog", Answer(status=500))                          # a 500 on every catalog request

Requests no rule takes are answered from `backing` (a published layout directory) as a registry would, else with
a 404 and a distribution error body; `GET /v2/` answers 200 `{}` unless a rule says otherwise. `seen` lists every
request (method, path, headers). Stalls end when the peer stops, so a test never waits for its own server.
`run_gl_ocm` runs the CLI in a subprocess and reports exit code, output, wall time and the child's peak RSS (from
`wait4`, so no other process counts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from gardenlinux_ocm.errors import NotFound
from gardenlinux_ocm.oci.layout import LayoutTarget

_ROUTE = re.compile(r"^/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<repo>.+)/tags/list$")
_REFERRERS = re.compile(r"^/v2/(?P<repo>.+)/referrers/sha256:(?P<hex>[0-9a-f]{64})$")
_INDEX = "application/vnd.oci.image.index.v1+json"

__all__ = ["Answer", "HostilePeer", "Misbehaviour", "Run", "run_gl_ocm"]

_FILLER = b" " * (64 << 10)


class Misbehaviour(enum.StrEnum):
    NONE = "none"  # the answer as given, with its Content-Length
    ENDLESS = "endless"  # the body, then filler without end (no Content-Length)
    STALL = "stall"  # headers without a length, the body, then silence
    SILENT = "silent"  # read the request, answer nothing
    BROKEN_CHUNKED = "broken-chunked"  # chunked encoding with a chunk size that is no number
    LONG_HEADER = "long-header"  # a header line longer than any client accepts
    TRICKLE = "trickle"  # the body one byte at a time, a byte every `interval` seconds


@dataclasses.dataclass(frozen=True, kw_only=True)
class Answer:
    status: int = 200
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    misbehaviour: Misbehaviour = Misbehaviour.NONE
    interval: float = 0.5

    @classmethod
    def json_bytes(cls, body: bytes, *, media_type: str = "application/vnd.oci.image.manifest.v1+json",
                   **kwargs: object) -> Answer:
        headers = {"Content-Type": media_type}
        return cls(headers=headers, body=body, **kwargs)  # type: ignore[arg-type]  # the dataclass's fields

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Answer:
        return cls(status=status, headers={"Location": location})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Seen:
    method: str
    path: str
    headers: Mapping[str, str]


class HostilePeer:
    """The server; `start()`/`stop()` or `with`. `on()` adds a rule; the first matching rule answers."""

    def __init__(self, backing: Path | None = None) -> None:
        self.backing = backing
        self._rules: list[tuple[str, re.Pattern[str], Answer]] = []
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def on(self, method: str, path: str, answer: Answer) -> Self:
        with self._lock:
            self._rules.append((method, re.compile(path), answer))
        return self

    def answer_for(self, method: str, path: str) -> Answer | None:
        with self._lock:
            for m, pattern, answer in self._rules:
                if m in ("*", method) and pattern.search(path):
                    return answer
        return None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def port(self) -> int:
        assert self._server is not None, "peer not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, peer: HostilePeer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peer = peer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self) -> None:
        peer = self.server.peer
        path = self.path.split("?", 1)[0]
        peer.record(Seen(method=self.command, path=self.path, headers=dict(self.headers.items())))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        answer = peer.answer_for(self.command, path) or _backed(peer.backing, path)
        if answer is None:
            answer = Answer.json_bytes(b"{}", media_type="application/json") if path == "/v2/" else _NOT_FOUND
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(answer, peer.stopping)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _answer

    def _send(self, answer: Answer, stopping: threading.Event) -> None:
        kind = answer.misbehaviour
        if kind is Misbehaviour.SILENT:
            stopping.wait(60)
            self.close_connection = True
            return
        if kind is Misbehaviour.LONG_HEADER:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (1 << 20) + b"\r\n\r\n")
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        body = b"" if self.command == "HEAD" else answer.body
        if kind is Misbehaviour.NONE:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.close_connection = True
        if kind is Misbehaviour.BROKEN_CHUNKED:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"zz-not-a-size\r\n" + body + b"\r\n")
            self.wfile.flush()
            stopping.wait(60)
            return
        if kind is Misbehaviour.STALL:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            stopping.wait(60)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        if kind is Misbehaviour.TRICKLE:
            for i in range(len(body)):
                if stopping.wait(answer.interval):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            return
        self.wfile.write(body)  # ENDLESS
        while not stopping.is_set():
            self.wfile.write(_FILLER)


_NOT_FOUND = Answer(status=404, headers={"Content-Type": "application/json"},
                   body=json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "not here"}]}).encode())


def _backed(root: Path | None, path: str) -> Answer | None:
    """What a registry holding the layout at `root` answers to a read (manifests, blobs, tags, catalog)."""
    if root is None:
        return None
    backing = LayoutTarget(root, read_only=True)
    if path == "/v2/_catalog":
        return Answer.json_bytes(json.dumps({"repositories": backing.repositories()}).encode(),
                                 media_type="application/json")
    if match := _TAGS.match(path):
        return Answer.json_bytes(json.dumps({"name": match["repo"], "tags": backing.tags(match["repo"])}).encode(),
                                 media_type="application/json")
    if match := _REFERRERS.match(path):  # the referrers API, answered from the layout's fallback tag
        listing = {"schemaVersion": 2, "mediaType": _INDEX, "manifests": []}
        try:
            index = backing.resolve(match["repo"], f"sha256-{match['hex']}")
            with backing.fetch(match["repo"], index) as f:
                listing = json.loads(f.read())
        except NotFound:
            pass
        return Answer.json_bytes(json.dumps(listing).encode(), media_type=_INDEX)
    match = _ROUTE.match(path)
    if match is None:
        return None
    if match["kind"] == "blobs":
        blob = root / match["repo"] / "blobs" / "sha256" / match["ref"].removeprefix("sha256:")
        if not blob.is_file():
            return _NOT_FOUND
        return Answer(headers={"Content-Type": "application/octet-stream", "Docker-Content-Digest": match["ref"]},
                      body=blob.read_bytes())
    try:
        descriptor = backing.resolve(match["repo"], match["ref"])
        with backing.fetch(match["repo"], descriptor) as f:
            data = f.read()
    except NotFound:
        return _NOT_FOUND
    return Answer(headers={"Content-Type": descriptor.media_type, "Docker-Content-Digest": descriptor.digest},
                  body=data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


_FOREIGN = ("GL_OCM_", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "XDG_CACHE_HOME", "REQUESTS_CA_BUNDLE",
            "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["GL_OCM_TEST_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv = ["gl-ocm", *sys.argv[1:]]
runpy.run_module("gardenlinux_ocm", run_name="__main__")
"""


def run_gl_ocm(args: Sequence[str], *, home: str, env: Mapping[str, str] | None = None, timeout: float = 60,
               stdin: str = "", cwd: str | None = None) -> Run:
    """`gl-ocm ARGS` in a subprocess with `home` as its home (no auth file of this machine is read); its peak RSS
    in MiB is the child's own high-water mark (`VmHWM`, which it writes as it exits). `wait4`'s `ru_maxrss` is not
    used where the child reports: Linux carries the parent's resident size into a child's maximum when it execs, so
    a large test process would count as the child's memory."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    full_env.update({"COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb", "HOME": home, "NO_PROXY": "*"})
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write(stdin.encode())
        inp.seek(0)
        started = time.monotonic()
        hwm = Path(home) / f".peak-{threading.get_ident()}"
        hwm.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, *args], stdin=inp, stdout=out,
                                stderr=err, env={**full_env, "GL_OCM_TEST_PEAK_FILE": str(hwm)}, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        peak = int(hwm.read_text()) if hwm.is_file() else usage.ru_maxrss  # killed: the wait4 figure
        return Run(code=proc.returncode, stdout=out.read().decode(errors="replace"),
                   stderr=err.read().decode(errors="replace"), seconds=seconds, peak_mib=peak / 1024)
