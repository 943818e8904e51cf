"""The files behind `download`: what is already in the directory, owned temporaries, placing them, write errors.

A temporary is `.NAME.<16 hex>.part` beside its file, created exclusively (never following a link) and removed on
every way out; after a rename it is gone already. Titles never start with a dot, so no file of a flavor can take a
temporary's name. A full disk, a read-only file system or missing permission while writing becomes a `TargetError`
naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import TargetError
from .layout.files import NO_LINK
from .model import Descriptor

__all__ = ["SAME", "A_DIRECTORY", "inspect", "temporary", "place", "disk_errors", "sync_directory"]

SAME = ""  # what `inspect` says of a file that has the layer's content
A_DIRECTORY = "is a directory"  # in the way even when overwriting: a rename cannot replace it
_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def inspect(path: Path, layer: Descriptor) -> str | None:
    """What is at `path`: None (nothing), `SAME` (the layer's size and digest, re-hashed streaming), otherwise why
    it is in the way. Only a regular file is opened (never a FIFO or device, never through a link)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return A_DIRECTORY
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_size != layer.size:
        return f"has {st.st_size} bytes, not {layer.size}"
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        found = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    return SAME if found == layer.digest else f"has other content ({found})"


@contextlib.contextmanager
def temporary(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new, empty file `.NAME.<random>.part` beside `path`, open for writing; removed on the way out."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
        try:
            with disk_errors(path.parent):
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    out = os.fdopen(fd, "wb")
    try:
        yield out, tmp
    finally:
        with contextlib.suppress(OSError):
            out.close()  # after a failure, a failed flush of the rest must not hide the first error
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def place(tmp: Path, path: Path, *, replace: bool) -> bool:
    """Put `tmp` in place as `path`, replacing what is there; with `replace=False` never replacing a file that
    appeared meanwhile (then False)."""
    if replace:
        os.replace(tmp, path)
        return True
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in NO_LINK:
            raise
        if path.exists():
            return False
        os.replace(tmp, path)  # a file system without hard links
    return True


def sync_directory(directory: Path) -> None:
    """Make the renames in `directory` durable (where the file system can sync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def disk_errors(directory: Path) -> Iterator[None]:
    """A full disk, a read-only file system or missing permission while writing into `directory` as a
    `TargetError` naming the path and what to do; other errors pass as they are."""
    try:
        yield
    except OSError as e:
        if e.errno not in _REFUSED:
            raise
        what = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only"}.get(e.errno, "permission denied")
        raise TargetError(
            f"cannot write {e.filename or directory}: {what}",
            hint=f"free space on, or make writable, the file system of {directory}, or download into another "
            "directory; no partial file was kept, and a second run writes only what is missing",
        ) from e
