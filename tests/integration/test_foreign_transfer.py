"""A release that OCM's own tools transferred still verifies, and what is really wrong still fails.

The shapes are built by hand from what the OCM CLIs were seen to write (`support.foreign`; provenance in
tests/data/ocm-shapes/README.md): OCM v1 `transfer --copy-resources` to a registry (ociBlob -> localBlob, ociArtifact
re-uploaded with `http://` in front, no referrers, no `.sig` tags), the same into a CTF (everything a localBlob, OCI
artefacts as artifact sets), and OCM v2's `transfer` by reference (null lists, empty digests, JSON descriptors). Each
runs on an OCI layout, a CTF and two registries (distribution 2.8 and v3); the release is signed, and verify runs
with `--deep --public-key`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.target import Target
from gardenlinux_ocm.ocm.access import LOCAL_BASE
from gardenlinux_ocm.ocm.fetch import fetch_component
from gardenlinux_ocm.targets import open_source, open_target
from support import foreign
from support.consumers import RELEASE
from support.registry import RegistryServer
from support.release import VERSION, publish_args

pytestmark = pytest.mark.registry
runner = CliRunner()
DESTINATIONS = ["layout", "registry", "registry_v3"]


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _report(*args: str, code: int = 0) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(_cli("verify", *args, "--output", "json", code=code))
    return report


def _statuses(report: dict[str, Any], kind: str) -> list[str]:
    return [c["status"] for c in report["checks"] if c["kind"] == kind]


@pytest.fixture(scope="module")
def signed(samples: Path, key_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample release published and signed (OCM and cosign format) into an OCI layout, by reference."""
    out = tmp_path_factory.mktemp("signed") / "oci"
    _cli(*publish_args(samples, f"oci-layout:{out}", "--sign-key", str(key_files[0])))
    return out


@pytest.fixture
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Path | None]]:
    """(target text, base the shape's references name, storage directory for tampering)."""
    kind: str = request.param
    if kind == "layout":
        yield f"oci-layout:{tmp_path / 'copy'}", LOCAL_BASE, tmp_path / "copy"
        return
    server: RegistryServer = request.getfixturevalue(kind)
    prefix = f"{server.host}/{tmp_path.name.replace('_', '-').lower()}"
    yield prefix, prefix, server.storage


@contextmanager
def _opened(text: str) -> Iterator[Target]:
    target = open_target(text)
    try:
        yield target
    finally:
        close = getattr(target, "close", None)
        if callable(close):
            close()


def _v1(signed: Path, to: str, base: str, edit: foreign.Edit | None = None) -> None:
    scheme = "" if base == LOCAL_BASE else "http://"
    with _opened(to) as dst:
        foreign.v1_transfer(open_source(f"oci-layout:{signed}"), LOCAL_BASE, dst, base, scheme=scheme,
                            **({"edit": edit} if edit else {}))


def _local_blob(to: str, name: str = "rootfs") -> str:
    cv = fetch_component(open_source(to), RELEASE, VERSION)
    res = next(r for r in cv.descriptor["component"]["resources"] if r["name"] == name)
    assert res["access"]["type"] == "localBlob", res["access"]
    return str(res["access"]["localReference"])


def _blob_files(storage: Path, digest: str) -> list[Path]:
    """Where a blob's bytes are stored: in a layout (every repository's link), a CTF, or a registry's storage."""
    hex_ = digest.split(":", 1)[1]
    return [p for p in storage.rglob("*") if p.is_file() and (p.name in (hex_, f"sha256.{hex_}")
                                                             or (p.name == "data" and p.parent.name == hex_))]


