"""LayoutTarget on a real file system: corrupt layouts refused before any write, full and read-only disks named,
no temporary or lock file left behind (also after concurrent and killed publishes), stale temporaries swept and
live ones kept."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import TargetError
from gardenlinux_ocm.oci.layout import MAX_INDEX_BYTES, LayoutTarget
from gardenlinux_ocm.oci.layout.files import LEGACY_GRACE
from gardenlinux_ocm.oci.model import descriptor_for, sha256_digest
from gardenlinux_ocm.ocm.access import AccessMode, Addressing
from gardenlinux_ocm.plan.model import ReleasePlan
from support.release import COMPONENTS, VERSION, publish_args

runner = CliRunner()
IMAGE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d.raw"  # a disk image of the sample release
ROOT_COMPONENT = "component-descriptors/github.com/gardenlinux/gardenlinux"


# -- helpers
def _files(root: Path) -> dict[str, str]:
    """Every file below `root` (relative path -> sha256 of its bytes): the state a failed run must not change."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _leftovers(root: Path) -> list[str]:
    """Temporaries and lock files: every dot file, `*.tmp` and `*.lock` below `root`."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".lock")
    )


def _assert_consistent(root: Path) -> None:
    """Every blob hashes to its name and every index.json parses: no partial file anywhere."""
    for blob in root.rglob("blobs/sha256/*"):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"{blob} is partial"
    for index in root.rglob("index.json"):
        assert json.loads(index.read_bytes())["schemaVersion"] == 2


def _cli_publish(artefacts: Path, layout: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, publish_args(artefacts, f"oci-layout:{layout}", *extra))
    return result.exit_code, result.output


def _subprocess_publish(artefacts: Path, layout: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "gardenlinux_ocm", *publish_args(artefacts, f"oci-layout:{layout}")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def layout(published_plan: tuple[Path, ReleasePlan], tmp_path: Path) -> Path:
    """A private copy of the published release 1473.0."""
    out = tmp_path / "oci"
    shutil.copytree(published_plan[0], out)
    return out


# -- corrupt layouts: refused before anything is written, the file named
def _truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


CORRUPTIONS: dict[str, Callable[[Path], bytes]] = {
    "not-json": lambda p: b"this is not JSON\n",
    "truncated": _truncated,
    "empty": lambda p: b"",
    "a-list": lambda p: b"[]",
    "schema-version-1": lambda p: b'{"schemaVersion":1,"manifests":[]}',
    "manifest-media-type": lambda p: b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
    "manifests-not-a-list": lambda p: b'{"schemaVersion":2,"manifests":{}}',
    "entry-without-digest": lambda p: b'{"schemaVersion":2,"manifests":[{"mediaType":"x","size":1}]}',
    "entry-bad-annotations": lambda p: (
        b'{"schemaVersion":2,"manifests":[{"mediaType":"x","size":1,"annotations":[],'
        b'"digest":"sha256:' + b"0" * 64 + b'"}]}'
    ),
}


@pytest.mark.parametrize("repository", ["gardenlinux", ROOT_COMPONENT])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_index_json_is_refused_before_any_write(
    layout: Path, artefacts: Path, repository: str, corruption: str
) -> None:
    (artefacts / IMAGE).write_bytes(b"another disk image\n" * 1000)  # so that the publish would write blobs
    index = layout / repository / "index.json"
    index.write_bytes(CORRUPTIONS[corruption](index))
    before = _files(layout)
    code, output = _cli_publish(artefacts, layout, "--on-change", "overwrite")
    assert code == 1, output  # a target problem, not bad input: exit 1
    assert str(index) in output and "Traceback" not in output
    assert _files(layout) == before


def test_corrupt_index_json_in_an_otherwise_empty_layout_writes_nothing(artefacts: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    (layout / "gardenlinux").mkdir(parents=True)
    (layout / "gardenlinux" / "index.json").write_bytes(b'{"schemaVersion": 2, "manifests": [')
    before = _files(layout)
    code, output = _cli_publish(artefacts, layout)
    assert code == 1 and "gardenlinux/index.json" in output and "not valid JSON" in output
    assert _files(layout) == before and not (layout / "gardenlinux" / "blobs").exists()


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"imageLayoutVersion": 1}'])
def test_malformed_oci_layout_file_is_refused(layout: Path, artefacts: Path, content: bytes) -> None:
    marker = layout / "gardenlinux" / "oci-layout"
    marker.write_bytes(content)
    (artefacts / IMAGE).write_bytes(b"changed\n")
    before = _files(layout)
    code, output = _cli_publish(artefacts, layout, "--on-change", "overwrite")
    assert code == 1 and str(marker) in output
    assert _files(layout) == before


def test_an_absurdly_large_index_json_is_refused_unread(tmp_path: Path) -> None:
    index = tmp_path / "oci" / "repo" / "index.json"
    index.parent.mkdir(parents=True)
    with index.open("wb") as f:
        f.truncate(MAX_INDEX_BYTES + 1)  # sparse: nothing to read, the size alone refuses it
    with pytest.raises(TargetError, match="more than the 64 MiB") as caught:
        LayoutTarget(tmp_path / "oci").tags("repo")
    assert str(index) in caught.value.message


# -- full and read-only disks
@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, so that a publish runs out of space for real; needs root (CI runs as root)."""
    mountpoint = tmp_path / "small"
    yield from _tmpfs(mountpoint, "size=2m")


