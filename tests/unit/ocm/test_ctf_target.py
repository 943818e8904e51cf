"""CtfTarget on real files, in its three forms: what copy() writes reads back with CtfArchive, a second copy writes
nothing, bytes are deterministic and laid out as OCM Go 0.20 lays them out, failures leave nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gardenlinux_ocm.errors import DigestMismatch, NotFound, TargetError
from gardenlinux_ocm.oci.copy import CopyRoot, CopyStats, copy
from gardenlinux_ocm.oci.copy.changes import OnChange
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.oci.sizes import SizeSource, size_source, stored_size
from gardenlinux_ocm.oci.target import ReadOnlyTarget, Target
from gardenlinux_ocm.ocm._ctf_index import Artifact, ArtifactIndex
from gardenlinux_ocm.ocm._ctf_tar import pack, unpack
from gardenlinux_ocm.ocm.archives import CtfArchive
from gardenlinux_ocm.ocm.ctf import CtfForm, CtfTarget
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.trust.verify import verify
from support.artefact import artefact
from support.release import DATA

ORACLE = DATA / "ocm" / "ctf-compat" / "01"
ORACLE_REPO = "component-descriptors/github.com/acme.org/helloworld"
REPO = "gardenlinux"
CD_REPO = "component-descriptors/github.com/gardenlinux/gardenlinux"
FORMS = ["dir", "tar", "tgz"]
_NAMES = {"dir": "ctf", "tar": "ctf.tar", "tgz": "ctf.tgz"}
_ORACLE_FORMS = {"dir": "transport-archive", "tar": "transport-archive.tar", "tgz": "transport-archive.tar.gz"}


# -- helpers
def _source(layer: bytes = b"gardenlinux layer") -> tuple[MemoryTarget, list[CopyRoot]]:
    """Two repositories sharing the empty config blob, and an index over the first one's manifest."""
    src = MemoryTarget()
    roots = []
    for repository, data in ((REPO, layer), (CD_REPO, b"component descriptor")):
        layer_desc, config, manifest_desc, manifest = artefact(data)
        for desc, body in ((layer_desc, data), (config, b"{}"), (manifest_desc, manifest)):
            src.push(repository, desc, io.BytesIO(body))
        roots.append(CopyRoot(repository=repository, descriptor=manifest_desc, tags=("1473.0",)))
    index = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX,
                            "manifests": [roots[0].descriptor.to_dict()]})
    index_desc = descriptor_for(index, MediaType.OCI_INDEX)
    src.push(REPO, index_desc, io.BytesIO(index))
    roots.append(CopyRoot(repository=REPO, descriptor=index_desc, tags=("latest", "1473")))
    return src, roots


def _publish(
    path: Path, src: ReadOnlyTarget, roots: list[CopyRoot], *, jobs: int = 4, on_change: OnChange = OnChange.FAIL
) -> CopyStats:
    with CtfTarget(path) as target:
        return copy(src, target, roots, jobs=jobs, on_change=on_change)


def _state(path: Path) -> dict[str, bytes]:
    """Every file of a CTF directory, or the archive itself, with its bytes."""
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return {path.name: path.read_bytes()} if path.exists() else {}


