"""Broken OCI archives: each is refused by `gl-ocm publish` with exit 2 before the first write, naming the archive
and the member or blob and what is wrong, without a traceback."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm.artefacts.archive import ArchiveError, read_container_archive
from gardenlinux_ocm.artefacts.samples import container_image_members, deterministic_tar
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, VERSION, refused_publish

AMD = "container-amd64-1473.0-2b1b3a1d.oci"
ARM = "container-arm64-1473.0-2b1b3a1d.oci"
Members = list[tuple[str, bytes]]


def _members(arch: str = "amd64") -> Members:
    """The members of the sample archive, in archive order: oci-layout, index.json, manifest, config, layer."""
    spec = load_release(COMPONENTS, VERSION)
    return container_image_members(spec, next(c for c in spec.containers if c.arch == arch))


def _get(members: Members, name: str) -> bytes:
    return next(data for n, data in members if n == name)


def _set(members: Members, name: str, data: bytes, new_name: str | None = None) -> Members:
    return [(new_name or n, data) if n == name else (n, d) for n, d in members]


def _drop(members: Members, name: str) -> Members:
    return [(n, d) for n, d in members if n != name]


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _index(members: Members) -> dict[str, Any]:
    index: dict[str, Any] = json.loads(_get(members, "index.json"))
    return index


def _manifest_name(members: Members) -> str:
    return _blob(_index(members)["manifests"][0]["digest"])


def _manifest(members: Members) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(_get(members, _manifest_name(members)))
    return manifest


def _with_manifest(members: Members, manifest: bytes) -> Members:
    """Replace the manifest blob (under its new digest) and point index.json at it."""
    index = _index(members)
    entry = index["manifests"][0]
    out = _set(members, _manifest_name(members), manifest, _blob(_digest(manifest)))
    entry["digest"], entry["size"] = _digest(manifest), len(manifest)
    return _set(out, "index.json", json.dumps(index).encode())


def _edit_manifest(members: Members, edit: Callable[[dict[str, Any]], None]) -> Members:
    manifest = _manifest(members)
    edit(manifest)
    return _with_manifest(members, json.dumps(manifest).encode())


def _with_config(members: Members, config: bytes) -> Members:
    """Replace the config blob, and the manifest and index.json that point at it."""
    manifest = _manifest(members)
    out = _set(members, _blob(manifest["config"]["digest"]), config, _blob(_digest(config)))
    manifest["config"]["digest"], manifest["config"]["size"] = _digest(config), len(config)
    return _with_manifest(out, json.dumps(manifest).encode())


def _layer_name(members: Members) -> str:
    return _blob(_manifest(members)["layers"][0]["digest"])


def _write(artefacts: Path, members: Members, name: str = AMD) -> Path:
    path = artefacts / name
    path.write_bytes(deterministic_tar(members))
    return path


# -- the tar itself


def test_not_a_tar(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / AMD).write_bytes(b"this is not a tar archive at all" * 40)
    refused_publish(artefacts, tmp_path, f"{AMD}: is not an uncompressed OCI archive (a tar)")


def test_compressed_archive(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / AMD).write_bytes(gzip.compress(deterministic_tar(_members()), mtime=0))
    refused_publish(artefacts, tmp_path, f"{AMD}: is gzip-compressed; an OCI archive is an uncompressed tar")


def _layer_member(data: bytes) -> tarfile.TarInfo:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmember(_layer_name(_members()))


def test_truncated_inside_a_member(artefacts: Path, tmp_path: Path) -> None:
    data = deterministic_tar(_members())
    layer = _layer_member(data)
    (artefacts / AMD).write_bytes(data[: layer.offset_data + layer.size // 2])
    refused_publish(artefacts, tmp_path, f"{AMD}: is truncated")


def test_truncated_between_members(artefacts: Path, tmp_path: Path) -> None:
    data = deterministic_tar(_members())
    layer = _layer_member(data)
    (artefacts / AMD).write_bytes(data[: layer.offset])  # the layer's header and data are gone
    name = _layer_name(_members())
    refused_publish(
        artefacts, tmp_path, f"{AMD}: layer sha256:{name[13:]} is referenced, but the archive has no {name}"
    )


def test_corrupt_header_size_is_not_read_into_memory(artefacts: Path, tmp_path: Path) -> None:
    data = bytearray(deterministic_tar([("x" * 200, b"a long name needs a pax header"), *_members()]))
    assert data[156:157] == b"x"  # the first header is the pax header of the long name
    data[124:136] = b"%011o\0" % (1 << 32)  # its size field now claims 4 GiB
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    (artefacts / AMD).write_bytes(data)
    refused_publish(artefacts, tmp_path, f"{AMD}: is not an uncompressed OCI archive (a tar): a tar header claims")


@pytest.mark.parametrize("member", ["../escaped", "/etc/escaped", "blobs/sha256/../../../escaped"])
def test_member_escaping_the_archive(artefacts: Path, tmp_path: Path, member: str) -> None:
    _write(artefacts, [*_members(), (member, b"x")])
    refused_publish(artefacts, tmp_path, f"{AMD}: member '{member}' escapes the archive")


def test_duplicate_member(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    layer = _layer_name(members)
    _write(artefacts, [*members, (layer, b"a different layer")])
    refused_publish(artefacts, tmp_path, f"{AMD}: member {layer} appears more than once")


def test_symlink_member(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    layer = _layer_name(members)
    buf = io.BytesIO(deterministic_tar(_drop(members, layer)))
    with tarfile.open(fileobj=buf, mode="a") as tar:  # the layer as a link to a file outside the archive
        info = tarfile.TarInfo(layer)
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    (artefacts / AMD).write_bytes(buf.getvalue())
    refused_publish(artefacts, tmp_path, f"{AMD}: member {layer} is a symbolic link (to /etc/passwd)")


def test_members_outside_the_layout_are_ignored(artefacts: Path) -> None:
    members = _members()
    buf = io.BytesIO(deterministic_tar([*members, ("manifest.json", b"[]")]))
    with tarfile.open(fileobj=buf, mode="a") as tar:  # as `docker save` links its legacy layer paths to the blobs
        info = tarfile.TarInfo("0123abcd/layer.tar")
        info.type, info.linkname = tarfile.SYMTYPE, "../" + _layer_name(members)
        tar.addfile(info)
    (artefacts / AMD).write_bytes(buf.getvalue())
    assert (
        read_container_archive(artefacts / AMD, "amd64").blobs[-1][0].digest
        == _manifest(members)["layers"][0]["digest"]
    )


def test_badly_named_blob(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, [*_members(), ("blobs/sha256/NOT-HEX", b"x"), ("blobs/sha512/" + "a" * 128, b"y")])
    text = refused_publish(artefacts, tmp_path, f"{AMD}: member blobs/sha256/NOT-HEX is not named blobs/sha256/<64 hex")
    assert "blobs/sha512/" in text


# -- the blobs: every one is hashed during the scan


def test_tampered_layer(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    layer = _layer_name(members)
    data = bytearray(_get(members, layer))
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    _write(artefacts, _set(members, layer, bytes(data)))
    refused_publish(artefacts, tmp_path, f"{AMD}: layer sha256:{layer[13:]}: its content hashes to", "tampered")


def test_tampered_config(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    config = _blob(_manifest(members)["config"]["digest"])
    _write(artefacts, _set(members, config, _get(members, config).replace(b"amd64", b"arm64")))
    refused_publish(artefacts, tmp_path, f"{AMD}: config sha256:{config[13:]}: its content hashes to")


def test_tampered_manifest(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    manifest = _manifest_name(members)
    tampered = _get(members, manifest).replace(b'"schemaVersion":2', b'"schemaVersion":3')
    assert len(tampered) == len(_get(members, manifest)) and tampered != _get(members, manifest)
    _write(artefacts, _set(members, manifest, tampered))
    refused_publish(
        artefacts, tmp_path, f"{AMD}: manifest sha256:{manifest[13:]}: its content hashes to {_digest(tampered)}"
    )


def test_tampered_blob_nothing_references(artefacts: Path, tmp_path: Path) -> None:
    stray = _blob(_digest(b"original"))
    _write(artefacts, [*_members(), (stray, b"tampered")])
    refused_publish(
        artefacts, tmp_path, f"{AMD}: blob sha256:{stray[13:]}: its content hashes to {_digest(b'tampered')}"
    )


def test_blob_absent(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    layer = _layer_name(members)
    _write(artefacts, _drop(members, layer))
    refused_publish(
        artefacts, tmp_path, f"{AMD}: layer sha256:{layer[13:]} is referenced, but the archive has no {layer}"
    )


def test_blob_size_differs_from_descriptor(artefacts: Path, tmp_path: Path) -> None:
    members = _edit_manifest(_members(), lambda m: m["layers"][0].update(size=m["layers"][0]["size"] + 1))
    _write(artefacts, members)
    refused_publish(artefacts, tmp_path, f"{AMD}: layer sha256:", "its descriptor says")


def test_every_broken_archive_reported_at_once(artefacts: Path, tmp_path: Path) -> None:
    for name, arch in ((AMD, "amd64"), (ARM, "arm64")):
        members = _members(arch)
        _write(artefacts, _set(members, _layer_name(members), b"x" * len(_get(members, _layer_name(members)))), name)
    refused_publish(artefacts, tmp_path, "2 problem(s)", f"{AMD}: layer", f"{ARM}: layer")


# -- the JSON: oci-layout, index.json, manifests, config


def test_index_json_missing(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _drop(_members(), "index.json"))
    refused_publish(artefacts, tmp_path, f"{AMD}: has no index.json, so it is not an OCI image layout")


def test_oci_layout_missing(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _drop(_members(), "oci-layout"))
    refused_publish(artefacts, tmp_path, f"{AMD}: has no oci-layout")


def test_index_json_not_json(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _set(_members(), "index.json", b'{"schemaVersion": 2, "manifests": ['))
    refused_publish(artefacts, tmp_path, f"{AMD}: index.json is not valid JSON")


def test_index_json_without_manifests(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _set(_members(), "index.json", b'{"schemaVersion": 2}'))
    refused_publish(artefacts, tmp_path, f"{AMD}: index.json has no 'manifests' list")


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, None])
def test_malformed_digest_in_index(artefacts: Path, tmp_path: Path, digest: str | None) -> None:
    members = _members()
    index = _index(members)
    index["manifests"][0]["digest"] = digest
    _write(artefacts, _set(members, "index.json", json.dumps(index).encode()))
    refused_publish(artefacts, tmp_path, f"{AMD}: index.json manifests[0]: descriptor has no valid sha256 digest")


def test_malformed_digest_of_a_layer(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _edit_manifest(_members(), lambda m: m["layers"][0].update(digest="sha256:0123")))
    refused_publish(artefacts, tmp_path, "layers[0]: descriptor has no valid sha256 digest: 'sha256:0123'")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is nested deeper than 64 levels"),
        (b"[]", "is JSON but not an object"),
    ],
)
def test_manifest_not_json(artefacts: Path, tmp_path: Path, manifest: bytes, expected: str) -> None:
    _write(artefacts, _with_manifest(_members(), manifest))
    refused_publish(artefacts, tmp_path, f"{AMD}: manifest {_digest(manifest)} {expected}")


def test_manifest_without_config(artefacts: Path, tmp_path: Path) -> None:
    members = _edit_manifest(_members(), lambda m: m.pop("config"))
    _write(artefacts, members)
    refused_publish(artefacts, tmp_path, f"{AMD}: manifest sha256:", "has no config")


def test_manifest_without_layers(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _edit_manifest(_members(), lambda m: m.pop("layers")))
    refused_publish(artefacts, tmp_path, f"{AMD}: manifest sha256:", "has no 'layers' list")


def test_manifest_schema_version(artefacts: Path, tmp_path: Path) -> None:
    _write(artefacts, _edit_manifest(_members(), lambda m: m.update(schemaVersion=1)))
    refused_publish(artefacts, tmp_path, "schemaVersion is 1, not 2")


def test_manifest_media_type_differs_from_its_descriptor(artefacts: Path, tmp_path: Path) -> None:
    _write(
        artefacts, _edit_manifest(_members(), lambda m: m.update(mediaType="application/vnd.oci.image.index.v1+json"))
    )
    refused_publish(artefacts, tmp_path, "mediaType is 'application/vnd.oci.image.index.v1+json', its descriptor says")


@pytest.mark.parametrize(("part", "expected"), [("config", "not an image config"), ("layer", "not an image layer")])
def test_wrong_media_type(artefacts: Path, tmp_path: Path, part: str, expected: str) -> None:
    def edit(m: dict[str, Any]) -> None:
        (m["config"] if part == "config" else m["layers"][0])["mediaType"] = "application/json"

    _write(artefacts, _edit_manifest(_members(), edit))
    refused_publish(artefacts, tmp_path, f"has media type 'application/json', {expected}")


def test_index_entry_not_a_manifest(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    index = _index(members)
    index["manifests"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    _write(artefacts, _set(members, "index.json", json.dumps(index).encode()))
    refused_publish(artefacts, tmp_path, "index.json manifests[0] sha256:", "not an image manifest or index")


def test_config_not_json(artefacts: Path, tmp_path: Path) -> None:
    config = b"architecture: amd64\n"
    _write(artefacts, _with_config(_members(), config))
    refused_publish(artefacts, tmp_path, f"{AMD}: config {_digest(config)} is not valid JSON")


def test_config_without_architecture_and_rootfs(artefacts: Path, tmp_path: Path) -> None:
    config = json.dumps({"os": "linux"}).encode()
    _write(artefacts, _with_config(_members(), config))
    refused_publish(artefacts, tmp_path, f"{AMD}: config {_digest(config)} has no architecture", "has no rootfs")


def test_config_diff_ids_do_not_match_layers(artefacts: Path, tmp_path: Path) -> None:
    members = _members()
    config = json.loads(_get(members, _blob(_manifest(members)["config"]["digest"])))
    config["rootfs"]["diff_ids"].append(config["rootfs"]["diff_ids"][0])
    _write(artefacts, _with_config(members, json.dumps(config).encode()))
    refused_publish(artefacts, tmp_path, "lists 2 diff_ids for 1 layer(s)")


# -- the reader itself


def test_archive_error_lists_every_problem_of_one_archive(tmp_path: Path) -> None:
    members = _members()
    layer, config = _layer_name(members), _blob(_manifest(members)["config"]["digest"])
    stray = (_blob(_digest(b"a")), b"b")
    broken = [*_set(_set(members, layer, b"x" * len(_get(members, layer))), config, b"{}"), stray]
    with pytest.raises(ArchiveError) as info:
        read_container_archive(_write(tmp_path, broken), "amd64")
    assert [p.split(" ", 1)[0] for p in info.value.problems] == ["config", "layer", "blob"]  # each blob once
    assert "its descriptor says" in info.value.problems[0]
    assert info.value.message.startswith(f"{tmp_path / AMD}: 3 problems:")


def test_good_archive_keeps_its_digests(samples: Path) -> None:
    members = _members()
    image = read_container_archive(samples / AMD, "amd64")
    assert image.manifest.digest == _index(members)["manifests"][0]["digest"]
    assert [d.digest for d, _ in image.blobs] == [
        _manifest(members)["config"]["digest"],
        *(layer["digest"] for layer in _manifest(members)["layers"]),
    ]
    with (samples / AMD).open("rb") as f:
        for d, rng in image.blobs:
            f.seek(rng.offset)
            assert _digest(f.read(rng.size)) == d.digest
