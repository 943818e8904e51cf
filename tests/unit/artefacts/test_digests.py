"""The digest cache: a second scan of unchanged files opens none of them; any change of the key reads the file again."""

from __future__ import annotations

import builtins
import io
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.artefacts.digests import FORMAT, DigestCache
from gardenlinux_ocm.artefacts.inventory import Inventory, Selection, scan
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, VERSION

BASE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"
ROOTFS = f"{BASE}.tar"
ARCHIVE = "container-amd64-1473.0-2b1b3a1d.oci"


@pytest.fixture
def cache(tmp_path: Path) -> DigestCache:
    """A cache in its own directory that trusts files as soon as they are written (the tests write them just now)."""
    return DigestCache(tmp_path / "cache", settle_ns=0)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], list[str]]:
    """Every file opened from now on (os.open, io.open, open), as a function of the directory to report on."""
    calls: list[str] = []
    real_os_open, real_io_open = os.open, io.open

    def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        calls.append(os.path.abspath(path))
        return real_os_open(path, *args, **kwargs)

    def io_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(file, int):
            calls.append(os.path.abspath(file))
        return real_io_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)

    def below(directory: Path) -> list[str]:
        root = os.path.abspath(directory) + os.sep
        return [os.path.basename(c) for c in calls if c.startswith(root)]

    return below


def _spec() -> Any:
    return load_release(COMPONENTS, VERSION)


def _digest(inv: Inventory, name: str) -> str:
    return next(f.digest for fa in [*inv.flavors, *inv.containers] for f in fa.files if f.name == name)


def test_second_scan_of_unchanged_files_reads_none(artefacts: Path, cache: DigestCache,
                                                    opened: Callable[[Path], list[str]]) -> None:
    spec = _spec()
    first = scan(artefacts, spec, cache=cache)
    assert set(opened(artefacts)) == {p.name for p in artefacts.rglob("*") if p.is_file()}  # the first read all
    before = len(opened(artefacts))
    second = scan(artefacts, spec, cache=cache)
    assert len(opened(artefacts)) == before  # the second one opened nothing below the artefact directory
    assert second == first  # digests, sizes, package lists and the checked container images alike


def test_without_a_cache_every_file_is_read(artefacts: Path, opened: Callable[[Path], list[str]]) -> None:
    scan(artefacts, _spec())
    once = len(opened(artefacts))
    scan(artefacts, _spec())
    assert len(opened(artefacts)) == 2 * once


def test_a_touched_file_is_read_again(artefacts: Path, cache: DigestCache,
                                      opened: Callable[[Path], list[str]]) -> None:
    spec = _spec()
    scan(artefacts, spec, cache=cache)
    before = opened(artefacts)
    os.utime(artefacts / ROOTFS, ns=(0, (artefacts / ROOTFS).stat().st_mtime_ns + 1))
    scan(artefacts, spec, cache=cache)
    assert opened(artefacts)[len(before):] == [ROOTFS]