def _leftovers(root: Path) -> list[str]:
    """Hidden files and directories below `root`: temporaries and working directories."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*"))


def _expected_tags(roots: list[CopyRoot]) -> dict[tuple[str, str], str]:
    return {(r.repository, t): r.descriptor.digest for r in roots for t in r.tags}


def _read_back(path: Path) -> dict[tuple[str, str], str]:
    archive = CtfArchive(path)
    return {(repo, tag): archive.resolve(repo, tag).digest for repo in archive.repositories()
            for tag in archive.tags(repo)}


def _tar_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


# -- copy() into each form, read back
@pytest.mark.parametrize("form", FORMS)
def test_copy_reads_back_with_ctf_archive(form: str, tmp_path: Path) -> None:
    src, roots = _source()
    path = tmp_path / _NAMES[form]
    stats = _publish(path, src, roots)
    assert stats.tags_set == 4 and stats.blobs_pushed == 3  # the config is stored once for both repositories
    assert _read_back(path) == _expected_tags(roots)
    assert _leftovers(tmp_path) == []
    assert path.is_dir() == (form == "dir")
    if form != "dir":
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == (form == "tgz")
    archive = CtfArchive(path)
    for repository, digest in src.pushes:  # every blob and manifest, byte for byte
        desc = Descriptor(media_type="application/octet-stream", digest=digest, size=0)
        with archive.fetch(repository, desc) as f, src.fetch(repository, desc) as g:
            assert f.read() == g.read()
    index = json.loads(_state(path).get("artifact-index.json") or _member(path, "artifact-index.json"))
    keys = [(a["repository"], a["tag"]) for a in index["artifacts"]]
    assert keys == sorted(keys) and len(keys) == 4


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


@pytest.mark.parametrize("form", FORMS)
def test_second_copy_writes_nothing_and_leaves_the_bytes(form: str, tmp_path: Path) -> None:
    src, roots = _source()
    path = tmp_path / _NAMES[form]
    _publish(path, src, roots)
    before, stat = _state(path), path.stat()
    again = _publish(path, src, roots)
    assert again.wrote_nothing and again.tags_unchanged == 4
    assert _state(path) == before
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("form", FORMS)
def test_two_fresh_runs_give_identical_bytes(form: str, tmp_path: Path) -> None:
    src, roots = _source()
    first, second = tmp_path / "a" / _NAMES[form], tmp_path / "b" / _NAMES[form]
    _publish(first, src, roots, jobs=1)
    _publish(second, src, list(roots), jobs=8)
    assert _state(first) == _state(second) and _state(first)


@pytest.mark.parametrize("form", FORMS)
def test_a_tag_move_rewrites_the_index(form: str, tmp_path: Path) -> None:
    src, roots = _source()
    path = tmp_path / _NAMES[form]
    _publish(path, src, roots)
    moved_src, moved = _source(b"the next build")
    stats = _publish(path, moved_src, moved[:1], on_change=OnChange.OVERWRITE)
    assert stats.tags_set == 1 and stats.blobs_pushed == 1
    expected = {**_expected_tags(roots), (REPO, "1473.0"): moved[0].descriptor.digest}
    assert _read_back(path) == expected
    index = _state(path).get("artifact-index.json") or _member(path, "artifact-index.json")
    artifacts = [Artifact(repository=r, tag=t, digest=d) for (r, t), d in expected.items()]
    assert index == ArtifactIndex(artifacts=tuple(artifacts)).to_bytes()


# -- failures leave nothing behind
def _corrupt_source(tmp_path: Path) -> tuple[LayoutTarget, list[CopyRoot], str]:
    """A layout whose gardenlinux layer was overwritten with other bytes of the same size."""
    memory, roots = _source()
    layout = LayoutTarget(tmp_path / "src")
    copy(memory, layout, roots)
    layer = artefact(b"gardenlinux layer")[0]
    blob = tmp_path / "src" / REPO / "blobs" / "sha256" / layer.hex
    blob.write_bytes(b"X" * layer.size)
    return layout, roots, layer.digest


@pytest.mark.parametrize("form", FORMS)
def test_a_digest_mismatch_leaves_no_partial_blob_and_no_archive(form: str, tmp_path: Path) -> None:
    layout, roots, bad = _corrupt_source(tmp_path)
    out = tmp_path / "out"
    path = out / _NAMES[form]
    with pytest.raises(DigestMismatch, match=bad):
        _publish(path, layout, roots)
    assert _leftovers(out) == []
    if form != "dir":
        assert list(out.iterdir()) == []
        return
    assert not (path / "artifact-index.json").exists()
    blobs = list((path / "blobs").iterdir())
    assert f"sha256.{bad.split(':')[1]}" not in [b.name for b in blobs]
    for blob in blobs:
        assert f"sha256.{hashlib.sha256(blob.read_bytes()).hexdigest()}" == blob.name


def _tar_of(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("index", "problem"), [
    (b"{not json", "is not valid JSON"),
    (b"[]", "not an object"),
    (b'{"schemaVersion":1,"artifacts":{}}', "has no `artifacts` list"),
    (b'{"schemaVersion":2,"artifacts":[]}', "schemaVersion 2"),
    (b'{"schemaVersion":1,"artifacts":[{"tag":"1.0","digest":"sha256:00"}]}', r"artifacts\[0\]: no `repository`"),
    (b'{"schemaVersion":1,"artifacts":[{"repository":"r","tag":7,"digest":"sha256:00"}]}', "is not a string"),
    (b'{"schemaVersion":1,"artifacts":[{"repository":"r","tag":"1","digest":"sha256:aa"},'
     b'{"repository":"r","tag":"1","digest":"sha256:bb"}]}', "r:1 is listed twice"),
])
def test_a_corrupt_index_is_refused_before_anything_is_written(
    form: str, index: bytes, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / _NAMES[form]
    if form == "dir":
        path.mkdir()
        (path / "artifact-index.json").write_bytes(index)
    else:
        _tar_of(tmp_path / "plain.tar", {"artifact-index.json": index})
        data = (tmp_path / "plain.tar").read_bytes()
        path.write_bytes(gzip.compress(data) if form == "tgz" else data)
        (tmp_path / "plain.tar").unlink()
    before, mtime = _state(path), path.stat().st_mtime_ns
    src, roots = _source()
    with pytest.raises(TargetError, match=problem) as info:
        _publish(path, src, roots)
    assert str(path) in info.value.message and "artifact-index.json" in info.value.message
    assert _state(path) == before and path.stat().st_mtime_ns == mtime
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("kind", "problem"), [
    ("dotdot", "leaves the archive"), ("absolute", "absolute name"), ("symlink", "symbolic link"),
    ("hardlink", "hard link"), ("device", "device"), ("stray", "is not part of a CTF"),
])
def test_unsafe_members_are_refused(kind: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "ctf.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo({"dotdot": "blobs/../../evil", "absolute": "/etc/evil"}.get(kind, "blobs/sha256.aa"))
        if kind == "stray":
            info.name = "README"
        info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE}.get(
            kind, tarfile.REGTYPE)
        info.linkname = "/etc/passwd" if kind in ("symlink", "hardlink") else ""
        tar.addfile(info, io.BytesIO(b"") if info.type == tarfile.REGTYPE else None)
    before = path.read_bytes()
    with pytest.raises(TargetError, match=problem) as info_:
        _publish(path, *_source())
    assert str(path) in info_.value.message
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["ctf.tar"]
    assert not (tmp_path.parent / "evil").exists()


def test_an_exception_inside_with_leaves_the_archive(tmp_path: Path) -> None:
    path = shutil.copy(ORACLE / "transport-archive.tar", tmp_path / "ctf.tar")
    before, mtime = Path(path).read_bytes(), Path(path).stat().st_mtime_ns
    src, roots = _source()
    with pytest.raises(RuntimeError), CtfTarget(path) as target:
        copy(src, target, roots)
        raise RuntimeError("the caller failed after the copy")
    assert Path(path).read_bytes() == before and Path(path).stat().st_mtime_ns == mtime
    assert _leftovers(tmp_path) == []


def test_reading_only_writes_no_archive(tmp_path: Path) -> None:
    with CtfTarget(tmp_path / "new.tgz") as target:
        assert target.repositories() == [] and target.tags(REPO) == []
        with pytest.raises(NotFound):
            target.resolve(REPO, "1473.0")
    assert list(tmp_path.iterdir()) == []


# -- the OCM oracle: seeded archives keep its entries, our layout is its layout
@pytest.mark.parametrize("form", FORMS)
def test_seeded_from_the_oracle_keeps_its_entries(form: str, tmp_path: Path) -> None:
    oracle = ORACLE / _ORACLE_FORMS[form]
    path = tmp_path / _NAMES[form]
    if form == "dir":
        shutil.copytree(oracle, path)
    else:
        shutil.copy(oracle, path)
    theirs = _read_back(oracle)
    src, roots = _source()
    _publish(path, src, roots)
    assert _read_back(path) == {**theirs, **_expected_tags(roots)}
    cv = fetch_component(CtfArchive(path), "github.com/acme.org/helloworld", "1.0.0")
    with CtfArchive(path).fetch(cv.repository, cv.layers[0]) as f:
        assert f.read() == b"test"
    report = verify(CtfArchive(path), "github.com/acme.org/helloworld", deep=True)
    assert report.ok, report.failures
    assert _leftovers(tmp_path) == []


def _layout(tar_bytes: bytes) -> list[tuple[object, ...]]:
    """Each member's layout: name (blobs as `blobs/*`), type, mode, uid, gid, user, group, mtime, magic, PAX."""
    out: list[tuple[object, ...]] = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for m in tar:
            magic = tar_bytes[m.offset + 257:m.offset + 265]
            name = "blobs/*" if m.name.startswith("blobs/") else m.name
            out.append((name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime, magic, bool(m.pax_headers)))
    return out


