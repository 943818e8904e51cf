"""Broken build output directories: each is refused by `gl-ocm publish` with exit 2 before the first write, naming
the file and what is wrong with it, without a traceback, and without opening what is not a regular file."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gardenlinux_ocm.artefacts import _files
from gardenlinux_ocm.artefacts.inventory import file_digest, scan
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, VERSION, publish_args, refused_publish

BASE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"
ROOTFS = f"{BASE}.tar"


def _publish_in_subprocess(artefacts: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The real command with a deadline: a scan that opened a FIFO would block until killed."""
    code = "import sys; from gardenlinux_ocm.cli import main; sys.argv[0] = 'gl-ocm'; main()"
    args = publish_args(artefacts, f"oci-layout:{tmp_path / 'out'}")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def unix_socket(artefacts: Path) -> Iterator[Path]:
    path = artefacts / f"{BASE}.sbom"  # a known role's name, so only its kind can be wrong
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError as e:  # the tmp path may be too long for a socket address
        sock.close()
        pytest.skip(f"cannot bind a unix socket here: {e}")
    yield path
    sock.close()


# -- the directory itself


def test_artefacts_is_a_file(samples: Path, tmp_path: Path) -> None:
    refused_publish(samples / ROOTFS, tmp_path, f"artefact directory {samples / ROOTFS} is not a directory")


def test_unreadable_subdirectory(artefacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = artefacts / "locked"
    locked.mkdir()
    real = os.scandir

    def scandir(path: os.PathLike[str] | str) -> os._ScandirIterator[str]:
        if Path(path) == locked:  # as a user without read permission sees it (root would not)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    refused_publish(artefacts, tmp_path, "locked/: cannot read the directory: Permission denied")


def test_unreadable_file(artefacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.open

    def open_(path: os.PathLike[str] | str, flags: int, *args: int) -> int:
        if Path(path).name == ROOTFS:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(_files.os, "open", open_)
    refused_publish(artefacts, tmp_path, f"{ROOTFS}: cannot be read: Permission denied")


# -- files that are empty


@pytest.mark.parametrize(
    "name",
    [
        ROOTFS,  # each required role
        f"{BASE}.vmlinuz",
        f"{BASE}.cmdline",
        f"{BASE}.changelog",
        f"{BASE}.test-log",
        f"{BASE}.raw",  # the platform's disk image
        "container-amd64-1473.0-2b1b3a1d.oci",
    ],
)
def test_zero_byte_file(artefacts: Path, tmp_path: Path, name: str) -> None:
    (artefacts / name).write_bytes(b"")
    refused_publish(artefacts, tmp_path, f"{name}: is empty (0 bytes)")


def test_zero_byte_optional_file_is_accepted(artefacts: Path) -> None:
    (artefacts / f"{BASE}.manifest").write_bytes(b"")  # a package list may be empty; only what must not be is refused
    scan(artefacts, load_release(COMPONENTS, VERSION))


# -- files that are not regular files


def test_fifo_is_refused_without_opening_it(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / f"{BASE}.changelog").unlink()
    os.mkfifo(artefacts / f"{BASE}.changelog")
    result = _publish_in_subprocess(artefacts, tmp_path)  # would time out if the FIFO were opened
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{BASE}.changelog: is a FIFO (named pipe), not a regular file" in " ".join(result.stderr.split())
    assert not (tmp_path / "out").exists()


def test_fifo_in_place_of_a_checked_file_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = (
        "import sys, pathlib; from gardenlinux_ocm.artefacts import inventory; "
        "inventory.file_digest(pathlib.Path(sys.argv[1]))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "is a FIFO (named pipe), not a regular file" in result.stderr
    with pytest.raises(OSError, match="not a regular file"):
        file_digest(tmp_path)  # a directory, too


def test_character_device(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / f"{BASE}.cmdline").unlink()
    try:
        os.mknod(artefacts / f"{BASE}.cmdline", 0o600 | 0o020000, os.makedev(1, 3))  # S_IFCHR, like /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    refused_publish(artefacts, tmp_path, f"{BASE}.cmdline: is a character device, not a regular file")


def test_socket(artefacts: Path, tmp_path: Path, unix_socket: Path) -> None:
    refused_publish(artefacts, tmp_path, f"{unix_socket.name}: is a socket, not a regular file")


# -- symbolic links


def test_symlink_outside_the_directory(artefacts: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.tar"
    shutil.move(artefacts / ROOTFS, outside)
    (artefacts / ROOTFS).symlink_to(outside)
    refused_publish(artefacts, tmp_path, f"{ROOTFS}: is a symbolic link to {outside}, outside the artefact directory")


def test_relative_symlink_climbing_out(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / "sub").mkdir()
    shutil.move(artefacts / ROOTFS, tmp_path / ROOTFS)
    (artefacts / "sub" / ROOTFS).symlink_to(Path("..") / ".." / ROOTFS)
    refused_publish(artefacts, tmp_path, f"sub/{ROOTFS}: is a symbolic link to ../../{ROOTFS}, outside the artefact")


def test_symlink_to_device_outside(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / f"{BASE}.cmdline").unlink()
    (artefacts / f"{BASE}.cmdline").symlink_to("/dev/zero")  # endless: reading it would never finish
    refused_publish(
        artefacts, tmp_path, f"{BASE}.cmdline: is a symbolic link to /dev/zero, outside the artefact directory"
    )


def test_broken_symlink(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / ROOTFS).unlink()
    (artefacts / ROOTFS).symlink_to("gone.tar")
    refused_publish(artefacts, tmp_path, f"{ROOTFS}: is a broken symbolic link (to gone.tar)")


def test_symlink_loop(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / ROOTFS).unlink()
    (artefacts / ROOTFS).symlink_to(ROOTFS)
    refused_publish(artefacts, tmp_path, f"{ROOTFS}: is a broken symbolic link")


def test_symlink_to_a_directory(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / "more").symlink_to(".")
    refused_publish(
        artefacts, tmp_path, "more: is a symbolic link to a directory (.); only links to files are followed"
    )


def test_symlink_inside_is_followed(artefacts: Path, samples: Path) -> None:
    store = artefacts / ".store"  # hidden folders are not scanned, so the target is no duplicate
    store.mkdir()
    shutil.move(artefacts / ROOTFS, store / "rootfs")
    (artefacts / ROOTFS).symlink_to(Path(".store") / "rootfs")
    spec = load_release(COMPONENTS, VERSION)
    linked = next(f for fa in scan(artefacts, spec).flavors for f in fa.files if f.name == ROOTFS)
    original = next(f for fa in scan(samples, spec).flavors for f in fa.files if f.name == ROOTFS)
    assert (linked.digest, linked.size) == (original.digest, original.size)


def test_every_file_problem_reported_at_once(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / f"{BASE}.vmlinuz").write_bytes(b"")
    (artefacts / f"{BASE}.changelog").unlink()
    os.mkfifo(artefacts / f"{BASE}.changelog")
    (artefacts / ROOTFS).unlink()
    (artefacts / ROOTFS).symlink_to("/etc/hostname")
    text = refused_publish(artefacts, tmp_path, "3 problem(s)", "vmlinuz: is empty", "changelog: is a FIFO", "outside")
    assert "missing required" not in text  # a refused file is named once, not also as missing
