"""Opening build files safely: only regular files are read, and a FIFO or device is refused without blocking."""

from __future__ import annotations

import errno
import io
import os
import stat

__all__ = ["open_regular", "kind_of"]


def kind_of(mode: int) -> str:
    """What a file is, for messages: "a directory", "a FIFO", ..."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "a special file"


def open_regular(path: os.PathLike[str] | str) -> io.BufferedReader:
    """Open a regular file for reading. `O_NONBLOCK` keeps a FIFO put in its place from blocking the open; anything
    that is not a regular file raises `OSError` naming what it is."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is {kind_of(mode)}, not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
        return io.BufferedReader(io.FileIO(fd, "r"), buffer_size=1 << 20)
    except BaseException:
        os.close(fd)
        raise