@pytest.mark.parametrize("form", ["tar", "tgz"])
def test_the_member_layout_is_the_oracles(form: str, tmp_path: Path) -> None:
    path = tmp_path / _NAMES[form]
    _publish(path, *_source())
    ours, theirs = _tar_bytes(path), (ORACLE / "transport-archive.tar").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(ours)) as tar:
        names = tar.getnames()
    assert names[:2] == ["artifact-index.json", "blobs"] and names[2:] == sorted(names[2:]) and len(names) == 8
    layout, oracle = _layout(ours), _layout(theirs)
    assert layout[:2] == oracle[:2] and set(layout[2:]) == set(oracle[2:]) == {
        ("blobs/*", tarfile.REGTYPE, 0o644, 0, 0, "", "", 1640995200, b"ustar\x0000", False)}
    assert len(ours) % 512 == 0 and ours[-1024:] == bytes(1024) and ours[-1536:-1024] != bytes(512)
    if form == "tgz":  # no file name, mtime 0, as for the oracle's tar.gz apart from its mtime field
        assert path.read_bytes()[:10] == bytes.fromhex("1f8b08000000000000ff")
        assert (ORACLE / "transport-archive.tar.gz").read_bytes()[3] == 0  # no FNAME there either


@pytest.mark.parametrize("form", ["tar", "tgz"])
def test_repacking_the_oracle_reproduces_its_tar(form: str, tmp_path: Path) -> None:
    oracle = ORACLE / _ORACLE_FORMS[form]
    unpack(oracle, tmp_path)
    out = io.BytesIO()
    pack(tmp_path, out, gzipped=False)
    assert out.getvalue() == _tar_bytes(oracle)


