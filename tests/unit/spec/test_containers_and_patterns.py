"""Containers in their own repositories and roles given by a pattern: what the spec says, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gardenlinux_ocm.errors import SpecError
from gardenlinux_ocm.spec import load_release
from gardenlinux_ocm.spec.model import repository_name
from support.spec_edit import edit, spec_error

VERSION = "1473.0"



def _error(components: Path) -> SpecError:
    return spec_error(components, VERSION)


@pytest.mark.parametrize(("cname", "repository"), [
    ("container", "container"),
    ("container-pythonDev", "container-python-dev"),
    ("bare-python", "bare-python"),
    ("container-sslFIPS", "container-ssl-fips"),
])
def test_repository_names_split_words_at_capitals(cname: str, repository: str) -> None:
    assert repository_name(cname) == repository


def test_shipped_containers_live_in_their_own_repositories(components: Path) -> None:
    spec = load_release(components, VERSION)
    where = {c.name_arch: (c.repository, c.in_release_index, c.archive) for c in spec.containers}
    assert where["container-amd64"] == ("gardenlinux", True, None)
    assert where["container-pythonDev-arm64"] == ("gardenlinux/container-python-dev", False, None)
    assert where["bare-python-amd64"] == ("gardenlinux/bare-python", False, "bare_flavors/python-amd64.oci")
    assert spec.container_archive(spec.containers[0]) == "container-amd64-1473.0-2b1b3a1d.oci"


def test_repository_override_is_below_the_release_repository(components: Path) -> None:
    edit(components / "releases" / f"{VERSION}.yaml", "  - name: bare-python\n", "  - name: fips\n"
          "    architectures: [amd64]\n  - name: bare-python\n")
    spec = load_release(components, VERSION)
    assert [c.repository for c in spec.containers if c.name == "fips"] == ["gardenlinux/fips"]


def test_two_containers_in_the_release_index_are_refused(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "    cname: container-pythonDev\n",
          "    cname: container-pythonDev\n    releaseIndex: true\n")
    e = _error(components)
    assert e.file.endswith("gardenlinux.yaml") and e.path == "containers.python-dev.releaseIndex"
    assert "only one container can be in the release index; 'base' already is" in e.message


def test_two_containers_in_one_repository_are_refused(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "    cname: bare-nodejs\n", "    cname: bare-nodejs\n    repository: fips\n")
    e = _error(components)
    assert e.path == "containers.bare-nodejs.repository"
    assert "gardenlinux/fips is already the repository of container 'fips'" in e.message


@pytest.mark.parametrize(("archive", "expected"), [
    ('"bare_flavors/python.oci"', "does not name {arch}"),
    ('"bare_flavors/python-{arch}-{build}.oci"', "unknown placeholder {build}"),
])
def test_archive_paths_must_name_the_architecture_and_known_placeholders(
    components: Path, archive: str, expected: str
) -> None:
    edit(components / "gardenlinux.yaml", '    archive: "bare_flavors/python-{arch}.oci"\n',
          f"    archive: {archive}\n")
    e = _error(components)
    assert e.path == "containers.bare-python.archive" and expected in e.message


def test_archive_path_leaving_the_directory_is_refused_in_words(components: Path) -> None:
    edit(components / "gardenlinux.yaml", '"bare_flavors/python-{arch}.oci"', '"../python-{arch}.oci"')
    e = _error(components)
    assert e.path == "containers.bare-python.archive"
    assert "a relative path of an .oci file" in e.message and "[" not in e.message


def test_container_cname_with_capitals_is_accepted_but_a_flavor_cname_is_not(components: Path) -> None:
    assert any(c.cname == "container-pythonDev" for c in load_release(components, VERSION).containers)
    edit(components / "releases" / f"{VERSION}.yaml", "cname: aws-gardener_prod\n", "cname: aws-gardenerProd\n")
    e = _error(components)
    assert e.path == "flavors[1].cname"


def test_pattern_roles_parse_with_their_identity_and_media_type(components: Path) -> None:
    spec = load_release(components, VERSION)
    log, stage = spec.role("build-log"), spec.role("test-log-stage")
    assert (log.suffix, log.pattern, log.identity) == (None, "*.log", "artefact")
    assert log.part_of("raw.log") == "raw" and log.part_of("gcpimage.tar.gz.log") == "gcpimage.tar.gz"
    assert log.part_of(".log") is None and log.part_of("raw.logs") is None
    assert stage.media_type_for("chroot") == "application/io.gardenlinux.io.chroot.test.log"


def test_a_role_needs_a_suffix_or_a_pattern_with_an_identity(components: Path) -> None:
    edit(components / "gardenlinux.yaml", '{pattern: "*.log", identity: artefact, ', '{pattern: "*.log", ')
    e = _error(components)
    assert e.path == "roles.build-log"
    assert "needs exactly one of: 'suffix', or 'pattern' with 'identity'" in e.message


def test_a_pattern_used_twice_is_refused(components: Path) -> None:
    edit(components / "gardenlinux.yaml", '{pattern: "*.test.xml"', '{pattern: "*.test.log"')
    e = _error(components)
    assert e.path == "roles.test-report.pattern"
    assert "pattern '*.test.log' is already used by role 'test-log-stage'" in e.message


def test_a_pattern_identity_that_flavors_already_carry_is_refused(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "identity: artefact", "identity: platform")
    e = _error(components)
    assert e.path == "roles.build-log.identity" and "already a key of every flavor resource's identity" in e.message


def test_a_pattern_role_cannot_be_required(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "requiredRoles: [rootfs,", "requiredRoles: [build-log, rootfs,")
    e = _error(components)
    assert e.path == "requiredRoles[0]" and "given by a pattern, so it cannot be required" in e.message


def test_a_media_type_placeholder_needs_a_pattern(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "mediaType: application/io.gardenlinux.changelog",
          "mediaType: \"application/io.gardenlinux.{*}.changelog\"")
    e = _error(components)
    assert e.path == "roles.changelog.mediaType" and "{*} stands for what a pattern matched" in e.message
