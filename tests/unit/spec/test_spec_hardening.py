"""Hostile and malformed spec files: each class ends in one SpecError naming the file, line and key path, exit 2.

The classes that used to hang, recurse or eat memory (alias bomb, deep nesting, huge or binary files) run `gl-ocm
lint` in a child process with an address-space limit and a timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gardenlinux_ocm.errors import SpecError
from gardenlinux_ocm.spec import lint_components, load_release
from gardenlinux_ocm.spec._yaml import MAX_DEPTH, MAX_NODES
from gardenlinux_ocm.spec.load import MAX_FILE_BYTES
from gardenlinux_ocm.spec.messages import PATTERN_FORMS
from support.schemas import patterns
from support.spec_edit import edit, spec_error

VERSION = "1473.0"
MEMORY_LIMIT = 256 << 20  # `gl-ocm lint` of the shipped specs needs well under 100 MiB of address space
TIMEOUT = 60  # a safety net only; each case takes well under a second of parsing

# The billion-laughs document: nine levels of nine aliases expand to 9**9 strings, from about 300 bytes.
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)

_CHILD = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["gl-ocm", *sys.argv[2:]]
from gardenlinux_ocm.cli import main
main()
"""


def _release(components: Path) -> Path:
    return components / "releases" / f"{VERSION}.yaml"



def _error(components: Path) -> SpecError:
    return spec_error(components, VERSION)


def _lint_in_child(components: Path) -> subprocess.CompletedProcess[str]:
    """`gl-ocm lint` in a fresh interpreter limited to MEMORY_LIMIT of address space."""
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(MEMORY_LIMIT), "lint", "--components", str(components)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _deep_block(levels: int) -> bytes:
    return "".join(" " * i + f"k{i}:\n" for i in range(levels)).encode()


BOUNDED: dict[str, tuple[Callable[[], bytes], str]] = {
    "alias-bomb": (lambda: ALIAS_BOMB.encode(), "1473.0.yaml:1: a: defines the anchor &a"),
    "deep-flow-nesting": (lambda: b"flavors: " + b"[" * 100_000 + b"]" * 100_000, f"deeper than {MAX_DEPTH}"),
    "deep-block-nesting": (lambda: _deep_block(1_000), f"deeper than {MAX_DEPTH}"),
    "binary-file": (lambda: b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64, "NUL byte at byte offset 7"),
    "latin-1-file": (lambda: 'provider: "Gr\xfcn"\n'.encode("latin-1"), "not UTF-8: byte 0xfc at byte offset 13"),
    "utf-16-file": (lambda: 'version: "1473.0"\n'.encode("utf-16"), "NUL byte at byte offset 3"),
    "too-many-values": (lambda: b"flavors: [" + b"a," * 400_000 + b"]\n", f"more than {MAX_NODES} values"),
    "over-1-mib": (lambda: b"# " + b"x" * MAX_FILE_BYTES + b"\n", f"at most {MAX_FILE_BYTES} bytes"),
}


@pytest.mark.parametrize("scenario", sorted(BOUNDED))
def test_hostile_file_ends_quickly_with_exit_2(components: Path, scenario: str) -> None:
    content, expected = BOUNDED[scenario]
    _release(components).write_bytes(content())
    result = _lint_in_child(components)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert f"{_release(components)}" in result.stderr and expected in result.stderr
    assert "hint:" in result.stderr


def test_the_alias_bomb_is_a_few_hundred_bytes() -> None:
    assert 200 < len(ALIAS_BOMB) < 400


def test_alias_without_anchor_is_refused(components: Path) -> None:
    edit(_release(components), "    architectures: [amd64, arm64]\n", "    architectures: *archs\n")
    e = _error(components)
    assert "uses the alias *archs" in e.message and e.path == "flavors[0].architectures" and e.line == 8


def test_merge_key_is_refused(components: Path) -> None:
    edit(_release(components), "  - cname: ali-gardener_prod\n", "  - <<: {cname: ali-gardener_prod}\n")
    e = _error(components)
    assert "merge key <<" in e.message and e.path == "flavors[0]" and e.line == 7