def test_index_bytes_reproduce_the_oracle() -> None:
    data = (ORACLE / "transport-archive" / "artifact-index.json").read_bytes()
    [entry] = json.loads(data)["artifacts"]
    built = ArtifactIndex().with_tag(entry["repository"], entry["tag"], entry["digest"])
    assert built.to_bytes() == data == ArtifactIndex.from_json(data, "oracle").to_bytes()


def test_index_sorting_and_escapes() -> None:
    d = ["sha256:" + c * 64 for c in "abc"]
    index = ArtifactIndex(artifacts=(
        Artifact(repository="b", tag="1.0", digest=d[0]), Artifact(repository="a", tag="z", digest=d[1]),
        Artifact(repository="a", digest=d[2]), Artifact(repository="a", tag="1.0", digest=d[0]),
        Artifact(repository="a<&>", tag="x", digest=d[0]),
    ))
    assert json.loads(index.to_bytes())["artifacts"] == [  # by repository, then tag; untagged under @<digest>
        {"repository": "a", "tag": "1.0", "digest": d[0]}, {"repository": "a", "digest": d[2]},
        {"repository": "a", "tag": "z", "digest": d[1]}, {"repository": "a<&>", "tag": "x", "digest": d[0]},
        {"repository": "b", "tag": "1.0", "digest": d[0]}]
    assert b'"a\\u003c\\u0026\\u003e"' in index.to_bytes()
    tagged = index.with_tag("a", "2.0", d[2])  # the untagged entry of that digest becomes the tag
    assert [a for a in tagged.artifacts if a.repository == "a" and a.digest == d[2]] == [
        Artifact(repository="a", tag="2.0", digest=d[2])]
    assert ArtifactIndex().to_bytes() == b'{"schemaVersion":1,"artifacts":null}'  # OCM Go's empty index
    assert ArtifactIndex.from_json(ArtifactIndex().to_bytes(), "empty") == ArtifactIndex()


