"""Bodies of registry answers, read within bounds: documents within a size and the deadline of an operation, other
answers within 64 KiB and a few seconds, blobs checked as they pass and resumed where a cut read stopped.

`http` holds the session and the request side; nothing here keeps registry state either.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

import requests
import urllib3.exceptions

from ...errors import DigestMismatch, RegistryError
from ..model import Descriptor
from .http import _CHUNK, _check_digest

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


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
