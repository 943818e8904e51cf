"""Inventory errors: each problem is named, all are reported at once, and nothing is published."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.artefacts.archive import read_container_archive
from gardenlinux_ocm.artefacts.inventory import scan
from gardenlinux_ocm.errors import InventoryError
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, VERSION

BASE = "aws-gardener_prod-amd64-1473.0-2b1b3a1d"


def _problems(artefacts: Path) -> str:
    with pytest.raises(InventoryError) as info:
        scan(artefacts, load_release(COMPONENTS, VERSION))
    return info.value.message


def test_samples_scan_cleanly(samples: Path) -> None:
    spec = load_release(COMPONENTS, VERSION)
    inv = scan(samples, spec)
    assert len(inv.flavors) == len(spec.flavors)
    for fa in inv.flavors:
        assert {f.role.name for f in fa.files} >= set(spec.required_roles)
    aws = next(fa for fa in inv.flavors if fa.flavor.name == "aws-gardener_prod-amd64")
    assert [f.role.name for f in aws.files][:3] == ["rootfs", "kernel", "cmdline"]
    assert aws.files[0].digest.startswith("sha256:") and aws.files[0].size == (samples / f"{BASE}.tar").stat().st_size


def test_missing_required_role(artefacts: Path) -> None:
    (artefacts / f"{BASE}.vmlinuz").unlink()
    text = _problems(artefacts)
    assert f"aws-gardener_prod-amd64: missing required kernel (expected {BASE}.vmlinuz)" in text


def test_unknown_suffix(artefacts: Path) -> None:
    (artefacts / f"{BASE}.iso").write_bytes(b"x")
    assert f"{BASE}.iso: unknown suffix '.iso'" in _problems(artefacts)


def test_file_of_flavor_not_in_spec(artefacts: Path) -> None:
    (artefacts / "aws-gardener_prod_fips-amd64-1473.0-2b1b3a1d.tar").write_bytes(b"x")
    assert "flavor aws-gardener_prod_fips-amd64 is not in the release spec" in _problems(artefacts)


def test_file_of_other_release(artefacts: Path) -> None:
    (artefacts / "aws-gardener_prod-amd64-1592.0-0cc2b85d.tar").write_bytes(b"x")
    assert "belongs to 1592.0-0cc2b85d, not to this release 1473.0-2b1b3a1d" in _problems(artefacts)


def test_badly_named_file(artefacts: Path) -> None:
    (artefacts / "notes.txt").write_bytes(b"x")
    assert "notes.txt: not named <cname>-<arch>-<version>-<commit8>.<suffix>" in _problems(artefacts)


def test_duplicate_in_subdirectories(artefacts: Path) -> None:
    (artefacts / "copy").mkdir()
    shutil.copy(artefacts / f"{BASE}.tar", artefacts / "copy" / f"{BASE}.tar")
    assert "duplicate rootfs for aws-gardener_prod-amd64" in _problems(artefacts)


def test_missing_container_archive(artefacts: Path) -> None:
    (artefacts / "container-arm64-1473.0-2b1b3a1d.oci").unlink()
    assert "container-arm64: missing the container image container-arm64-1473.0-2b1b3a1d.oci" in _problems(artefacts)


def test_all_problems_reported_together(artefacts: Path) -> None:
    (artefacts / f"{BASE}.vmlinuz").unlink()
    (artefacts / f"{BASE}.iso").write_bytes(b"x")
    text = _problems(artefacts)
    assert "2 problem(s)" in text and "kernel" in text and ".iso" in text


def test_broken_container_archive(artefacts: Path) -> None:
    (artefacts / "container-amd64-1473.0-2b1b3a1d.oci").write_bytes(b"not a tar")
    assert "not an uncompressed OCI archive" in _problems(artefacts)


def test_container_archive_of_wrong_arch(samples: Path) -> None:
    with pytest.raises(InventoryError, match="no image for architecture arm64 .found: amd64"):
        read_container_archive(samples / "container-amd64-1473.0-2b1b3a1d.oci", "arm64")


def test_bad_artefacts_publish_nothing(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / f"{BASE}.cmdline").unlink()
    target = tmp_path / "oci"
    with pytest.raises(InventoryError):
        _, plan = api.plan_release(COMPONENTS, VERSION, artefacts)
        api.publish(plan, LayoutTarget(target))
    assert not target.exists()


def test_missing_directory_hints_at_samples(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        scan(tmp_path / "nope", load_release(COMPONENTS, VERSION))
    assert "sample-artefacts 1473.0" in (info.value.hint or "")
