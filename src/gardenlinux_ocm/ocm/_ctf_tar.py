"""The tar forms of a CTF: packed deterministically as OCM Go packs them, and unpacked safely to seed a new version.

OCM Go 0.20 writes POSIX USTAR members (magic `ustar\\0`, version `00`, device numbers `0000000\\0`) in this order:
`artifact-index.json`, the `blobs` directory (no trailing slash), then the blobs sorted by name; uid and gid 0, no
user or group names, modes 0644 for files and 0755 for the directory, mtime 2022-01-01T00:00:00Z; two zero blocks end
the archive, which is not padded to a 10 KiB record. A member whose name or size does not fit USTAR gets a PAX header,
as Go's archive/tar gives it. The gzipped form has mtime 0 and no file name in its header. Content is streamed in
bounded chunks both ways.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import TargetError
from ..oci.layout.files import disk_errors
from ._ctf_index import BLOBS_DIR, INDEX_FILE, ArtifactIndex

__all__ = ["MTIME", "CTF_KIND", "pack", "unpack", "tar_header", "tar_padding"]

MTIME = 1640995200  # 2022-01-01T00:00:00Z, the fixed time of every member
CTF_KIND = "ctf:PATH"  # what write errors suggest publishing to instead
_BLOCK = 512
_CHUNK = 1 << 20
_USTAR_SIZE = 8**11  # sizes from here on need a PAX header
_BLOB_NAME = re.compile(r"^[a-z0-9]+\.[a-zA-Z0-9=_-]+$")  # <algorithm>.<encoded digest>
_GZIP_LEVEL = 6  # Go's default level (the header's XFL byte is then 0, as in OCM Go's archives)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def pack(directory: Path, out: BinaryIO, *, gzipped: bool) -> None:
    """Write the CTF in `directory` (its index and `blobs/`, temporaries left out) as a tar to `out`."""
    if not gzipped:
        _pack(directory, out)
        return
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=_GZIP_LEVEL) as z:
        _pack(directory, z)


def _pack(directory: Path, out: _Sink) -> None:
    index = directory / INDEX_FILE
    if index.is_file():
        _member(out, index, INDEX_FILE)
    else:  # blobs but never a tag: the empty index, as OCM Go writes it
        data = ArtifactIndex().to_bytes()
        out.write(_header(INDEX_FILE, len(data), directory=False) + data + _padding(len(data)))
    out.write(_header(BLOBS_DIR, 0, directory=True))
    blobs = directory / BLOBS_DIR
    names = sorted(e.name for e in os.scandir(blobs) if _BLOB_NAME.match(e.name)) if blobs.is_dir() else []
    for name in names:
        _member(out, blobs / name, f"{BLOBS_DIR}/{name}")
    out.write(bytes(2 * _BLOCK))


def _member(out: _Sink, path: Path, name: str) -> None:
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        out.write(_header(name, size, directory=False))
        left = size
        while left and (data := f.read(min(left, _CHUNK))):
            out.write(data)
            left -= len(data)
    if left:
        raise TargetError(f"{path} shrank while it was packed ({size - left} of {size} bytes read)",
                          hint="publish again; nothing else may write into the CTF meanwhile")
    out.write(_padding(size))


def _padding(size: int) -> bytes:
    return bytes(-size % _BLOCK)


def tar_header(name: str, size: int, *, directory: bool) -> bytes:
    """The header block(s) of one member, as OCM Go writes them (for other archives of OCM's, such as artifact
    sets)."""
    return _header(name, size, directory=directory)


def tar_padding(size: int) -> bytes:
    """The zero bytes that end a member of `size` bytes on a block boundary."""
    return _padding(size)


def _header(name: str, size: int, *, directory: bool) -> bytes:
    """The header block(s) of a member: plain USTAR, or PAX (through `tarfile`) for a long name or a large size."""
    mode = 0o755 if directory else 0o644
    raw = name.encode()
    if len(raw) <= 100 and size < _USTAR_SIZE:
        return _ustar(raw, size, mode, b"5" if directory else b"0")
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uname, info.gname = size, mode, MTIME, "", ""
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _ustar(name: bytes, size: int, mode: int, typeflag: bytes) -> bytes:
    header = b"".join([
        name.ljust(100, b"\0"), _octal(mode, 8), _octal(0, 8), _octal(0, 8), _octal(size, 12), _octal(MTIME, 12),
        b" " * 8, typeflag, bytes(100), b"ustar\0", b"00", bytes(32), bytes(32), _octal(0, 8), _octal(0, 8),
        bytes(155 + 12),
    ])
    return header[:148] + f"{sum(header):06o}\0 ".encode() + header[156:]


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def unpack(archive: Path, directory: Path) -> None:
    """Extract an existing CTF tar (plain or gzipped) into `directory`, streaming; refuses links, devices, absolute
    names, `..` and whatever else is no CTF member, with a `TargetError` naming the archive and the member. A
    gzipped archive is read to its end, so that a damaged deflate stream fails its CRC check even where the tar
    inside ends before the damage shows."""
    try:
        with archive.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else contextlib.nullcontext(raw) as stream:
                _extract(archive, stream, directory)
                while gzipped and stream.read(_CHUNK):
                    pass  # to the trailer: its CRC and length are checked there
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise TargetError(
            f"{archive}: cannot read the existing archive: {e}",
            hint=f"repair or move {archive} aside, or publish to another ctf:PATH; nothing was written",
        ) from e


def _extract(archive: Path, stream: io.BufferedIOBase, directory: Path) -> None:
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = _checked_name(archive, member)
            if name is None:
                continue
            path = directory / name
            source = tar.extractfile(member)
            assert source is not None  # a regular file, checked above
            with disk_errors(path, directory, kind=CTF_KIND):
                path.parent.mkdir(exist_ok=True)
                with path.open("wb") as f:
                    shutil.copyfileobj(source, f, _CHUNK)


def _checked_name(archive: Path, member: tarfile.TarInfo) -> str | None:
    """The member's name inside the CTF; None for a directory entry (`.`, `blobs`), which is made as needed."""
    raw = member.name
    name = raw.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    problem = None
    if raw.startswith("/"):
        problem = "has an absolute name"
    elif ".." in name.split("/"):
        problem = "leaves the archive (`..`)"
    elif member.isdir():
        if name in ("", ".", BLOBS_DIR):
            return None
        problem = "is a directory that a CTF does not have"
    elif not member.isfile():
        problem = f"is a {_kind(member)}, which a CTF never holds"
    elif name != INDEX_FILE and not (name.startswith(f"{BLOBS_DIR}/") and _BLOB_NAME.match(name[len(BLOBS_DIR) + 1:])):
        problem = f"is not part of a CTF ({INDEX_FILE} and {BLOBS_DIR}/<algorithm>.<hex> are)"
    if problem is None:
        return name
    raise TargetError(
        f"{archive}: member {raw!r} {problem}; refusing to extract it",
        hint=f"{archive} is no CTF that gl-ocm can add to: move it aside or publish to another ctf:PATH",
    )


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device"
    return "FIFO" if member.isfifo() else "special member"
