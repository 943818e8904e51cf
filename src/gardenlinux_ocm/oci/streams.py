"""Bounded, seekable readers, a hashing writer and the stop signal of a transfer.

The readers keep memory flat for any artefact size. `ReopeningReader` makes a one-shot stream (a registry's blob
response) seekable by opening the source again, so that an upload can be retried. `StopSignal` is how `copy()` tells
its workers, and the retry loops below them, that the transfer has failed for good: it is read from a context
variable (`current_stop`) that `stop_scope` sets, and checked between chunks and between retries.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..errors import DigestMismatch

__all__ = [
    "RangeReader",
    "ProgressReader",
    "ReopeningReader",
    "StopSignal",
    "Stopped",
    "copy_verified",
    "current_stop",
    "stop_scope",
    "with_progress",
]


class Stopped(Exception):
    """Raised in a worker of a transfer that has already failed elsewhere; the transfer reports that failure."""


class StopSignal:
    """Set once, when a transfer has failed for good; `check` and `sleep` raise `Stopped` from then on."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped("stopped: another part of the transfer failed")

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if the signal is set meanwhile (then raise `Stopped`)."""
        if self._event.wait(seconds):
            self.check()


_STOP: contextvars.ContextVar[StopSignal | None] = contextvars.ContextVar("gl_ocm_stop", default=None)


@contextlib.contextmanager
def stop_scope(signal: StopSignal) -> Iterator[StopSignal]:
    """Make `signal` the `current_stop()` of this context (and of contexts copied from it, e.g. for workers)."""
    token = _STOP.set(signal)
    try:
        yield signal
    finally:
        _STOP.reset(token)


def current_stop() -> StopSignal | None:
    return _STOP.get()


class RangeReader(io.RawIOBase):
    """`size` bytes of a file from `offset`, as a seekable stream (seek(0) restarts, for upload retries)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._f = path.open("rb", buffering=0)  # reads go straight into the caller's chunk: no buffer, no copy
        self._offset, self._size, self._pos = offset, size, 0
        self._f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = self._size - self._pos if size is None or size < 0 else min(size, self._size - self._pos)
        data = self._f.read(n) if n > 0 else b""
        self._pos += len(data or b"")
        return data or b""

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # RawIOBase's Buffer
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(buffer)[:n]) or 0
        self._pos += got
        return got

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + pos))
        self._f.seek(self._offset + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._size

    def close(self) -> None:
        self._f.close()
        super().close()


def copy_verified(src: BinaryIO, dst: BinaryIO, digest: str, size: int, what: str, chunk: int = 1 << 20) -> None:
    """Copy a stream while hashing it; raises `DigestMismatch` unless size and SHA-256 match the descriptor."""
    h = hashlib.sha256()
    n = 0
    while data := src.read(chunk):
        h.update(data)
        dst.write(data)
        n += len(data)
        if n > size:
            break
    got = f"sha256:{h.hexdigest()}"
    if n != size or got != digest:
        raise DigestMismatch(
            f"{what}: content does not match its descriptor (expected {digest}, {size} bytes; "
            f"got {got if n == size else 'more or fewer bytes'}, {n} bytes)",
            reference=what,
        )


class ProgressReader(io.RawIOBase):
    """Passes a stream through and reports bytes read beyond the furthest point so far (a retry that seeks back to
    0 reports nothing twice). Seeking is delegated, so a seekable stream stays seekable."""

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None], stop: StopSignal | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._on_bytes = on_bytes
        self._stop = stop
        self._pos = 0
        self._high = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def read(self, size: int | None = -1) -> bytes:
        if self._stop is not None:
            self._stop.check()  # between chunks: an upload ends soon after the transfer failed elsewhere
        data = self._stream.read(-1 if size is None else size)
        self._advance(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _advance(self, n: int) -> None:
        self._pos += n
        if self._pos > self._high:
            self._on_bytes(self._pos - self._high)
            self._high = self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._stream.seek(pos, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos


def with_progress(stream: BinaryIO, on_bytes: Callable[[int], None], stop: StopSignal | None = None) -> BinaryIO:
    return cast(BinaryIO, ProgressReader(stream, on_bytes, stop))


class ReopeningReader(io.RawIOBase):
    """A one-shot stream made seekable: seeking elsewhere than the current position opens the source again.

    `first` is the stream already open (its owner closes it); `reopen()` opens the same content anew, as
    `ReadOnlyTarget.fetch` does. A retried upload seeks to 0 and reads the blob from a fresh source stream.
    """

    def __init__(self, first: BinaryIO, reopen: Callable[[], AbstractContextManager[BinaryIO]]) -> None:
        super().__init__()
        self._current = first
        self._reopen = reopen
        self._opened = contextlib.ExitStack()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._current.read(-1 if size is None else size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("ReopeningReader seeks from the start or the current position only")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        if pos == self._pos:
            return pos
        self._opened.close()
        self._opened = contextlib.ExitStack()
        self._current = self._opened.enter_context(self._reopen())
        self._pos = 0
        while self._pos < pos and (data := self._current.read(min(pos - self._pos, 1 << 20))):
            self._pos += len(data)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._opened.close()
        super().close()
