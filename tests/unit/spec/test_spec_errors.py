"""Malformed specs: each scenario gives a SpecError naming the file, the key path, the line and what is expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gardenlinux_ocm.errors import SpecError
from gardenlinux_ocm.spec import lint_components, load_release
from support.spec_edit import edit, spec_error

VERSION = "1473.0"



def _release(components: Path) -> Path:
    return components / "releases" / f"{VERSION}.yaml"


def _error(components: Path) -> SpecError:
    return spec_error(components, VERSION)


def test_shipped_specs_are_valid() -> None:
    spec = load_release(Path(__file__).resolve().parents[3] / "components", VERSION)
    assert len(spec.flavors) >= 20
    assert {f.platform for f in spec.flavors} >= {
        "ali",
        "aws",
        "azure",
        "gcp",
        "gdch",
        "kvm",
        "metal",
        "openstack",
        "openstackbaremetal",
        "vmware",
    }
    assert {c.arch for c in spec.containers} == {"amd64", "arm64"}


def test_unknown_key_with_typo_hint(components: Path) -> None:
    edit(_release(components), "    architectures: [amd64, arm64]\n", "    architecture: [amd64, arm64]\n")
    e = _error(components)
    assert e.file.endswith("releases/1473.0.yaml")
    assert e.path == "flavors[0].architecture" and e.line == 8
    assert "unknown key 'architecture'" in e.message and "did you mean 'architectures'" in e.message


def test_unknown_top_level_key_in_component_spec(components: Path) -> None:
    edit(components / "gardenlinux.yaml", "provider: SAP SE\n", "provider: SAP SE\nprovder: x\n")
    e = _error(components)
    assert e.file.endswith("gardenlinux.yaml") and e.path == "provder"
    assert "did you mean 'provider'" in e.message


def test_version_with_four_numbers_is_refused_in_the_release_file(components: Path) -> None:
    path = components / "releases" / "1473.0.1.1.yaml"
    path.write_text(_release(components).read_text().replace('version: "1473.0"', 'version: "1473.0.1.1"'))
    with pytest.raises(SpecError) as info:
        lint_components(components)
    assert info.value.path == "version" and "has 4 numbers" in info.value.message
    assert "1473.0.1.1.yaml" in info.value.file


def test_commit_must_be_40_hex(components: Path) -> None:
    edit(_release(components), "commit: 2b1b3a1d", "commit: zz1b3a1d")
    e = _error(components)
    assert e.path == "commit" and e.line == 4


def test_unknown_platform_in_cname(components: Path) -> None:
    edit(_release(components), "cname: ali-gardener_prod", "cname: alii-gardener_prod")
    e = _error(components)
    assert e.path == "flavors[0].cname" and "unknown platform 'alii'" in e.message and "did you mean 'ali'" in e.message


def test_unknown_role_in_extra_roles(components: Path) -> None:
    edit(_release(components), "extraRoles: [pxe]", "extraRoles: [pex]")
    e = _error(components)
    assert "unknown role 'pex'" in e.message and "extraRoles[0]" in e.path


def test_duplicate_flavor(components: Path) -> None:
    rel = _release(components)
    rel.write_text(
        rel.read_text().replace("flavors:\n", "flavors:\n  - cname: aws-gardener_prod\n    architectures: [amd64]\n", 1)
    )
    e = _error(components)
    assert "flavor 'aws-gardener_prod-amd64' is listed twice" in e.message


def test_missing_required_key(components: Path) -> None:
    edit(_release(components), 'releaseDate: "2024-04-12T00:00:00Z"\n', "")
    e = _error(components)
    assert "missing required key 'releaseDate'" in e.message


def test_wrong_type(components: Path) -> None:
    edit(_release(components), "architectures: [amd64, arm64]", "architectures: amd64")
    e = _error(components)
    assert "expected a list, found 'amd64'" in e.message and e.path == "flavors[0].architectures"


def test_yaml_syntax_error_names_line(components: Path) -> None:
    edit(_release(components), "flavors:\n", "flavors:\n  - cname: [unclosed\n")
    e = _error(components)
    assert "invalid YAML" in e.message and e.line is not None


def test_version_in_file_differs_from_file_name(components: Path) -> None:
    edit(_release(components), 'version: "1473.0"', 'version: "1473.1"')
    e = _error(components)
    assert "says version '1473.1'" in e.message


def test_unknown_release(components: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_release(components, "9999.0")
    assert "no release spec for version '9999.0'" in info.value.message and "1473.0" in (info.value.hint or "")


def test_unknown_container(components: Path) -> None:
    edit(_release(components), "  - name: base\n", "  - name: bsae\n")
    e = _error(components)
    assert "unknown container 'bsae'" in e.message and "did you mean 'base'" in e.message


def test_lint_lists_several_errors(components: Path) -> None:
    edit(_release(components), "commit: 2b1b3a1d", "commit: 2B1b3a1d")
    edit(_release(components), 'releaseDate: "2024-04-12T00:00:00Z"', 'releaseDate: "yesterday"')
    with pytest.raises(SpecError) as info:
        lint_components(components)
    text = str(info.value)
    assert "commit" in text and "releaseDate" in text
    assert re.search(r"1473\.0\.yaml:5: releaseDate", text)
