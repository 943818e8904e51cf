"""`gl-ocm download` from an OCI layout and a CTF on a real file system: the sample release's bytes come out under
their file names, a second run writes nothing, damaged content and hostile titles are refused with nothing left
behind, files in the way are kept unless --overwrite."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.errors import VerificationError
from gardenlinux_ocm.oci.download import ROLE, TITLE, FileStatus, download, flavor_files, title_problem
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import EMPTY_DESCRIPTOR, EMPTY_JSON, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.plan.model import ReleasePlan
from support.release import VERSION

runner = CliRunner()
FLAVOR = "aws-gardener_prod-amd64"
PREFIX = f"{FLAVOR}-{VERSION}-"  # every file of the flavor, e.g. aws-gardener_prod-amd64-1473.0-2b1b3a1d.raw
EVIL = "evil-amd64"


# -- helpers
def _download(target: str, out: Path, *extra: str, flavor: str = FLAVOR, version: str = VERSION) -> Result:
    return runner.invoke(app, ["download", target, version, "--flavor", flavor, "-o", str(out), *extra])


def _ok(target: str, out: Path, *extra: str) -> dict[str, str]:
    """Download (JSON output), assert exit 0, and return file name -> status."""
    result = _download(target, out, "--output", "json", *extra)
    assert result.exit_code == 0, result.output
    return {f["name"]: f["status"] for f in json.loads(result.stdout)["files"]}


def _text(result: Result) -> str:
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def _flavor_files(samples: Path, *suffixes: str) -> dict[str, bytes]:
    files = sorted(samples.glob(f"{PREFIX}*"))
    return {p.name: p.read_bytes() for p in files if not suffixes or p.name.endswith(suffixes)}


def _contents(directory: Path) -> dict[str, bytes]:
    """Every entry of `directory`, dot files (temporaries) included; none when it does not exist."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())} if directory.exists() else {}


def _blob(layout: Path, digest: str) -> Path:
    return layout / "gardenlinux" / "blobs" / "sha256" / digest.split(":", 1)[1]


@pytest.fixture
def layout(published_plan: tuple[Path, ReleasePlan], tmp_path: Path) -> Path:
    """A private copy of the published release 1473.0 (a test may damage it)."""
    out = tmp_path / "oci"
    shutil.copytree(published_plan[0], out)
    return out


def _evil_layout(root: Path, titles: list[str | None]) -> str:
    """A layout whose flavor `1473.0-evil-amd64` has one small layer per title (None: no title annotation)."""
    target = LayoutTarget(root)
    layers = []
    for i, title in enumerate(titles):
        data = f"file {i}\n".encode()
        layer = descriptor_for(data, "application/octet-stream")
        target.push("gardenlinux", layer, io.BytesIO(data))
        annotations = {ROLE: "raw", **({TITLE: title} if title is not None else {})}
        layers.append(layer.with_annotations(annotations).to_dict())
    target.push("gardenlinux", EMPTY_DESCRIPTOR, io.BytesIO(EMPTY_JSON))
    manifest = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                               "artifactType": "application/io.gardenlinux.flavor.v1",
                               "config": EMPTY_DESCRIPTOR.to_dict(), "layers": layers})
    desc = descriptor_for(manifest, MediaType.OCI_MANIFEST)
    target.push("gardenlinux", desc, io.BytesIO(manifest))
    target.tag("gardenlinux", desc, f"{VERSION}-{EVIL}")
    return f"oci-layout:{root}"