def test_changed_content_with_restored_mtime_is_caught_by_ctime(artefacts: Path, cache: DigestCache) -> None:
    """Size, mtime and inode as before (a build that pins mtimes, an in-place rewrite): ctime still moved."""
    spec = _spec()
    old = _digest(scan(artefacts, spec, cache=cache), ROOTFS)
    path = artefacts / ROOTFS
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    with path.open("r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = path.stat()
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    assert _digest(scan(artefacts, spec, cache=cache), ROOTFS) not in (old, None)


def test_a_replaced_file_is_read_again(artefacts: Path, cache: DigestCache) -> None:
    """A new inode with the same size and mtime (an extraction over the old build) is another file."""
    spec = _spec()
    old = _digest(scan(artefacts, spec, cache=cache), f"{BASE}.vmlinuz")
    path = artefacts / f"{BASE}.vmlinuz"
    st = path.stat()
    new = artefacts / ".replacement"
    new.write_bytes(bytes(st.st_size))
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, path)
    now = path.stat()
    assert now.st_ino != st.st_ino and (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert _digest(scan(artefacts, spec, cache=cache), f"{BASE}.vmlinuz") != old


def test_a_replaced_archive_is_checked_again(artefacts: Path, cache: DigestCache) -> None:
    spec = _spec()
    scan(artefacts, spec, cache=cache)
    path = artefacts / ARCHIVE
    data = bytearray(path.read_bytes())
    data[-2000] ^= 0xFF  # inside the last blob or the tar padding: either way not the bytes that were checked
    (artefacts / ".new").write_bytes(bytes(data))
    os.replace(artefacts / ".new", path)
    try:
        inv = scan(artefacts, spec, cache=cache)
    except api.GlOcmError as e:
        assert ARCHIVE in e.message
    else:
        assert inv.containers  # the change was in padding: checked again and still fine


def test_recent_files_are_not_remembered(artefacts: Path, tmp_path: Path,
                                         opened: Callable[[Path], list[str]]) -> None:
    """A file changed within `settle_ns` of the scan could change again unseen in the same clock tick."""
    cache = DigestCache(tmp_path / "cache", settle_ns=3600 * 10**9)
    scan(artefacts, _spec(), cache=cache)
    once = len(opened(artefacts))
    scan(artefacts, _spec(), cache=cache)
    assert len(opened(artefacts)) == 2 * once
    assert not (tmp_path / "cache" / "digests").exists() or not list((tmp_path / "cache" / "digests").glob("*.json"))


def _shards(cache: DigestCache) -> list[Path]:
    return sorted((cache.directory / "digests").glob("*.json"))


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00garbage{", b'{"format": "another/tool", "entries": {}}', b"[]",
     b'{"format": "' + FORMAT.encode() + b'", "directory": "/elsewhere", "entries": {}}'],
    ids=["empty", "garbage", "foreign-format", "not-an-object", "other-directory"],
)
def test_a_corrupt_or_foreign_shard_is_ignored_and_rewritten(artefacts: Path, cache: DigestCache,
                                                             content: bytes) -> None:
    spec = _spec()
    expected = scan(artefacts, spec)
    scan(artefacts, spec, cache=cache)
    (shard,) = _shards(cache)
    shard.write_bytes(content)
    assert scan(artefacts, spec, cache=cache) == expected
    doc = json.loads(shard.read_bytes())
    assert doc["format"] == FORMAT and doc["directory"] == os.path.abspath(artefacts) and doc["entries"]


def test_malformed_entries_are_misses(artefacts: Path, cache: DigestCache) -> None:
    spec = _spec()
    expected = scan(artefacts, spec)
    scan(artefacts, spec, cache=cache)
    (shard,) = _shards(cache)
    doc = json.loads(shard.read_bytes())
    for entry in doc["entries"].values():
        entry["facts"] = {k: 42 if k == "sha256" else [{"manifest": {}}] for k in entry["facts"]}
    shard.write_text(json.dumps(doc))
    assert scan(artefacts, spec, cache=cache) == expected


def test_entries_of_deleted_files_are_dropped(artefacts: Path, cache: DigestCache) -> None:
    spec = _spec()
    scan(artefacts, spec, cache=cache)
    (shard,) = _shards(cache)
    assert str(artefacts / f"{BASE}.vmlinuz") in json.loads(shard.read_bytes())["entries"]
    (artefacts / f"{BASE}.vmlinuz").unlink()
    digests = cache.load(artefacts)
    digests.store(artefacts / ROOTFS, (artefacts / ROOTFS).stat(), "note", "x")
    digests.save()
    entries = json.loads(shard.read_bytes())["entries"]
    assert str(artefacts / f"{BASE}.vmlinuz") not in entries and entries[str(artefacts / ROOTFS)]["facts"]["note"]


def test_concurrent_jobs_lose_no_entries(artefacts: Path, cache: DigestCache) -> None:
    """Eight flavor jobs on one build directory save at once: the shard ends with every job's files."""
    spec = _spec()
    flavors = [f.name for f in spec.flavors][:8]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: scan(artefacts, spec, Selection(flavors=frozenset({f})), cache), flavors))
    (shard,) = _shards(cache)
    entries = json.loads(shard.read_bytes())["entries"]
    names = {os.path.basename(p).split("-1473.0-")[0] for p in entries}
    assert names == set(flavors)


def _tree(directory: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            yield path.relative_to(directory).as_posix(), path.read_bytes()


def test_publish_is_byte_identical_with_and_without_the_cache(artefacts: Path, cache: DigestCache,
                                                              tmp_path: Path) -> None:
    api.plan_release(COMPONENTS, VERSION, artefacts, digest_cache=cache)  # fills the cache
    outs = []
    for i, digest_cache in enumerate([None, cache]):
        _, plan = api.plan_release(COMPONENTS, VERSION, artefacts, digest_cache=digest_cache)
        out = tmp_path / f"oci-{i}"
        api.publish(plan, LayoutTarget(out))
        outs.append(list(_tree(out)))
    assert outs[0] == outs[1] and outs[0]
