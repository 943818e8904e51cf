"""The release version rule (docs/versions.md): what is accepted, what is refused with which hint, and that the
schema, the VERSION argument and the OCI tag mapping all agree with it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import SpecError, UsageError
from gardenlinux_ocm.oci.model import TAG_RE, tag_to_version, version_to_tag
from gardenlinux_ocm.spec import VERSION_FORM, check_version, diagnose_version, is_release_version, load_release
from gardenlinux_ocm.spec.version import MAX_VERSION_LENGTH, VERSION_PATTERN

REPO = Path(__file__).resolve().parents[3]
PACKAGED_SCHEMAS = REPO / "src" / "gardenlinux_ocm" / "spec" / "schemas"
runner = CliRunner()

ACCEPTED = ["1473.0", "1592.1", "1592.1.0", "2150.0.0", "0.0", "1473.0+ci.1", "1473.0+build-7", "2150.9.0+dev.2b1b3a1d"]

# (version, words in the message, words in the hint)
REFUSED = [
    ("1473", "bare major version", "write 1473.0"),
    ("v1473.0", "'v' prefix", "write 1473.0"),
    ("V1592.1.0", "'v' prefix", "write 1592.1.0"),
    ("01473.0", "leading zero", "write 1473.0"),
    ("1473.00", "leading zero", "write 1473.0"),
    ("1473.0-rc.1", "pre-release suffix '-rc.1'", "1473.0+rc.1"),
    ("1473.0.1.1", "has 4 numbers", VERSION_FORM),
    ("1473.0+", "malformed build metadata", "1473.0+ci.1"),
    ("1473.0+a.build-b", "starting with 'build-'", "'.build-'"),
    ("1473.0/../x", "contains '/'", VERSION_FORM),
    ("..", "contains '..'", VERSION_FORM),
    ("1473.0\\x", "contains '\\\\'", VERSION_FORM),
    ("1473.0\x00", "contains '\\x00'", VERSION_FORM),
    (" 1473.0", "contains ' '", VERSION_FORM),
    ("~/1473.0", "contains", VERSION_FORM),
    ("", "is empty", VERSION_FORM),
    ("1473.0+" + "a" * 60, f"at most {MAX_VERSION_LENGTH}", VERSION_FORM),
    ("latest", "is not a release version", VERSION_FORM),
]


@pytest.mark.parametrize("version", ACCEPTED)
def test_accepted_versions(version: str) -> None:
    assert is_release_version(version) and diagnose_version(version) is None and check_version(version) == version


@pytest.mark.parametrize(("version", "message", "hint"), REFUSED, ids=[repr(r[0])[:30] for r in REFUSED])
def test_refused_versions_say_why_and_what_to_write(version: str, message: str, hint: str) -> None:
    assert not is_release_version(version)
    problem = diagnose_version(version)
    assert problem is not None and message in problem.message and hint in problem.hint
    with pytest.raises(UsageError) as info:
        check_version(version, what="--version")
    assert info.value.message.startswith("--version ") and info.value.exit_code == 2


def test_the_form_is_described_in_words() -> None:
    assert "1473.0 or 1592.1.0" in VERSION_FORM and "^" not in VERSION_FORM


@pytest.mark.parametrize("version", ACCEPTED)
def test_accepted_versions_survive_the_tag_mapping(version: str) -> None:
    tag = version_to_tag(version)
    assert TAG_RE.match(tag) and tag_to_version(tag) == version


def test_release_schema_repeats_the_rule() -> None:
    for schema_dir in (REPO / "schemas", PACKAGED_SCHEMAS):
        version = json.loads((schema_dir / "release-spec.schema.json").read_text())["properties"]["version"]
        assert version["pattern"] == VERSION_PATTERN and version["maxLength"] == MAX_VERSION_LENGTH


@pytest.mark.parametrize("name", ["release-spec.schema.json", "component-spec.schema.json"])
def test_packaged_schemas_equal_the_published_ones(name: str) -> None:
    assert (PACKAGED_SCHEMAS / name).read_bytes() == (REPO / "schemas" / name).read_bytes()


@pytest.mark.parametrize(("version", "hint"), [("1473", "write 1473.0"), ("v1473.0", "write 1473.0")])
def test_release_file_version_is_checked_by_lint(components: Path, version: str, hint: str) -> None:
    from gardenlinux_ocm.spec import lint_components

    rel = components / "releases" / f"{version}.yaml"
    rel.write_text((components / "releases" / "1473.0.yaml").read_text().replace('"1473.0"', f'"{version}"'))
    with pytest.raises(SpecError) as info:
        lint_components(components)
    assert info.value.file == str(rel) and info.value.path == "version" and info.value.line == 3
    assert hint in (info.value.hint or "")


class _Untouchable(type(Path())):  # type: ignore[misc]  # the concrete PosixPath/WindowsPath class
    """A path whose every file-system access fails the test; paths joined onto it are untouchable too."""

    def stat(self, *args: object, **kwargs: object) -> os.stat_result:
        raise AssertionError(f"{self} was looked up before the version was checked")

    def open(self, *args: object, **kwargs: object) -> IO[Any]:
        raise AssertionError(f"{self} was opened before the version was checked")

    def glob(self, *args: object, **kwargs: object) -> Iterator[Path]:
        raise AssertionError(f"{self} was listed before the version was checked")


def test_untouchable_paths_do_fail(components: Path) -> None:
    with pytest.raises(AssertionError):
        (_Untouchable(components) / "releases").is_file()


@pytest.mark.parametrize("version", ["../releases/1473.0", "1473.0/..", "/etc/passwd", "1473.0\x00", "1473"])
def test_version_argument_is_refused_before_any_file_is_looked_up(components: Path, version: str) -> None:
    with pytest.raises(UsageError) as info:
        load_release(_Untouchable(components), version)
    assert info.value.message.startswith("VERSION ")


@pytest.mark.parametrize("command", ["sample-artefacts", "render", "publish"])
def test_cli_refuses_a_path_as_version_with_exit_2_and_writes_nothing(
    components: Path, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "out"
    extra = {
        "sample-artefacts": ["-o", str(out)],
        "render": ["-o", str(out), "--artefacts", str(tmp_path)],
        "publish": ["--to", f"oci-layout:{out}", "--artefacts", str(tmp_path)],
    }[command]
    result = runner.invoke(app, [command, "../1473.0", "--components", str(components), *extra])
    assert result.exit_code == 2, result.output
    assert "VERSION '../1473.0' contains '/'" in result.output and "1473.0 or 1592.1.0" in result.output
    assert "Traceback" not in result.output and not out.exists()