def test_explicit_tag_is_refused(components: Path) -> None:
    edit(_release(components), 'version: "1473.0"', "version: !!str 1473.0")
    e = _error(components)
    assert "explicit tag !!str" in e.message and e.path == "version" and e.line == 3
    assert "quote the value" in (e.hint or "")


def test_complex_keys_nest_no_deeper_than_the_bound(components: Path) -> None:
    _release(components).write_text("? " * 2_000 + "x\n")
    e = _error(components)
    assert f"deeper than {MAX_DEPTH}" in e.message


def test_duplicate_key_names_both_lines(components: Path) -> None:
    edit(
        _release(components),
        'releaseDate: "2024-04-12T00:00:00Z"\n',
        'releaseDate: "2024-04-12T00:00:00Z"\ncommit: x\n',
    )
    e = _error(components)
    assert e.path == "commit" and e.line == 6
    assert "has the key 'commit' twice: at line 4 and at line 6" in e.message


def test_duplicate_key_in_a_nested_mapping(components: Path) -> None:
    edit(_release(components), "    extraRoles: [pxe]\n", "    extraRoles: [pxe]\n    cname: x\n")
    e = _error(components)
    assert "has the key 'cname' twice" in e.message and e.path.endswith("].cname")


def test_boolean_key_gets_a_quote_hint(components: Path) -> None:
    edit(_release(components), "flavors:\n", "on: true\nflavors:\n")
    e = _error(components)
    assert "has the key 'on', which YAML reads as a boolean" in e.message and e.line == 6
    assert 'quote it if it is meant as a string: "on"' in (e.hint or "")


def test_number_too_long_to_convert(components: Path) -> None:
    edit(_release(components), "commit: 2b1b3a1d8e0f7c6e5d4c3b2a19f8e7d6c5b4a392", "commit: " + "1" * 5_000)
    e = _error(components)
    assert e.path == "commit" and "number of 5000 characters" in e.message


def test_control_character_names_the_offset(components: Path) -> None:
    _release(components).write_bytes(b'version: "14\x1b73.0"\n')
    e = _error(components)
    assert "control character '\\x1b' at byte offset 12" in e.message and e.line == 1


def test_second_document_is_refused(components: Path) -> None:
    edit(_release(components), "flavors:\n", "---\nflavors:\n")
    e = _error(components)
    assert "expected a single document" in e.message and "---" in (e.hint or "")


def test_empty_file(components: Path) -> None:
    _release(components).write_text("# nothing here\n")
    e = _error(components)
    assert "is empty" in e.message and "None" not in str(e)


def test_directory_instead_of_file(components: Path) -> None:
    path = components / "gardenlinux.yaml"
    path.unlink()
    path.mkdir()
    e = _error(components)
    assert e.file == str(path) and "is a directory" in e.message


def test_unquoted_timestamp_gets_a_quote_hint_and_is_shown_as_written(components: Path) -> None:
    edit(_release(components), 'releaseDate: "2024-04-12T00:00:00Z"', "releaseDate: 2024-04-12T00:00:00Z")
    e = _error(components)
    assert e.path == "releaseDate" and e.line == 5
    assert "the unquoted timestamp 2024-04-12T00:00:00Z" in e.message
    assert 'quote it: "2024-04-12T00:00:00Z"' in (e.hint or "")
    assert "datetime" not in str(e) and "tzinfo" not in str(e)


def test_unquoted_impossible_timestamp_does_not_crash(components: Path) -> None:
    edit(_release(components), 'releaseDate: "2024-04-12T00:00:00Z"', "releaseDate: 2024-13-45T99:99:99Z")
    e = _error(components)
    assert "the unquoted timestamp 2024-13-45T99:99:99Z" in e.message and "quote it" in (e.hint or "")


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        ("2024-13-45T99:99:99Z", "month must be in 1..12"),
        ("2023-02-29T00:00:00Z", "day is out of range for month"),
        ("2024-04-12T24:00:00Z", "hour must be in 0..23"),
    ],
)
def test_release_date_is_parsed_as_a_date(components: Path, date: str, reason: str) -> None:
    edit(_release(components), "2024-04-12T00:00:00Z", date)
    e = _error(components)
    assert e.path == "releaseDate" and e.line == 5
    assert f"'{date}' is not a real date and time ({reason})" in e.message
    assert 'RFC 3339 UTC time like "2024-04-12T00:00:00Z"' in (e.hint or "")