@pytest.fixture
def read_only_fs(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "ro"
    yield from _tmpfs(mountpoint, "ro,size=1m")


def _tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(
            f"this test mounts a tmpfs to fill a disk for real and needs root (CAP_SYS_ADMIN) and mount(8): "
            f"`mount -t tmpfs -o {options}` failed: {mounted.stderr.strip()}",
            pytrace=False,
        )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def test_full_disk_names_the_path_and_leaves_no_partial_file(small_fs: Path) -> None:
    target = LayoutTarget(small_fs / "oci")
    data = os.urandom(3 << 20)
    desc = descriptor_for(data, "application/octet-stream")
    with pytest.raises(TargetError) as caught:
        target.push("repo", desc, io.BytesIO(data))
    blob = small_fs / "oci" / "repo" / "blobs" / "sha256" / desc.hex
    assert f"cannot write {blob}: no space left on the device" == caught.value.message
    assert caught.value.hint and "free space" in caught.value.hint
    assert not blob.exists() and _leftovers(small_fs / "oci") == []
    small = descriptor_for(b"small", "application/octet-stream")
    target.push("repo", small, io.BytesIO(b"small"))  # the space was given back
    assert target.exists("repo", small)


def test_publish_to_a_full_disk_exits_1_naming_the_path(small_fs: Path, artefacts: Path) -> None:
    (artefacts / IMAGE).write_bytes(os.urandom(3 << 20))
    layout = small_fs / "oci"
    code, output = _cli_publish(artefacts, layout)
    assert code == 1 and "Traceback" not in output
    assert f"cannot write {layout}/" in output and "no space left on the device" in output
    assert "free space" in output
    assert _leftovers(layout) == []
    _assert_consistent(layout)


def test_publish_to_a_read_only_file_system_exits_1_naming_the_path(read_only_fs: Path, samples: Path) -> None:
    code, output = _cli_publish(samples, read_only_fs / "oci")
    assert code == 1 and f"cannot write {read_only_fs}/oci/" in output and "read-only" in output, output


# -- temporaries and locks
def test_a_publish_leaves_no_temporary_or_lock_file(published: Path) -> None:
    assert _leftovers(published) == []


_PUBLISHER = """
import pathlib, sys, time
from gardenlinux_ocm import api
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.ocm.access import AccessMode, Addressing
components, artefacts, layout, go = map(pathlib.Path, sys.argv[1:])
# by value: the component versions hold the files as local blobs, linked from the release repository
_, plan = api.plan_release(components, "1473.0", artefacts, Addressing(mode=AccessMode.VALUE))
while not go.exists():  # start the transfers together, so that they overlap
    time.sleep(0.001)
print(api.publish(plan, LayoutTarget(layout), jobs=8).stats.blobs_mounted)
"""


@pytest.mark.parametrize("publishers", [2, 4])
def test_concurrent_publishes_leave_no_temporary_and_converge(samples: Path, tmp_path: Path, publishers: int) -> None:
    layout, go = tmp_path / "oci", tmp_path / "go"
    args = [str(COMPONENTS), str(samples), str(layout), str(go)]
    procs = [
        subprocess.Popen([sys.executable, "-c", _PUBLISHER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(publishers)
    ]
    time.sleep(1.5)  # let each one build its plan
    go.touch()
    mounted = 0
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()
        mounted += int(stdout)
    assert mounted > 0  # mounts happened, in more than one process when they overlapped
    assert _leftovers(layout) == []
    _assert_consistent(layout)
    report = api.verify(LayoutTarget(layout, read_only=True), deep=True)
    assert report.ok, report.failures
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, Addressing(mode=AccessMode.VALUE))
    assert api.publish(plan, LayoutTarget(layout)).stats.wrote_nothing


def test_a_killed_publish_leaves_a_temporary_that_the_next_publish_removes(artefacts: Path, tmp_path: Path) -> None:
    image, digest = artefacts / IMAGE, hashlib.sha256()
    with image.open("wb") as f:  # large enough to be caught mid-write
        for i in range(128):
            chunk = bytes([i]) * (1 << 20)
            f.write(chunk)
            digest.update(chunk)
    big = digest.hexdigest()
    layout = tmp_path / "oci"
    proc = _subprocess_publish(artefacts, layout)
    temporaries: list[Path] = []
    deadline = time.monotonic() + 120
    while not temporaries and proc.poll() is None and time.monotonic() < deadline:
        temporaries = list(layout.rglob(f".{big}.*.tmp"))
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert temporaries, "the publish never started writing the large blob"
    assert [p for p in temporaries if p.exists()], "the temporary went away: the kill came too late"
    assert list(layout.rglob(big)) == []  # the blob itself never appeared

    code, output = _cli_publish(artefacts, layout)
    assert code == 0, output
    assert _leftovers(layout) == []
    assert (layout / "gardenlinux" / "blobs" / "sha256" / big).stat().st_size == 128 << 20
    report = api.verify(LayoutTarget(layout, read_only=True))
    assert report.ok, report.failures


_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"half a blob")
print("ready", flush=True)
time.sleep(120)
"""


def test_a_temporary_of_a_live_publisher_is_kept_and_removed_once_it_died(layout: Path, samples: Path) -> None:
    blobs = layout / "gardenlinux" / "blobs" / "sha256"
    live = blobs / f".{'a' * 64}.{os.getpid()}.0123456789abcdef.tmp"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(live)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        code, output = _cli_publish(samples, layout)
        assert code == 0, output
        assert live.exists(), "the temporary of a live process was removed"
    finally:
        holder.kill()
        holder.wait(timeout=30)
    code, output = _cli_publish(samples, layout)
    assert code == 0, output
    assert not live.exists() and _leftovers(layout) == []


def test_stale_temporaries_of_dead_owners_and_earlier_versions_are_removed(layout: Path, samples: Path) -> None:
    repo = layout / "gardenlinux"
    blobs = repo / "blobs" / "sha256"
    some_blob = next(p for p in blobs.iterdir() if not p.name.startswith("."))
    dead = _dead_pid()
    old = time.time() - LEGACY_GRACE - 60
    stale = {
        blobs / f".{'b' * 64}.{os.getpid()}.fedcba9876543210.tmp": b"unlocked: its owner is gone",
        repo / f".index.json.{dead}.0000000000000001.tmp": b'{"schemaVersion":',
        repo / ".index.lock": b"",  # the lock file of earlier versions
        blobs / f".{'c' * 64}.x1y2z3_a": b"partial blob of an earlier version",
        repo / ".index.json.abc_1234": b"partial index of an earlier version",
    }
    for path, data in stale.items():
        path.write_bytes(data)
        os.utime(path, (old, old))
    os.link(some_blob, blobs / f".mount.{some_blob.name}.{dead}")  # a hard link renamed over itself, left behind
    recent = blobs / f".{'d' * 64}.q1w2e3r4"  # an earlier version's temporary that may still be written
    recent.write_bytes(b"recent")
    foreign = repo / ".keep"  # not ours
    foreign.write_bytes(b"")

    code, output = _cli_publish(samples, layout)
    assert code == 0, output
    assert _leftovers(layout) == sorted(str(p.relative_to(layout)) for p in (recent, foreign))
    assert some_blob.exists()


def test_a_temporary_whose_lock_is_held_in_this_process_is_kept(tmp_path: Path) -> None:
    target = LayoutTarget(tmp_path / "oci")
    desc = descriptor_for(b"x", "application/octet-stream")
    target.push("repo", desc, io.BytesIO(b"x"))
    held = tmp_path / "oci" / "repo" / "blobs" / "sha256" / f".{'e' * 64}.{os.getpid()}.00000000000000aa.tmp"
    fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        LayoutTarget(tmp_path / "oci").exists("repo", desc)  # a new writable target sweeps on first touch
        assert held.exists()
    finally:
        os.close(fd)
    LayoutTarget(tmp_path / "oci").exists("repo", desc)
    assert not held.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


# -- mounts
def test_mount_links_once_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = LayoutTarget(tmp_path / "oci")
    desc = descriptor_for(b"shared", "application/octet-stream")
    target.push("a", desc, io.BytesIO(b"shared"))
    assert target.mount("b", desc, "a") and target.mount("b", desc, "a")  # the second finds it linked already
    src, dst = (tmp_path / "oci" / r / "blobs" / "sha256" / desc.hex for r in ("a", "b"))
    assert os.path.samefile(src, dst)
    dst.unlink()
    dst.write_bytes(b"sha")  # a damaged file in the way is replaced
    assert target.mount("b", desc, "a") and dst.read_bytes() == b"shared"
    assert _leftovers(tmp_path / "oci") == []
    assert sha256_digest(dst.read_bytes()) == desc.digest