# -- the files, byte for byte
def test_downloads_a_flavor_whole(published: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    statuses = _ok(f"oci-layout:{published}", out)
    expected = _flavor_files(samples)
    assert len(expected) == 8 and statuses == dict.fromkeys(expected, "written")
    assert _contents(out) == expected  # and nothing else: no temporary remains


def test_downloads_only_the_roles_asked_for(published: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    statuses = _ok(f"oci-layout:{published}", out, "--role", "kernel", "--role", "rootfs")
    expected = _flavor_files(samples, ".vmlinuz", ".tar")
    assert len(expected) == 2 and _contents(out) == expected and set(statuses) == set(expected)


def test_a_second_run_writes_nothing(published: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _ok(f"oci-layout:{published}", out)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    assert set(_ok(f"oci-layout:{published}", out).values()) == {"unchanged"}
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()} == before
    table = _download(f"oci-layout:{published}", out)
    assert table.exit_code == 0 and "0 written (0 bytes), 8 unchanged" in _text(table)


def test_downloads_from_a_ctf(published: Path, samples: Path, tmp_path: Path) -> None:
    ctf = tmp_path / "release.tgz"
    copied = runner.invoke(app, ["copy", f"oci-layout:{published}", f"ctf:{ctf}", "--version", VERSION])
    assert copied.exit_code == 0, copied.output
    out = tmp_path / "out"
    _ok(f"ctf:{ctf}", out, "--role", "raw")
    assert _contents(out) == _flavor_files(samples, ".raw")


def test_the_library_reports_each_file(published: Path, tmp_path: Path) -> None:
    result = download(LayoutTarget(published, read_only=True), tmp_path / "out", version=VERSION, flavor=FLAVOR,
                      roles=("kernel",))
    [file] = result.files
    assert file.status is FileStatus.WRITTEN and file.file.role == "kernel" and file.file.name.endswith(".vmlinuz")
    assert result.reference == f"gardenlinux:{VERSION}-{FLAVOR}" and result.count(FileStatus.UNCHANGED) == 0


# -- damaged content
def test_a_tampered_blob_fails_and_leaves_no_file_and_no_temporary(layout: Path, samples: Path,
                                                                   tmp_path: Path) -> None:
    [(name, data)] = _flavor_files(samples, ".raw").items()
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    blob = _blob(layout, expected)
    tampered = bytearray(blob.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    blob.write_bytes(bytes(tampered))
    found = "sha256:" + hashlib.sha256(tampered).hexdigest()

    alone = tmp_path / "alone"
    result = _download(f"oci-layout:{layout}", alone, "--role", "raw")
    assert result.exit_code == 1, result.output
    text = _text(result)
    assert name in text and f"expected {expected}" in text and f"found {found}" in text
    assert _contents(alone) == {}  # no file, no temporary

    whole = tmp_path / "whole"
    result = _download(f"oci-layout:{layout}", whole)
    assert result.exit_code == 1 and name in _text(result)
    assert _contents(whole) == {}  # all or nothing: not even the files that matched, and no directory
    assert not whole.exists()


def test_a_truncated_blob_names_both_sizes(layout: Path, samples: Path, tmp_path: Path) -> None:
    [(name, data)] = _flavor_files(samples, ".vmlinuz").items()
    _blob(layout, "sha256:" + hashlib.sha256(data).hexdigest()).write_bytes(data[:100])
    result = _download(f"oci-layout:{layout}", tmp_path / "out", "--role", "kernel")
    assert result.exit_code == 1 and f"({len(data)} bytes), found sha256:" in _text(result)
    assert "(100 bytes)" in _text(result) and _contents(tmp_path / "out") == {}


@pytest.mark.parametrize(
    ("titles", "reason"),
    [
        (["ok", "../x"], "has a title with '..'"),
        ([".hidden"], "has a title starting with '.'"),
        (["a/b"], "has a title with a path separator"),
        (["/etc/passwd"], "has an absolute path as its title"),
        ([""], "has an empty title"),
        (["a\0b"], "has a title with a NUL byte"),
        ([None], f"has no title ({TITLE})"),
        (["same", "ok", "same"], "has the title of layers[0]"),
    ],
    ids=["dot-dot", "hidden", "slash", "absolute", "empty", "nul", "missing", "duplicate"],
)
def test_hostile_titles_are_refused_with_nothing_written(tmp_path: Path, titles: list[str | None],
                                                         reason: str) -> None:
    target, out = _evil_layout(tmp_path / "oci", titles), tmp_path / "out"
    result = _download(target, out, flavor=EVIL)
    assert result.exit_code == 1, result.output
    text = _text(result)
    assert "refusing to write its files" in text and reason in text and f"gardenlinux:{VERSION}-{EVIL}" in text
    assert not out.exists()
    assert not (tmp_path / "x").exists() and not (tmp_path / "oci" / "x").exists()


def test_every_hostile_title_is_named_at_once() -> None:
    layers = [descriptor_for(str(i).encode(), "x").with_annotations({TITLE: t}).to_dict()
              for i, t in enumerate(["../x", ".hidden", "a/b", "fine"])]
    manifest = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "layers": layers})
    with pytest.raises(VerificationError) as caught:
        flavor_files(manifest, "here")
    assert all(f"layers[{i}]" in caught.value.message for i in range(3)) and "layers[3]" not in caught.value.message


@pytest.mark.parametrize("title", ["aws-gardener_prod-amd64-1473.0-2b1b3a1d.raw", "a..b", "x" * 201, "tab\there",
                                   "back\\slash", 7])
def test_title_problem_refuses_what_is_no_plain_file_name(title: object) -> None:
    assert (title_problem(title) is None) == (title == "aws-gardener_prod-amd64-1473.0-2b1b3a1d.raw")


# -- bad input and a missing flavor
def test_an_unknown_role_lists_the_roles_the_manifest_has(published: Path, tmp_path: Path) -> None:
    result = _download(f"oci-layout:{published}", tmp_path / "out", "--role", "kernel", "--role", "kernal")
    assert result.exit_code == 2
    text = _text(result)
    assert "no file of role 'kernal'" in text and "did you mean --role kernel?" in text
    assert "its roles are: rootfs, kernel, cmdline, changelog, testlog, release-metadata, package-list, raw" in text
    assert not (tmp_path / "out").exists()


def test_a_missing_flavor_names_the_reference_and_the_nearest(published: Path, tmp_path: Path) -> None:
    result = _download(f"oci-layout:{published}", tmp_path / "out", flavor="aws-gardener_prod-amd65")
    assert result.exit_code == 1
    text = _text(result)
    assert f"{published}/gardenlinux:{VERSION}-aws-gardener_prod-amd65 not found" in text
    assert "did you mean --flavor aws-gardener_prod-amd64?" in text and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("version", "flavor", "extra", "expected"),
    [
        ("1473", FLAVOR, [], "VERSION '1473' is a bare major version"),
        ("v1473.0", FLAVOR, [], "has a 'v' prefix"),
        (VERSION, "../etc", [], "--flavor '../etc' is not CNAME-ARCH"),
        (VERSION, FLAVOR, ["--repository", "Garden/../x"], "is not an OCI repository name"),
    ],
)
def test_bad_input_exits_2(published: Path, tmp_path: Path, version: str, flavor: str, extra: list[str],
                           expected: str) -> None:
    result = _download(f"oci-layout:{published}", tmp_path / "out", *extra, flavor=flavor, version=version)
    assert result.exit_code == 2 and expected in _text(result)
    assert not (tmp_path / "out").exists()


