"""OCM's artifact sets: written as OCM Go writes them (its set re-packed byte for byte), read shallow and deep, and
every broken one is a problem in words, never an exception."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from gardenlinux_ocm.oci.model import Descriptor, MediaType
from gardenlinux_ocm.ocm.artifact_set import is_artifact_set, read_artifact_set, set_media_type, write_artifact_set
from support.release import DATA

# The artifact set of `ocm transfer --copy-resources` (OCM Go 0.20.0): tests/data/ocm/README.md, ctf-compat/02
ORACLE = DATA / "ocm" / "ctf-compat" / "02" / "with-resource" / "blobs" / \
    "sha256.e40e3a2f1ab1a98328dfd14539a79d27aff5c4d5c34cd16a85f0288bfa76490b"
MAIN = "sha256:62be4af3382a4493cb7f1dd4ec47bcb28f1863b615fc9e4a1dceefbe93898dd0"


def _members() -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(ORACLE.read_bytes()))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def _write(members: dict[str, bytes], *, gzipped: bool) -> tuple[bytes, Descriptor]:
    entry = json.loads(members["index.json"])["manifests"][0]
    main = Descriptor(media_type=entry["mediaType"], digest=entry["digest"], size=entry["size"])
    graph = [Descriptor(media_type="application/octet-stream", digest=name[6:].replace(".", ":", 1), size=len(data))
             for name, data in members.items() if name.startswith("blobs/")]

    @contextmanager
    def open_blob(desc: Descriptor) -> Iterator[BinaryIO]:
        yield io.BytesIO(members["blobs/" + desc.digest.replace(":", ".")])

    out = io.BytesIO()
    desc = write_artifact_set(out, main, "6.7.1", graph, open_blob, gzipped=gzipped)
    return out.getvalue(), desc


def test_repacking_ocm_gos_set_gives_its_tar_byte_for_byte() -> None:
    data, desc = _write(_members(), gzipped=False)
    assert data == gzip.decompress(ORACLE.read_bytes())
    assert desc.size == len(data) and desc.media_type == "application/vnd.oci.image.manifest.v1+tar"


def test_the_gzipped_form_is_deterministic_and_reads_back() -> None:
    first, desc = _write(_members(), gzipped=True)
    second, _ = _write(_members(), gzipped=True)
    assert first == second and desc.media_type == "application/vnd.oci.image.manifest.v1+tar+gzip"
    assert gzip.decompress(first) == gzip.decompress(ORACLE.read_bytes())
    found = read_artifact_set(io.BytesIO(first), deep=True)
    assert found.ok and found.main is not None and found.main.digest == MAIN and found.tags == ("6.7.1",)


@pytest.mark.parametrize("deep", [False, True])
def test_ocm_gos_set_reads(deep: bool) -> None:
    found = read_artifact_set(io.BytesIO(ORACLE.read_bytes()), deep=deep)
    assert found.ok, found.problems
    assert found.main is not None and found.main.digest == MAIN
    assert found.hashed is deep and (len(found.blobs) == 3 if deep else True)


def test_media_types() -> None:
    assert set_media_type(MediaType.OCI_MANIFEST) == "application/vnd.oci.image.manifest.v1+tar+gzip"
    assert set_media_type(MediaType.OCI_INDEX) == "application/vnd.oci.image.index.v1+tar+gzip"
    for media_type in ("application/vnd.oci.image.manifest.v1+tar+gzip", "application/vnd.oci.image.index.v1+tar",
                       "application/vnd.docker.distribution.manifest.v2+tar+gzip",
                       "application/vnd.ocm.software.oci.layout.v1+tar"):
        assert is_artifact_set(media_type), media_type
    for media_type in (MediaType.OCI_MANIFEST.value, "application/tar", "application/octet-stream"):
        assert not is_artifact_set(media_type), media_type


def _tampered(name: str, data: bytes | None) -> bytes:
    members = _members()
    if data is None:
        del members[name]
    else:
        members[name] = data
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


@pytest.mark.parametrize(("case", "data", "expected"), [
    ("blob changed", _tampered("blobs/sha256.fd3d24bc39ab37023193443468452911b5ba52cc32f3f955a5cd16f06402f848",
                               b"x" * 348), "holds sha256:"),
    ("main manifest missing", _tampered("blobs/sha256.62be4af3382a4493cb7f1dd4ec47bcb28f1863b615fc9e4a1dceefbe93898dd0",
                                        None), "not among its blobs"),
    ("index not JSON", _tampered("index.json", b"{"), "index.json is not JSON"),
    ("index nested too deep", _tampered("index.json", b"[" * 100_000), "index.json is not JSON"),
    ("no index", _tampered("index.json", None), "no index.json"),
    ("no main manifest", _tampered("index.json", b'{"manifests": []}'), "names no main manifest"),
    ("truncated gzip", ORACLE.read_bytes()[:5000], "not a readable artifact set"),
    ("not a tar", b"plain text, no archive", "not a readable artifact set"),
])
def test_a_broken_set_is_a_problem_in_words(case: str, data: bytes, expected: str) -> None:
    found = read_artifact_set(io.BytesIO(data), deep=True)
    assert not found.ok
    assert any(expected in p for p in found.problems), (case, found.problems)


def test_a_blob_that_is_not_its_digest_is_refused_while_writing() -> None:
    """Verify while writing: a member whose bytes changed since they were hashed stops the set."""
    from gardenlinux_ocm.errors import DigestMismatch

    members = _members()
    name = "blobs/sha256.fd3d24bc39ab37023193443468452911b5ba52cc32f3f955a5cd16f06402f848"
    members[name] = b"x" * len(members[name])
    with pytest.raises(DigestMismatch, match="hashing to sha256:"):
        _write(members, gzipped=False)
