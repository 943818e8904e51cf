"""LayoutTarget: one OCI image layout directory per repository below a base directory.

`DIR/gardenlinux/` holds `oci-layout`, `index.json` and `blobs/sha256/<hex>`; a tag is an `index.json` entry with
`org.opencontainers.image.ref.name`, so `skopeo inspect oci:DIR/gardenlinux:1473.0` and `oras ... --oci-layout`
read it. Blobs are written to an owned temporary file, verified, and renamed; `index.json` is rewritten the same way
under an flock on the layout's own `oci-layout` file (no lock file remains), with entries sorted by tag, so a crash
never leaves a half-written index and the bytes are deterministic.

The first time this target touches a repository it checks `oci-layout` and `index.json` (bounded reads, an image
index of well-formed descriptors) and raises a `TargetError` naming the file, before anything is written there; a
writable target then removes the temporaries that no live process owns (see `_layout_files`). A full disk, a
read-only file system or missing permission raises a `TargetError` naming the path and leaves no partial file.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

from ...bounded import LIMITS, json_document
from ...errors import NotFound, TargetError
from ..model import DIGEST_RE, Descriptor, MediaType, canonical_json, parse_descriptor
from ..streams import copy_verified
from .files import NO_LINK, atomic_write, disk_errors, locked, read_bounded, sweep, write_error

__all__ = ["LayoutTarget", "REF_NAME", "MAX_INDEX_BYTES"]

REF_NAME = "org.opencontainers.image.ref.name"
MAX_INDEX_BYTES = 64 << 20  # an index.json larger than this is refused rather than read
_MAX_MANIFEST = 4 << 20
_MAX_LAYOUT_FILE = 64 << 10
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
_EMPTY_INDEX: dict[str, Any] = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}


class LayoutTarget:
    """A `Target` and `Mounter` over a directory of OCI image layouts; `read_only` refuses writes."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root
        self.read_only = read_only
        self._opened: set[str] = set()
        self._opening = threading.Lock()
        self._indexes: dict[Path, tuple[tuple[int, ...], dict[str, Any]]] = {}  # validated, by file identity

    @property
    def name(self) -> str:
        return f"oci-layout:{self.root}"

    def _path(self, repository: str) -> Path:
        if not repository or repository.startswith("/") or ".." in repository.split("/"):
            raise TargetError(f"invalid repository name {repository!r}")
        return self.root / repository

    def _open(self, repository: str) -> Path:
        """The layout directory of a repository, checked (and swept, when writable) the first time it is touched."""
        repo = self._path(repository)
        if repository in self._opened:
            return repo
        with self._opening:
            if repository not in self._opened:
                if repo.is_dir():
                    _check_layout_file(repo / "oci-layout")
                    _read_index(repo / "index.json")
                    if not self.read_only:
                        sweep(repo)
                self._opened.add(repository)
        return repo

    def _blob(self, repository: str, digest: str) -> Path:
        if not DIGEST_RE.match(digest):
            raise TargetError(f"{self.name}/{repository}: invalid digest {digest!r}", reference=digest)
        algorithm, hex_ = digest.split(":", 1)
        return self._open(repository) / "blobs" / algorithm / hex_

    def _index(self, repository: str) -> dict[str, Any]:
        """The validated index of a repository; parsed again only when the file changed (a rename is a new inode)."""
        path = self._open(repository) / "index.json"
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return _read_index(path)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._indexes.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        index = _read_index(path)
        self._indexes[path] = (key, index)  # a file replaced since the stat is parsed again on the next call
        return index

    # -- ReadOnlyTarget
    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        try:
            return self._blob(repository, descriptor.digest).stat().st_size == descriptor.size
        except (FileNotFoundError, NotADirectoryError):
            return False

    @contextlib.contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        path = self._blob(repository, descriptor.digest)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError) as e:
            raise NotFound(
                f"{self.name}/{repository}@{descriptor.digest} not found", reference=f"{repository}@{descriptor.digest}"
            ) from e
        with f:
            yield f

    def resolve(self, repository: str, reference: str) -> Descriptor:
        if reference.startswith("sha256:"):
            path = self._blob(repository, reference)
            try:
                data = read_bounded(path, _MAX_MANIFEST)
                media_type = json_document(data, what="manifest", where=f"{self.name}/{repository}@{reference}",
                                           limit=LIMITS.manifest).get("mediaType", MediaType.OCI_MANIFEST)
            except (FileNotFoundError, NotADirectoryError) as e:
                raise NotFound(f"{self.name}/{repository}@{reference} not found", reference=reference) from e
            except (ValueError, AttributeError) as e:
                raise TargetError(f"{path}: not a manifest: {e}", reference=reference) from e
            return Descriptor(media_type=str(media_type), digest=reference, size=len(data))
        for entry in self._index(repository)["manifests"]:
            if (entry.get("annotations") or {}).get(REF_NAME) == reference:
                return parse_descriptor(entry).bare()
        raise NotFound(f"{self.name}/{repository}:{reference} not found", reference=f"{repository}:{reference}")

    def tags(self, repository: str) -> list[str]:
        names = ((e.get("annotations") or {}).get(REF_NAME) for e in self._index(repository)["manifests"])
        return sorted(n for n in names if n)

    def repositories(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(str(p.parent.relative_to(self.root)) for p in self.root.rglob("oci-layout"))

    # -- Target
    def _writable(self, repository: str) -> Path:
        if self.read_only:
            raise TargetError(f"{self.name} is read-only")
        repo = self._open(repository)
        blobs = repo / "blobs" / "sha256"
        with disk_errors(blobs, self.root):
            blobs.mkdir(parents=True, exist_ok=True)
        marker = repo / "oci-layout"
        if not marker.exists():  # linked into place, never replaced: its inode is the index lock
            atomic_write(marker, self.root, lambda f: f.write(_LAYOUT), replace=False)
        return repo

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        self._writable(repository)
        what = f"{repository}@{descriptor.digest}"
        atomic_write(
            self._blob(repository, descriptor.digest),
            self.root,
            lambda f: copy_verified(content, f, descriptor.digest, descriptor.size, what),
        )

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        """Write the `index.json` entry of `tag` (storing the manifest from `data` first when it is absent)."""
        repo = self._writable(repository)
        if data is not None and not self.exists(repository, descriptor):
            self.push(repository, descriptor, io.BytesIO(data))
        if not self.exists(repository, descriptor):
            raise NotFound(f"cannot tag {self.name}/{repository}:{tag}: {descriptor.digest} is not stored")
        path = repo / "index.json"
        with disk_errors(repo / "oci-layout", self.root), locked(repo / "oci-layout"):
            index = _read_index(path)
            entries = [e for e in index["manifests"] if (e.get("annotations") or {}).get(REF_NAME) != tag]
            entries.append(descriptor.bare().with_annotations({REF_NAME: tag}).to_dict())
            entries.sort(key=lambda e: ((e.get("annotations") or {}).get(REF_NAME, ""), e["digest"]))
            new = canonical_json({**index, "manifests": entries})
            try:
                unchanged = path.read_bytes() == new
            except FileNotFoundError:
                unchanged = False
            if not unchanged:
                atomic_write(path, self.root, lambda f: f.write(new))

    # -- Mounter
    def mount(
        self,
        repository: str,
        descriptor: Descriptor,
        from_repository: str,
        content: Callable[[], AbstractContextManager[BinaryIO]] | None = None,
    ) -> bool:
        """Hard-link the blob from another layout of the same base (a verified copy where links are impossible).

        `content` is never needed: a blob that `from_repository` lacks is for the caller to push.
        """
        src = self._blob(from_repository, descriptor.digest)
        if not self.exists(from_repository, descriptor):
            return False
        self._writable(repository)
        dst = self._blob(repository, descriptor.digest)
        try:
            os.link(src, dst)  # atomic and never replaces: no temporary needed
            return True
        except FileExistsError:
            if self.exists(repository, descriptor):
                return True  # a concurrent publisher linked it first
        except OSError as e:
            if e.errno not in NO_LINK:
                error = write_error(e, dst, self.root)
                if error is None:
                    raise
                raise error from e
        with src.open("rb") as f:  # another file system, no hard links, or a damaged file in the way
            atomic_write(
                dst, self.root, lambda out: copy_verified(f, out, descriptor.digest, descriptor.size, str(dst))
            )
        return True


def _check_layout_file(path: Path) -> None:
    """A present `oci-layout` must be a JSON object with an `imageLayoutVersion` string (a missing one is written)."""
    try:
        data = read_bounded(path, _MAX_LAYOUT_FILE)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise _corrupt(path, f"unreadable: {e}") from e
    try:
        value = json_document(data, what="oci-layout file", where=str(path), limit=LIMITS.error)
    except ValueError as e:
        raise _corrupt(path, f"not valid JSON ({e})") from e
    if not isinstance(value, dict) or not isinstance(value.get("imageLayoutVersion"), str):
        raise _corrupt(path, 'not an OCI layout marker (expected {"imageLayoutVersion": "1.0.0"})')


def _read_index(path: Path) -> dict[str, Any]:
    """The validated `index.json` of a layout (an empty index when there is none); bounded to MAX_INDEX_BYTES."""
    try:
        data = read_bounded(path, MAX_INDEX_BYTES)
    except FileNotFoundError:
        return dict(_EMPTY_INDEX, manifests=[])
    except (OSError, ValueError) as e:
        raise _corrupt(path, f"unreadable: {e}") from e
    try:
        index = json_document(data, what="index.json", where=str(path), limit=LIMITS.index)
    except ValueError as e:
        raise _corrupt(path, f"not valid JSON ({e})") from e
    if not isinstance(index, dict):
        raise _corrupt(path, f"not an OCI image index: a JSON {type(index).__name__}, not an object")
    if index.get("schemaVersion") != 2:
        raise _corrupt(path, f"not an OCI image index: schemaVersion is {index.get('schemaVersion')!r}, not 2")
    if index.get("mediaType", MediaType.OCI_INDEX) != MediaType.OCI_INDEX:
        raise _corrupt(path, f"not an OCI image index: mediaType is {index.get('mediaType')!r}")
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise _corrupt(path, "not an OCI image index: 'manifests' is not a list")
    for position, entry in enumerate(manifests):
        problem = _entry_problem(entry)
        if problem:
            raise _corrupt(path, f"manifests[{position}]: {problem}")
    return index


def _entry_problem(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return "not a descriptor object"
    annotations = entry.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        return "annotations must map names to strings"
    if "platform" in entry and not isinstance(entry["platform"], dict):
        return "platform is not an object"
    try:
        parse_descriptor(entry)
    except ValueError as e:
        return str(e)
    if not isinstance(entry.get("mediaType"), str) or not entry["mediaType"]:
        return "descriptor has no mediaType"
    return None


def _corrupt(path: Path, problem: str) -> TargetError:
    return TargetError(
        f"{path}: {problem}",
        hint=f"nothing was written; repair or restore {path.name} (or move {path.parent} aside to publish afresh)",
    )
