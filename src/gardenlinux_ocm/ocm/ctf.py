"""CtfTarget: a writable OCM Common Transport Format, a directory, a `.tar` or a `.tar.gz`/`.tgz`, as OCM Go writes it.

A CTF is `artifact-index.json` (which tag of which repository points at which manifest) and one blob store,
`blobs/sha256.<hex>`, shared by all repositories: a blob or manifest is present in every repository once it is stored.
The form follows the path: a name ending in `.tar` is a plain tar, one ending in `.tar.gz` or `.tgz` a gzipped tar,
anything else a directory.

- Directory: written in place. Blobs are verified while they pass and renamed into place; the index is rewritten
  atomically under an flock, only when its bytes change (`_ctf_store`).
- tar / tgz: written into a hidden working directory beside the archive (seeded from the existing archive, members
  checked), and packed deterministically over the archive by `close()` (`_ctf_tar`), only when something was
  written or a tag changed. Use the target as a context manager: an exception leaves the archive as it was.

The index is checked the first time the target is used, before anything is written: a corrupt one is a
`TargetError` naming the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import NotFound, TargetError
from ..oci.layout.files import atomic_write, disk_errors
from ..oci.model import TAG_RE, Descriptor
from ._ctf_index import INDEX_FILE
from ._ctf_store import CtfStore
from ._ctf_tar import CTF_KIND, pack, unpack

__all__ = ["CtfForm", "CtfTarget"]


class CtfForm(StrEnum):
    """How a CTF is stored, chosen by its path's name."""

    DIRECTORY = "directory"
    TAR = "tar"
    TGZ = "tgz"

    @classmethod
    def of(cls, path: Path) -> CtfForm:
        name = path.name.lower()
        if name.endswith(".tar"):
            return cls.TAR
        if name.endswith((".tar.gz", ".tgz")):
            return cls.TGZ
        return cls.DIRECTORY


class CtfTarget:
    """A `Target` (and `oci.sizes.Sizer`) that writes a CTF; close it (or use `with`) to finish a tar form."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._given = os.fspath(path)
        self.path = Path(path)
        self.form = CtfForm.of(self.path)
        self._lock = threading.Lock()
        self._store: CtfStore | None = None
        self._cleanup: weakref.finalize[[str], CtfTarget] | None = None  # removes a tar form's working directory
        self._changed = False
        self._closed = False

    @property
    def name(self) -> str:
        return f"ctf:{self._given}"

    # -- opening, closing
    def _open(self) -> CtfStore:
        if self._closed:
            raise TargetError(f"{self.name} is closed", hint="open a new CtfTarget to read or write it again")
        store = self._store
        if store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open_directory() if self.form is CtfForm.DIRECTORY else self._open_archive()
                store = self._store
        return store

    def _open_directory(self) -> CtfStore:
        store = CtfStore(self.path, where=str(self.path), index_name=str(self.path / INDEX_FILE))
        store.check()
        return store

    def _open_archive(self) -> CtfStore:
        if self.path.is_dir():
            raise TargetError(
                f"{self.path} is a directory, not a {self.form.value} archive",
                hint="name the directory without .tar/.tar.gz/.tgz to write into it, or give another archive path",
            )
        parent = self.path.parent
        with disk_errors(parent, parent, kind=CTF_KIND):
            parent.mkdir(parents=True, exist_ok=True)
            work = tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        self._cleanup = weakref.finalize(self, _remove_tree, work)  # also if the target is never closed
        try:
            if self.path.exists():
                unpack(self.path, Path(work))
            store = CtfStore(Path(work), where=str(self.path), index_name=f"{self.path}: {INDEX_FILE}")
            store.check()
        except BaseException:
            self._cleanup()
            raise
        return store

    def close(self) -> None:
        """Finish the target: a tar form packs what was written over the archive (atomically), if anything was,
        then removes its working directory. A directory needs no finishing. Closing twice does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._store is not None and self._changed and self.form is not CtfForm.DIRECTORY:
                work = self._store.root
                atomic_write(
                    self.path,
                    self.path.parent,
                    lambda f: pack(work, f, gzipped=self.form is CtfForm.TGZ),
                    kind=CTF_KIND,
                )
        finally:
            self._discard()

    def _discard(self) -> None:
        self._closed = True
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> CtfTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close on success; after an exception, drop what was written and leave an archive as it was."""
        if exc_type is None:
            self.close()
        else:
            self._discard()

    # -- ReadOnlyTarget
    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        return self.size(repository, descriptor) == descriptor.size

    def size(self, repository: str, descriptor: Descriptor) -> int | None:
        """The stored size of the blob (`oci.sizes.Sizer`), from a stat; None when it is absent."""
        self._repository(repository)
        return self._open().size(descriptor.digest)

    @contextlib.contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        self._repository(repository)
        with self._open().open(descriptor.digest, f"{self.name}/{repository}@{descriptor.digest}") as f:
            yield f

    def resolve(self, repository: str, reference: str) -> Descriptor:
        self._repository(repository)
        store = self._open()
        digest = reference if reference.startswith("sha256:") else store.index().lookup(repository, reference)
        if digest is None:
            what = f"{repository}:{reference}"
            raise NotFound(f"{self.name}/{what} not found", reference=what)
        return store.manifest(digest, f"{self.name}/{repository}@{digest}")

    def tags(self, repository: str) -> list[str]:
        self._repository(repository)
        return self._open().index().tags(repository)

    def repositories(self) -> list[str]:
        return self._open().index().repositories()

    # -- Target
    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        self._repository(repository)
        self._open().push(descriptor, content, f"{self.name}/{repository}@{descriptor.digest}")
        self._changed = True

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        self._repository(repository)
        if not TAG_RE.match(tag):
            raise TargetError(
                f"cannot tag {self.name}/{repository}:{tag}: not a valid OCI tag",
                hint="a tag is 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            )
        if data is not None and not self.exists(repository, descriptor):
            self.push(repository, descriptor, io.BytesIO(data))
        if not self.exists(repository, descriptor):
            raise NotFound(f"cannot tag {self.name}/{repository}:{tag}: {descriptor.digest} is not stored")
        if self._open().tag(repository, tag, descriptor.digest):
            self._changed = True

    def _repository(self, repository: str) -> None:
        if not repository or repository.startswith("/") or ".." in repository.split("/"):
            raise TargetError(
                f"{self.name}: invalid repository name {repository!r}",
                hint="a repository is a relative name such as gardenlinux or component-descriptors/NAME, "
                "without '..' or a leading '/'",
            )


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
