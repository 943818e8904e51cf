"""A cache of what the inventory measured, so that publishing unchanged build files again reads none of them (I/O).

The inventory hashes every file and checks every OCI archive blob by blob before anything is written; for a release
of disk images that is minutes of reading. A `DigestCache` remembers, per file, the facts that pass produced (its
SHA-256, the images a checked archive holds, the parsed package list), keyed by the file's absolute path and its
`stat`: device, inode, size, mtime and ctime (in ns). A second scan that finds the same key takes the facts without
opening the file; any difference in the key, and the file is read again.

Why ctime as well: mtime is set by whoever writes the file (`touch -d`, `tar x`, `cp -p`, rsync, a build that pins
every mtime to SOURCE_DATE_EPOCH), and fixed-size disk images keep their size, while a freed inode number is soon
given to the next new file. ctime cannot be set back: every write, `utime`, `chmod` or rename sets it to the current
time. A file whose ctime is not comfortably in the past when the scan begins is not remembered at all (`settle_ns`),
so a write in the same clock tick as the `stat` cannot hide behind an unchanged key.

One shard file per artefact directory (`digests/<hash of its path>.json` below the cache directory), written to a
temporary file and renamed, under an exclusive lock, merged with what other processes saved meanwhile (eight CI jobs
publishing flavors of one build directory lose nothing). A shard that is unreadable, of another format or of another
directory is ignored and rewritten. Saving keeps only the entries whose file still exists with the same key, and
removes the shards of directories not published from for `_EXPIRE_DAYS`. The cache is an optimisation: if it cannot
be read or written, the files are hashed as without it, and a failed save is logged, not raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DigestCache", "Digests", "FORMAT"]

FORMAT = "gardenlinux-ocm/digest-cache/v1"
_KEY = ("dev", "ino", "size", "mtime_ns", "ctime_ns")
_SETTLE_NS = 2_000_000_000  # coarse file-system clocks (FAT: 2 s) and a clock tick of margin
_EXPIRE_DAYS = 30
_MAX_SHARD = 64 << 20  # a real shard holds a few hundred entries, well under 1 MiB
_log = logging.getLogger(__name__)


def _key(st: os.stat_result) -> dict[str, int]:
    return {
        "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns
    }


def _matches(entry: dict[str, Any], st: os.stat_result) -> bool:
    return all(entry.get(k) == v for k, v in _key(st).items())


def _same_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in _KEY)


class DigestCache:
    """Where digests are cached (the CLI picks it); `load` reads the entries of one artefact directory."""

    def __init__(self, directory: Path, *, settle_ns: int = _SETTLE_NS) -> None:
        self.directory = directory
        self._settle_ns = settle_ns

    def load(self, artefacts: Path) -> Digests:
        """The cached facts of the files below `artefacts` (none if the shard is missing, corrupt or foreign)."""
        root = os.path.abspath(artefacts)
        shard = self.directory / "digests" / f"{hashlib.sha256(root.encode()).hexdigest()[:32]}.json"
        since = time.time_ns() - self._settle_ns
        return Digests(shard=shard, root=root, entries=_read(shard, root), settled_before=since)


class Digests:
    """The cached facts of one artefact directory: `lookup` before reading a file, `store` after, `save` at the end.

    `hits` and `misses` count the lookups (what a second scan skipped)."""

    def __init__(self, *, shard: Path, root: str, entries: dict[str, Any], settled_before: int) -> None:
        self._shard, self._root, self._entries = shard, root, entries
        self._settled_before = settled_before
        self._new: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # the scan measures files in parallel
        self.hits = 0
        self.misses = 0

    def lookup(self, path: Path, st: os.stat_result, fact: str) -> Any:
        """The fact cached for the file at `path` if its `stat` is still `st`, else None."""
        entry = self._new.get(name := os.path.abspath(path)) or self._entries.get(name)
        value = entry.get("facts", {}).get(fact) if isinstance(entry, dict) and _matches(entry, st) else None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def store(self, path: Path, st: os.stat_result, fact: str, value: Any) -> None:
        """Remember a fact of the file that `st` (from `fstat` of the descriptor that was read) describes.

        A file changed too recently to trust its timestamps is not remembered."""
        if max(st.st_mtime_ns, st.st_ctime_ns) >= self._settled_before:
            return
        name = os.path.abspath(path)
        with self._lock:
            entry = self._new.get(name)
            if entry is None or not _matches(entry, st):
                old = self._entries.get(name)
                facts = dict(old["facts"]) if isinstance(old, dict) and _matches(old, st) else {}
                entry = self._new[name] = {**_key(st), "facts": facts}
            entry["facts"][fact] = value

    def save(self) -> None:
        """Merge the new entries into the shard on disk; never raises (a failure is logged, the cache skipped)."""
        try:
            if self._new:
                self._save()
            elif self._shard.exists():
                os.utime(self._shard)  # in use: not expired
        except OSError as e:
            _log.warning("the digest cache %s was not saved: %s", self._shard, e.strerror or e)

    def _save(self) -> None:
        folder = self._shard.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(folder / ".lock"):
            merged = _read(self._shard, self._root)
            for name, entry in self._new.items():  # the same file, measured by another process too: both facts
                other = merged.get(name)
                if isinstance(other, dict) and isinstance(other.get("facts"), dict) and _same_key(other, entry):
                    entry = {**entry, "facts": {**other["facts"], **entry["facts"]}}
                merged[name] = entry
            kept = {name: entry for name, entry in sorted(merged.items()) if _current(name, entry)}
            doc = {"format": FORMAT, "directory": self._root, "entries": kept}
            _write(self._shard, json.dumps(doc, separators=(",", ":")).encode())
            _expire(folder, self._shard)
        self._entries, self._new = kept, {}


def _read(shard: Path, root: str) -> dict[str, Any]:
    """The entries of a shard; {} when it is missing, too large, not JSON, of another format or another directory."""
    try:
        with shard.open("rb") as f:
            doc = json.loads(f.read()) if os.fstat(f.fileno()).st_size <= _MAX_SHARD else None
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("directory") != root:
        return {}
    entries = doc.get("entries")
    return entries if isinstance(entries, dict) else {}


def _current(name: str, entry: Any) -> bool:
    """Whether an entry can still hit: its file exists with the same key (else it is dropped when saving)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("facts"), dict):
        return False
    try:
        return _matches(entry, os.stat(name))
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between the processes saving to one cache directory."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(path: Path, data: bytes) -> None:
    """Replace `path` atomically: readers see the old shard or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _expire(folder: Path, keep: Path) -> None:
    """Remove the shards (and leftover temporary files) not written or used for `_EXPIRE_DAYS`."""
    limit = time.time() - _EXPIRE_DAYS * 86400
    for entry in os.scandir(folder):
        if entry.path != str(keep) and entry.name.endswith((".json", ".tmp")):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < limit:
                    os.unlink(entry.path)
