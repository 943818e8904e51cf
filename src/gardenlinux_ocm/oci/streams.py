"""Bounded, seekable readers and a hashing writer: the pieces that keep memory flat for any artefact size."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..errors import DigestMismatch

__all__ = ["RangeReader", "ProgressReader", "copy_verified", "with_progress"]


class RangeReader(io.RawIOBase):
    """`size` bytes of a file from `offset`, as a seekable stream (seek(0) restarts, for upload retries)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._f = path.open("rb")
        self._offset, self._size, self._pos = offset, size, 0
        self._f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # RawIOBase's Buffer
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

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

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        super().__init__()
        self._stream = stream
        self._on_bytes = on_bytes
        self._pos = 0
        self._high = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def read(self, size: int | None = -1) -> bytes:
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


def with_progress(stream: BinaryIO, on_bytes: Callable[[int], None]) -> BinaryIO:
    return cast(BinaryIO, ProgressReader(stream, on_bytes))
