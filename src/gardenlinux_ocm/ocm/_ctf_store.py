"""A CTF directory as `CtfTarget` writes it: verified blob files and an index rewritten under its own lock.

Blobs go through an owned temporary in `blobs/` (see `oci._layout_files`), are checked for size and digest while the
bytes pass, fsync-ed and renamed into place. `artifact-index.json` is rewritten the same way, only when its bytes
change, while its writer holds an flock on the file it replaces (no lock file remains): a writer that gets the lock
on a file already replaced starts again on the new one, and the first index is linked into place only if there is
none yet, so concurrent publishers never lose each other's tags.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import NotFound, TargetError
from ..oci.layout.files import atomic_write, disk_errors, read_bounded, sweep
from ..oci.model import DIGEST_RE, Descriptor
from ..oci.streams import copy_verified
from ._ctf_index import BLOBS_DIR, INDEX_FILE, ArtifactIndex, blob_name, media_type_of
from ._ctf_tar import CTF_KIND

__all__ = ["CtfStore"]

_MAX_INDEX = 64 << 20  # an artifact-index.json larger than this is refused rather than read
_MAX_MANIFEST = 4 << 20


class CtfStore:
    """The blob store and index of one CTF directory; `where` and `index_name` are how messages name the CTF and its
    index (for an archive: the archive, not the working directory)."""

    def __init__(self, root: Path, *, where: str, index_name: str) -> None:
        self.root = root
        self.where = where
        self.index_name = index_name

    def check(self) -> None:
        """Refuse a corrupt index before anything is written, then sweep temporaries that no live process owns."""
        if self.root.exists() and not self.root.is_dir():
            raise TargetError(
                f"{self.where} is a file, not a CTF directory",
                hint="name a .tar, .tar.gz or .tgz path to write an archive, or another path for a directory",
            )
        self.index()
        if self.root.is_dir() and os.access(self.root, os.W_OK):
            sweep(self.root)
            sweep(self.root / BLOBS_DIR)

    def index(self) -> ArtifactIndex:
        """The validated index; empty when there is none yet."""
        data = self._read_index()
        return ArtifactIndex() if data is None else ArtifactIndex.from_json(data, self.index_name)

    def _read_index(self) -> bytes | None:
        """The bytes of the index (bounded); None when there is none."""
        try:
            return read_bounded(self.root / INDEX_FILE, _MAX_INDEX)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise TargetError(
                f"{self.index_name} is unreadable: {e}",
                hint=f"repair or restore {INDEX_FILE}, or publish to another ctf:PATH; nothing was written",
            ) from e

    def blob(self, digest: str) -> Path:
        if not DIGEST_RE.match(digest):
            raise TargetError(f"{self.where}: invalid digest {digest!r}", reference=digest,
                              hint="this target stores sha256 digests only")
        return self.root / blob_name(digest)

    def size(self, digest: str) -> int | None:
        try:
            return self.blob(digest).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    @contextlib.contextmanager
    def open(self, digest: str, what: str) -> Iterator[BinaryIO]:
        try:
            f = self.blob(digest).open("rb")
        except (FileNotFoundError, NotADirectoryError) as e:
            raise NotFound(f"{what} not found", reference=what) from e
        with f:
            yield f

    def manifest(self, digest: str, what: str) -> Descriptor:
        """The descriptor of a stored manifest (its media type read from its bytes)."""
        path = self.blob(digest)
        try:
            data = read_bounded(path, _MAX_MANIFEST)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise NotFound(f"{what} not found", reference=what) from e
        except ValueError as e:
            raise TargetError(f"{path}: not a manifest: {e}", reference=what) from e
        return Descriptor(media_type=media_type_of(data), digest=digest, size=len(data))

    def push(self, descriptor: Descriptor, content: BinaryIO, what: str) -> None:
        blobs = self.root / BLOBS_DIR
        with disk_errors(blobs, self.root, kind=CTF_KIND):
            blobs.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.blob(descriptor.digest),
            self.root,
            lambda f: copy_verified(content, f, descriptor.digest, descriptor.size, what),
            kind=CTF_KIND,
        )

    def tag(self, repository: str, tag: str, digest: str) -> bool:
        """Point `repository:tag` at `digest`; True when the index file changed."""
        path = self.root / INDEX_FILE
        with disk_errors(path, self.root, kind=CTF_KIND):
            while True:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                except FileNotFoundError:
                    new = ArtifactIndex().with_tag(repository, tag, digest).to_bytes()
                    atomic_write(path, self.root, _writer(new), replace=False, kind=CTF_KIND)
                    if self._read_index() == new:
                        return True
                    continue  # another publisher made the first index: add to it under its lock
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if not _still_at(fd, path):
                        continue  # replaced while this waited for the lock: lock the new file
                    old = self._read_index() or b""
                    new = ArtifactIndex.from_json(old, self.index_name).with_tag(repository, tag, digest).to_bytes()
                    if new == old:
                        return False
                    atomic_write(path, self.root, _writer(new), kind=CTF_KIND)
                    return True
                finally:
                    os.close(fd)  # releases the lock


def _writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda f: f.write(data)


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