# -- files in the way
def test_a_different_file_is_kept_unless_overwrite(published: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    [name] = _flavor_files(samples, ".raw")
    (out / name).write_bytes(b"a local image\n")
    result = _download(f"oci-layout:{published}", out)
    assert result.exit_code == 1
    assert f"{name} has 14 bytes" in _text(result) and "--overwrite" in _text(result)
    assert _contents(out) == {name: b"a local image\n"}  # nothing written, not even the other files

    statuses = _ok(f"oci-layout:{published}", out, "--overwrite")
    assert _contents(out) == _flavor_files(samples) and statuses[name] == "written"


def test_same_size_other_content_is_named_by_its_digest(published: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    [(name, data)] = _flavor_files(samples, ".vmlinuz").items()
    (out / name).write_bytes(bytes(len(data)))
    result = _download(f"oci-layout:{published}", out, "--role", "kernel")
    found = "sha256:" + hashlib.sha256(bytes(len(data))).hexdigest()
    assert result.exit_code == 1 and f"{name} has other content ({found})" in _text(result)


def test_a_directory_in_the_way_is_refused_even_with_overwrite(published: Path, samples: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    [name] = _flavor_files(samples, ".tar")
    (out / name).mkdir(parents=True)
    result = _download(f"oci-layout:{published}", out, "--overwrite")
    assert result.exit_code == 1 and f"{name} is a directory" in _text(result)
    assert [p.name for p in out.iterdir()] == [name]


def test_a_symbolic_link_in_the_way_is_replaced_not_followed(published: Path, samples: Path, tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.write_bytes(b"keep me\n")
    [(name, data)] = _flavor_files(samples, ".cmdline").items()
    (out / name).symlink_to(elsewhere)
    assert _download(f"oci-layout:{published}", out, "--role", "cmdline").exit_code == 1
    _ok(f"oci-layout:{published}", out, "--role", "cmdline", "--overwrite")
    assert not (out / name).is_symlink() and (out / name).read_bytes() == data
    assert elsewhere.read_bytes() == b"keep me\n"
