"""The files behind `LayoutTarget`: owned temporaries, atomic writes, write errors people can act on, stale sweeps.

Every temporary is named `.<final name>.<pid>.<nonce>.tmp` next to its final file and is flock-ed by its writer from
before its name is trusted until after it is renamed and unlinked, so whether a live process owns it is decidable: a
temporary whose lock can be taken has no live owner. A writer that finds its freshly created name swept (or replaced)
before it got the lock starts again with a new name; a sweeper unlinks only while it holds the lock. Temporaries of
earlier versions (`.<hex>.<random>`, `.index.json.<random>`, `.mount.<hex>.<pid>`, the `.index.lock` file) carry no
lock; they are removed when their pid is gone or they have not changed for `LEGACY_GRACE` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ...errors import TargetError

__all__ = [
    "LAYOUT_KIND",
    "LEGACY_GRACE",
    "NO_LINK",
    "atomic_write",
    "read_bounded",
    "write_error",
    "sweep",
    "locked",
    "disk_errors",
]

LAYOUT_KIND = "oci-layout:DIR"  # the target that write errors suggest publishing to instead, by default
LEGACY_GRACE = 600.0  # seconds without change after which an unlocked temporary of an earlier version is stale
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<nonce>[0-9a-f]{16})\.tmp$")
_LEGACY = re.compile(r"^\.(?:mount\.[0-9a-f]{64}\.(?P<pid>\d+)|(?:[0-9a-f]{64}|index\.json|oci-layout)\.[a-z0-9_]{8})$")
_LEGACY_LOCK = ".index.lock"
_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})  # link(2) cannot


def write_error(e: OSError, path: Path, root: Path, *, kind: str = LAYOUT_KIND) -> TargetError | None:
    """A `TargetError` naming `path` and what to do for a full disk, a read-only file system or missing permission;
    None for any other error (which is then raised as it is). `kind` is the target to suggest instead."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device" if e.errno == errno.ENOSPC else "the disk quota is exceeded"
        return TargetError(
            f"cannot write {path}: {what}",
            hint=f"free space on the file system of {root} or publish to another {kind}; no partial file "
            "was kept, and publishing again continues where this run stopped",
        )
    if e.errno == errno.EROFS:
        return TargetError(
            f"cannot write {path}: the file system is read-only",
            hint=f"publish to another {kind} on a writable file system",
        )
    if e.errno in (errno.EACCES, errno.EPERM):
        return TargetError(
            f"cannot write {path}: permission denied",
            hint=f"make {root} writable for this user, or publish to another {kind}",
        )
    return None


@contextlib.contextmanager
def disk_errors(path: Path, root: Path, *, kind: str = LAYOUT_KIND) -> Iterator[None]:
    """Turn a full disk, a read-only file system or a permission error while writing `path` into a `TargetError`."""
    try:
        yield
    except OSError as e:
        if e.errno not in _REFUSED:
            raise
        error = write_error(e, path, root, kind=kind)
        assert error is not None
        raise error from e


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temporary file next to `path`, locked by this process; unlinked on exit whatever happened (after a
    rename it is gone already; after renaming a hard link over itself it would stay)."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass  # a sweeper took the name before the lock: start again
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(fd)
    f = os.fdopen(fd, "wb")
    try:
        yield f, tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        with contextlib.suppress(OSError):
            f.close()  # a failed flush of what is left in the buffer must not hide the first error
        raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    f.close()


def atomic_write(
    path: Path, root: Path, write: Callable[[BinaryIO], object], *, replace: bool = True, kind: str = LAYOUT_KIND
) -> None:
    """Write through an owned temporary next to `path`, fsync, then rename it over `path` (all or nothing).

    With `replace=False` an existing `path` is kept (hard-linked into place: nothing replaces it). A full disk, a
    read-only file system or missing permission raises a `TargetError` naming `path` (and suggesting another `kind`
    of target); no temporary is left.
    """
    with disk_errors(path, root, kind=kind), _temporary(path) as (f, tmp):
        write(f)
        f.flush()
        os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_unless_present(tmp, path)


def _link_unless_present(tmp: Path, path: Path) -> None:
    """Put `tmp` in place as `path` unless `path` exists (a rename where the file system has no hard links)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError as e:
        if e.errno not in NO_LINK:
            raise
        if not path.exists():
            os.replace(tmp, path)


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a file of at most `limit` bytes; ValueError (with the size) when it is larger."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise ValueError(f"it has {size} bytes, more than the {limit >> 20} MiB allowed")
        data = f.read(min(size, limit) + 1)  # never a buffer of `limit` bytes for a small file
    if len(data) > limit:
        raise ValueError(f"it has more than the {limit >> 20} MiB allowed")
    return data


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on an existing file of the layout (never a separate lock file that could remain)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def sweep(repo: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporaries in a layout directory that no live process owns; returns what was removed."""
    directories = [repo]
    blobs = repo / "blobs"
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        directories += sorted(p for p in blobs.iterdir() if p.is_dir() and not p.is_symlink())
    removed: list[Path] = []
    for directory in directories:
        try:
            names = sorted(
                e.name for e in os.scandir(directory) if e.name.startswith(".") and e.is_file(follow_symlinks=False)
            )
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = directory / name
            if _stale(path, name, directory == repo, time.time() if now is None else now) and _unlink_unlocked(path):
                removed.append(path)
    return removed


def _stale(path: Path, name: str, top: bool, now: float) -> bool:
    """Whether `path` is a temporary (or the old lock file) that may be removed once its lock can be taken."""
    if _TEMP.match(name) or (top and name == _LEGACY_LOCK):
        return True  # owned temporaries are decided by their lock alone
    legacy = _LEGACY.match(name)
    if legacy is None:
        return False  # not ours
    pid = legacy.group("pid")
    if pid is not None and not _alive(int(pid)):
        return True
    try:
        return now - path.lstat().st_mtime > LEGACY_GRACE
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_unlocked(path: Path) -> bool:
    """Unlink `path` while holding its lock; False when a live process holds it (or it went away)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        return False
    except OSError as e:
        if e.errno == errno.ELOOP:
            return False
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner is alive
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False
        if not same:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)