# -- the target's own contract
@pytest.mark.parametrize("form", FORMS)
def test_target_contract(form: str, tmp_path: Path) -> None:
    src, roots = _source()
    path = tmp_path / _NAMES[form]
    with CtfTarget(path) as target:
        assert isinstance(target, Target) and size_source(target) is SizeSource.TARGET
        assert target.name == f"ctf:{path}" and target.form is CtfForm(form.replace("dir", "directory"))
        copy(src, target, roots)
        config = artefact(b"")[1]
        assert target.exists("any/other/repository", config)  # one blob store for every repository
        assert stored_size(target, REPO, config) == 2 and target.size(REPO, artefact(b"absent")[0]) is None
        assert target.resolve(REPO, "latest") == roots[2].descriptor
        assert target.resolve(REPO, roots[0].descriptor.digest) == roots[0].descriptor
        assert target.tags(REPO) == ["1473", "1473.0", "latest"] and target.repositories() == [CD_REPO, REPO]
        for bad in ("../escape", "/absolute", "a/../b", ""):
            with pytest.raises(TargetError, match="invalid repository name"):
                target.push(bad, config, io.BytesIO(b"{}"))
        with pytest.raises(NotFound, match="is not stored"):
            target.tag(REPO, artefact(b"absent")[2], "x")
        with pytest.raises(TargetError, match="not a valid OCI tag"):
            target.tag(REPO, roots[0].descriptor, "-bad")
        with pytest.raises(NotFound):
            target.resolve(REPO, "9.9")
    target.close()  # closing twice does nothing
    with pytest.raises(TargetError, match="is closed"):
        target.tags(REPO)
    assert not (tmp_path / "escape").exists() and _leftovers(tmp_path) == []


def test_a_large_blob_streams_through_every_form(tmp_path: Path) -> None:
    layer = os.urandom(3 << 20) + b"tail"  # crosses the 1 MiB chunks
    src, roots = _source(layer)
    for form in FORMS:
        path = tmp_path / _NAMES[form]
        _publish(path, src, roots)
        desc = artefact(layer)[0]
        with CtfArchive(path).fetch(REPO, desc) as f:
            assert hashlib.sha256(f.read()).hexdigest() == desc.hex


def test_the_form_follows_the_name() -> None:
    assert [CtfForm.of(Path(n)) for n in ("a", "a.tar", "a.tar.gz", "a.TGZ", "a.tar.d", "dir.gz")] == [
        CtfForm.DIRECTORY, CtfForm.TAR, CtfForm.TGZ, CtfForm.TGZ, CtfForm.DIRECTORY, CtfForm.DIRECTORY]


def test_a_file_where_a_directory_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ctf").write_bytes(b"x")
    (tmp_path / "ctf.tar").mkdir()
    for name in ("ctf", "ctf.tar"):
        with pytest.raises(TargetError, match="is a (file|directory)"):
            _publish(tmp_path / name, *_source())


def test_concurrent_taggers_of_one_directory_keep_every_tag(tmp_path: Path) -> None:
    """Each tagger locks the index it replaces; one that waited on a replaced file starts again on the new one."""
    src, roots = _source()
    path = tmp_path / "ctf"
    _publish(path, src, roots)
    manifest = roots[0].descriptor
    targets = [CtfTarget(path) for _ in range(8)]

    def tag_many(n: int) -> None:
        for i in range(10):
            targets[n].tag(REPO, manifest, f"t{n}-{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(tag_many, range(8)))
    assert set(CtfArchive(path).tags(REPO)) >= {f"t{n}-{i}" for n in range(8) for i in range(10)}
    assert _leftovers(tmp_path) == []