def _tamper(files: list[Path]) -> None:
    assert files
    for path in files:
        size = path.stat().st_size
        path.unlink()  # a layout hard-links a blob between repositories: replace every name of it
        path.write_bytes(b"\x00" * size)


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_v1_transfer_verifies_with_warnings(signed: Path, destination: tuple[str, str, Path | None],
                                            key_files: tuple[Path, Path]) -> None:
    to, base, _ = destination
    _v1(signed, to, base)
    cv = fetch_component(open_source(to), RELEASE, VERSION)
    accesses = {r["access"]["type"] for r in cv.descriptor["component"]["resources"]}
    assert "ociBlob" not in accesses and "localBlob" in accesses
    if base != LOCAL_BASE:  # cause 3: the scheme OCM v1 writes in front of a plain-HTTP registry
        assert any(str(r["access"].get("imageReference", "")).startswith(f"http://{base}/")
                   for r in cv.descriptor["component"]["resources"])
    report = _report(to, "--deep", "--public-key", str(key_files[1]))
    assert report["ok"]
    assert _statuses(report, "referrer") == ["warning", "warning"]  # cause 2: OCM does not carry referrers
    signatures = [c for c in report["checks"] if c["kind"] == "signature"]
    assert any(c["status"] == "ok" and not c["detail"].startswith("cosign:") for c in signatures)
    assert all(c["status"] == "warning" for c in signatures if c["detail"].startswith("cosign:"))
    failed = _report(to, "--require-referrers", code=1)
    assert [c["kind"] for c in failed["checks"] if c["status"] == "failed"] == ["referrer", "referrer"]


def _wrong_digest(descriptor: dict[str, Any]) -> dict[str, Any]:
    for res in descriptor["component"]["resources"]:
        if res["name"] == "release-index":
            res["digest"]["value"] = "0" * 64
    return descriptor


def _broken_signature(descriptor: dict[str, Any]) -> dict[str, Any]:
    if descriptor["component"]["name"] == RELEASE:
        sig = descriptor["signatures"][0]["signature"]
        sig["value"] = ("00" if not sig["value"].startswith("00") else "11") + sig["value"][2:]
    return descriptor