def test_unquoted_version_is_shown_as_written(components: Path) -> None:
    rel = components / "releases" / "1473.10.yaml"
    rel.write_text(_release(components).read_text().replace('version: "1473.0"', "version: 1473.10"))
    with pytest.raises(SpecError) as info:
        lint_components(components)
    assert "the unquoted number 1473.10" in info.value.message and 'quote it: "1473.10"' in (info.value.hint or "")


# (file, text in the shipped spec, replacement, key path, words that must appear)
PATTERNS = [
    ("releases/1473.0.yaml", "commit: 2b1b3a1d", "commit: 2b1b", "commit", "40 lowercase hex digits"),
    ("releases/1473.0.yaml", '"2024-04-12T00:00:00Z"', '"2024-04-12"', "releaseDate", "RFC 3339 UTC time like"),
    ("releases/1473.0.yaml", "cname: ali-gardener_prod", "cname: Ali", "flavors[0].cname", "a cname like"),
    ("releases/1473.0.yaml", "[_boot, _nopkg,", "[_boot, no pkg,", "flavors[0].features[1]", "a feature name like"),
    ("gardenlinux.yaml", "repoUrl: https://", "repoUrl: http://", "source.repoUrl", "an https:// URL"),
    ("gardenlinux.yaml", "{suffix: tar,", "{suffix: .tar,", "roles.rootfs.suffix", "a file suffix like"),
    ("gardenlinux.yaml", "release: gardenlinux\n", "release: Gardenlinux\n", "repositories.release", "an OCI repo"),
    (
        "gardenlinux.yaml",
        "flavorArtifactType: application/",
        "flavorArtifactType: ",
        "flavorArtifactType",
        "media type",
    ),
    ("gardenlinux.yaml", "containerImages: github.com", "containerImages: github", "components.containerImages",
     "OCM component"),
    ("gardenlinux.yaml", "  ali: {images:", "  Ali: {images:", "platforms.Ali", "a platform name like aws"),
]


@pytest.mark.parametrize(("file", "old", "new", "path", "words"), PATTERNS, ids=[p[3] for p in PATTERNS])
def test_pattern_errors_are_in_words_not_regexes(
    components: Path, file: str, old: str, new: str, path: str, words: str
) -> None:
    edit(components / file, old, new)
    e = _error(components)
    assert e.file == str(components / file) and e.path == path and e.line is not None
    assert words in e.message
    assert "^" not in e.message and "[0-9" not in e.message and "]*" not in e.message


def test_uppercase_commit_gets_a_lowercase_hint(components: Path) -> None:
    edit(_release(components), "commit: 2b1b3a1d", "commit: 2B1B3A1D")
    assert "lowercase" in (_error(components).hint or "")


def test_absolute_components_path_is_shown_absolute(components: Path) -> None:
    assert components.is_absolute()
    edit(_release(components), "commit: 2b1b3a1d", "commit: zz1b3a1d")
    assert _error(components).file == str(_release(components))


def test_relative_components_path_is_shown_as_given(
    components: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(_release(components), "commit: 2b1b3a1d", "commit: zz1b3a1d")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        load_release(Path("components"), VERSION)
    assert info.value.file == "components/releases/1473.0.yaml"


@pytest.mark.parametrize("name", ["release-spec.schema.json", "component-spec.schema.json"])
def test_every_schema_pattern_has_a_form_in_words(name: str) -> None:
    schema = json.loads((Path(__file__).resolve().parents[3] / "schemas" / name).read_text())
    found = patterns(schema)
    assert found and found <= set(PATTERN_FORMS), found - set(PATTERN_FORMS)
