"""Files by pattern (build logs, test results) and container archives by path: how the inventory finds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gardenlinux_ocm.artefacts.inventory import scan
from gardenlinux_ocm.errors import InventoryError
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, VERSION

BASE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"
LOGS = {
    f"{BASE}.raw.log": ("build-log", "raw", "application/io.gardenlinux.log"),
    f"{BASE}.tar.log": ("build-log", "tar", "application/io.gardenlinux.log"),
    f"{BASE}.chroot.test.log": ("test-log-stage", "chroot", "application/io.gardenlinux.io.chroot.test.log"),
    f"{BASE}.platform.test.log": ("test-log-stage", "platform", "application/io.gardenlinux.io.platform.test.log"),
    f"{BASE}.chroot.test.xml": ("test-report", "chroot", "application/io.gardenlinux.io.chroot.test.xml"),
}


def _problems(artefacts: Path) -> str:
    with pytest.raises(InventoryError) as info:
        scan(artefacts, load_release(COMPONENTS, VERSION))
    return info.value.message


def test_pattern_files_are_found_with_their_part_and_media_type(artefacts: Path) -> None:
    for name in LOGS:
        (artefacts / name).write_bytes(f"log of {name}\n".encode())
    inv = scan(artefacts, load_release(COMPONENTS, VERSION))
    aws = next(fa for fa in inv.flavors if fa.flavor.name == "aws-gardener_prod-amd64")
    found = {f.name: (f.role.name, f.part, f.media_type) for f in aws.files if f.part is not None}
    assert found == LOGS
    names = [f.name for f in aws.files]
    # in the spec's role order, then by part; the fixed-suffix roles first as before
    assert names[-5:] == [f"{BASE}.raw.log", f"{BASE}.tar.log", f"{BASE}.chroot.test.log",
                          f"{BASE}.platform.test.log", f"{BASE}.chroot.test.xml"]
    other = next(fa for fa in inv.flavors if fa.flavor.name == "aws-gardener_prod-arm64")
    assert not [f for f in other.files if f.part is not None]  # pattern files are optional


def test_a_pattern_file_twice_is_a_duplicate(artefacts: Path) -> None:
    (artefacts / f"{BASE}.raw.log").write_bytes(b"a\n")
    (artefacts / "aws").mkdir()
    (artefacts / "aws" / f"{BASE}.raw.log").write_bytes(b"b\n")
    assert f"aws/{BASE}.raw.log: duplicate build-log raw for aws-gardener_prod-amd64" in _problems(artefacts)


def test_unknown_suffix_lists_the_patterns_too(artefacts: Path) -> None:
    (artefacts / f"{BASE}.log.gz").write_bytes(b"x")
    text = _problems(artefacts)
    assert f"{BASE}.log.gz: unknown suffix '.log.gz'" in text and "*.log" in text and "*.test.xml" in text


def test_a_pattern_part_must_be_a_name(artefacts: Path) -> None:
    (artefacts / f"{BASE}..log").write_bytes(b"x")
    assert f"{BASE}..log: unknown suffix '..log'" in _problems(artefacts)


def test_bare_images_are_found_under_their_build_path(artefacts: Path) -> None:
    spec = load_release(COMPONENTS, VERSION)
    inv = scan(artefacts, spec)
    bare = [c for c in inv.containers if c.container.name == "bare-python"]
    assert [(c.container.arch, c.image.platform.architecture) for c in bare] == [("amd64", "amd64"), ("arm64", "arm64")]
    assert all(c.files == () for c in bare)  # the bare build writes the archive alone


def test_a_bare_image_elsewhere_is_missing_and_its_name_unknown(artefacts: Path) -> None:
    (artefacts / "bare_flavors" / "python-arm64.oci").rename(artefacts / "python-arm64.oci")
    text = _problems(artefacts)
    assert "bare-python-arm64: missing the container image bare_flavors/python-arm64.oci" in text
    assert "python-arm64.oci: not named <cname>-<arch>-<version>-<commit8>.<suffix>" in text


def test_capitals_in_a_container_cname_are_matched(artefacts: Path) -> None:
    name = "container-pythonDev-arm64-1473.0-2b1b3a1d.oci"
    (artefacts / name).unlink()
    assert f"container-pythonDev-arm64: missing the container image {name}" in _problems(artefacts)