@pytest.mark.parametrize("edit", [_wrong_digest, _broken_signature], ids=["wrong-digest", "broken-signature"])
@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_v1_transfer_still_fails_on_what_is_wrong(signed: Path, destination: tuple[str, str, Path | None],
                                                   key_files: tuple[Path, Path],
                                                   edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    to, base, _ = destination
    _v1(signed, to, base, edit)
    report = _report(to, "--public-key", str(key_files[1]), code=1)
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    if edit is _wrong_digest:
        assert any(c["kind"] == "resource" and "digest mismatch" in c["detail"] for c in failed)
    assert any(c["kind"] == "signature" and not c["detail"].startswith("cosign:") for c in failed)


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_v1_transfer_tampered_or_missing_blob_fails(signed: Path, destination: tuple[str, str, Path | None],
                                                    key_files: tuple[Path, Path]) -> None:
    to, base, storage = destination
    assert storage is not None
    _v1(signed, to, base)
    digest = _local_blob(to)
    _tamper(_blob_files(storage, digest))
    report = _report(to, "--deep", "--public-key", str(key_files[1]), code=1)
    assert any(c["kind"] == "content" and c["status"] == "failed" for c in report["checks"])
    for path in _blob_files(storage, digest):
        path.unlink()
    report = _report(to, code=1)  # shallow: a missing blob fails without reading anything
    assert any(c["kind"] == "resource" and c["status"] == "failed" and digest in c["detail"]
               for c in report["checks"])


@pytest.mark.parametrize("form", ["ctf", "ctf.tgz"])
def test_v1_transfer_into_a_ctf_verifies_and_fails_when_tampered(signed: Path, tmp_path: Path, form: str,
                                                                 key_files: tuple[Path, Path]) -> None:
    """OCM v1 `transfer --copy-resources` into a CTF: everything a localBlob, the flavors as artifact sets."""
    to = f"ctf:{tmp_path / form}"
    with _opened(to) as dst:
        foreign.v1_transfer_ctf(open_source(f"oci-layout:{signed}"), LOCAL_BASE, dst)
    source = open_source(to)
    assert [r for r in source.repositories() if not r.startswith("component-descriptors/")] == []
    report = _report(to, "--deep", "--public-key", str(key_files[1]))
    assert _statuses(report, "referrer") == ["warning", "warning"]
    sets = [c for c in report["checks"] if c["kind"] == "resource" and "an artifact set of" in c["detail"]]
    assert len(sets) >= 26 + 1  # every flavor manifest and the release index, their sets re-hashed
    if form == "ctf":  # a directory: tamper with the set of the release index
        cv = fetch_component(source, RELEASE, VERSION)
        res = next(r for r in cv.descriptor["component"]["resources"] if r["name"] == "release-index")
        _tamper(_blob_files(tmp_path / form, res["access"]["localReference"]))
        report = _report(to, "--deep", code=1)
        assert any(c["kind"] == "resource" and c["status"] == "failed" and "artifact set" in c["detail"]
                   for c in report["checks"])


@pytest.mark.parametrize("destination", ["registry", "registry_v3"], indirect=True)
def test_a_ctf_we_wrote_transferred_by_ocm_to_a_registry_verifies(samples: Path, tmp_path: Path,
                                                                  destination: tuple[str, str, Path | None],
                                                                  key_files: tuple[Path, Path]) -> None:
    """Cause 1: the CTF of `publish --to ctf:` resolves from inside (every resource a localBlob), and the air-gap
    path OCM users take, `ocm transfer ctf CTF REGISTRY`, gives a release that verifies."""
    ctf = f"ctf:{tmp_path / 'gardenlinux-1473.0.tgz'}"
    _cli(*publish_args(samples, ctf, "--sign-key", str(key_files[0])))
    cv = fetch_component(open_source(ctf), RELEASE, VERSION)
    assert {r["access"]["type"] for r in cv.descriptor["component"]["resources"]
            if r.get("relation") == "local"} == {"localBlob"}
    to, base, _ = destination
    with _opened(to) as dst:
        foreign.v1_transfer(open_source(ctf), LOCAL_BASE, dst, base, scheme="http://")
    report = _report(to, "--deep", "--public-key", str(key_files[1]))
    assert _statuses(report, "referrer") == ["warning", "warning"]
    assert _statuses(report, "index") and set(_statuses(report, "index")) == {"ok"}


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_v2_transfer_by_reference_verifies(signed: Path, samples: Path, destination: tuple[str, str, Path | None],
                                           key_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Cause 4: null lists and JSON descriptors; the accesses still name where the release was published (the
    layout itself, or another prefix of the registry)."""
    to, base, _ = destination
    if base == LOCAL_BASE:
        shutil.copytree(signed, tmp_path / "copy")
        origin = f"oci-layout:{signed}"
    else:
        origin = f"{to}-published"
        _cli(*publish_args(samples, origin, "--sign-key", str(key_files[0])))
    with _opened(to) as dst:
        foreign.v2_transfer(open_source(origin), dst)
    cv = fetch_component(open_source(to), RELEASE, VERSION)
    assert cv.descriptor["component"]["repositoryContexts"] is None
    assert cv.descriptor_layer.media_type == foreign.V2_ENCODING
    report = _report(to, "--deep", "--public-key", str(key_files[1]))
    schema = [c for c in report["checks"] if c["kind"] == "schema"]
    assert [c["status"] for c in schema] == ["ok", "ok"]
    assert all("repositoryContexts: null" in c["detail"] for c in schema)
    assert any(c["kind"] == "signature" and c["status"] == "ok" and not c["detail"].startswith("cosign:")
               for c in report["checks"])


def test_v2_empty_reference_digest_is_a_named_warning(samples: Path, tmp_path: Path) -> None:
    """An unsigned release through OCM v2: the reference's digest is `{hashAlgorithm: "", …}`, a warning that
    names what the signature does not cover, never `unsupported hash algorithm ''`."""
    published = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{published}"))
    to = f"oci-layout:{tmp_path / 'v2'}"
    shutil.copytree(published, tmp_path / "v2")
    with _opened(to) as dst:
        foreign.v2_transfer(open_source(f"oci-layout:{published}"), dst)
    report = _report(to, "--deep")
    digest = [c for c in report["checks"] if c["kind"] == "digest"]
    assert [c["status"] for c in digest] == ["warning"]
    assert "does not cover github.com/gardenlinux/gardenlinux/container-images:1473.0" in digest[0]["detail"]
    assert "unsupported hash algorithm" not in json.dumps(report)


def test_copy_of_a_transferred_release_names_the_referrers_it_cannot_carry(signed: Path, registry: RegistryServer,
                                                                         tmp_path: Path,
                                                                         key_files: tuple[Path, Path]) -> None:
    """`gl-ocm copy` of what OCM v1 transferred: the referrers are gone from the source, so the copy cannot restore
    them; it says so for each, copies the rest (re-pointing the `http://` references), and the copy verifies."""
    base = f"{registry.host}/{tmp_path.name.replace('_', '-').lower()}"
    _v1(signed, base, base)
    copied = f"oci-layout:{tmp_path / 'copied'}"
    result = runner.invoke(app, ["copy", base, copied])
    assert result.exit_code == 0, result.output
    warnings = " ".join(result.output.split()).split("warning: ")[1:]
    assert len(warnings) == 2 and all("cannot be copied" in w for w in warnings), result.output
    cv = fetch_component(open_source(copied), RELEASE, VERSION)
    assert not [r for r in cv.descriptor["component"]["resources"] if "http://" in json.dumps(r["access"])]
    report = _report(copied, "--deep", "--public-key", str(key_files[1]))
    assert _statuses(report, "referrer") == ["warning", "warning"]


@pytest.mark.parametrize("server", ["registry", "registry_v3"])
def test_ctfs_ocm_wrote_verify_and_copy_to_a_registry(signed: Path, samples: Path, tmp_path: Path, server: str,
                                                      request: pytest.FixtureRequest,
                                                      key_files: tuple[Path, Path]) -> None:
    """Reading what OCM writes: a CTF of OCM v1's `transfer --copy-resources` (artifact sets, no OCI artefacts
    beside them) and one of OCM v2 (JSON descriptors, null lists) from our transport CTF; both verify, and `gl-ocm
    copy` puts each on a registry where it verifies again."""
    registry: RegistryServer = request.getfixturevalue(server)
    v1 = f"ctf:{tmp_path / 'v1'}"
    with _opened(v1) as dst:
        foreign.v1_transfer_ctf(open_source(f"oci-layout:{signed}"), LOCAL_BASE, dst)
    ours = f"ctf:{tmp_path / 'ours.tgz'}"
    _cli(*publish_args(samples, ours, "--sign-key", str(key_files[0])))
    v2 = f"ctf:{tmp_path / 'v2'}"
    with _opened(v2) as dst:
        foreign.v2_transfer(open_source(ours), dst)
    for name, ctf in (("v1", v1), ("v2", v2)):
        report = _report(ctf, "--deep", "--public-key", str(key_files[1]))
        assert report["ok"], name
        mirror = f"{registry.host}/{tmp_path.name.replace('_', '-').lower()}-{name}"
        _cli("copy", ctf, mirror)
        report = _report(mirror, "--deep", "--public-key", str(key_files[1]))
        assert any(c["kind"] == "resource" and "an artifact set of" in c["detail"] for c in report["checks"]), name


@pytest.mark.parametrize("edit", [_wrong_digest, _broken_signature], ids=["wrong-digest", "broken-signature"])
@pytest.mark.parametrize("shape", ["v1-ctf", "v2-layout", "v2-registry"])
def test_the_other_shapes_still_fail_on_what_is_wrong(signed: Path, samples: Path, tmp_path: Path, shape: str,
                                                      registry: RegistryServer, key_files: tuple[Path, Path],
                                                      edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A wrong resource digest or a broken signature fails in a CTF of OCM v1's and after OCM v2's transfer."""
    if shape == "v1-ctf":
        to = f"ctf:{tmp_path / 'v1.tgz'}"
        with _opened(to) as dst:
            foreign.v1_transfer_ctf(open_source(f"oci-layout:{signed}"), LOCAL_BASE, dst, edit=edit)
    else:
        if shape == "v2-layout":
            shutil.copytree(signed, tmp_path / "copy")
            origin, to = f"oci-layout:{signed}", f"oci-layout:{tmp_path / 'copy'}"
        else:
            to = f"{registry.host}/{tmp_path.name.replace('_', '-').lower()}"
            origin = f"{to}-published"
            _cli(*publish_args(samples, origin, "--sign-key", str(key_files[0])))
        with _opened(to) as dst:
            foreign.v2_transfer(open_source(origin), dst, edit=lambda d: edit(foreign.v2_nulls(d)))
    report = _report(to, "--public-key", str(key_files[1]), code=1)
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    if edit is _wrong_digest:
        assert any(c["kind"] == "resource" and "digest mismatch" in c["detail"] for c in failed), failed
    assert any(c["kind"] == "signature" and not c["detail"].startswith("cosign:") for c in failed), failed
