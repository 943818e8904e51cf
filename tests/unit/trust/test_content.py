"""The graph walk of verify(): malformed manifests of every class, sizes from a stat, a `Sizer` or presence only."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.oci.sizes import SizeSource, size_source, stored_size
from gardenlinux_ocm.trust.content import ContentWalker, manifest_children

REPO = "repo"
LAYER = b"layer bytes"
CONFIG = b"{}"


def _push(target: MemoryTarget | LayoutTarget, data: bytes, media_type: str) -> Descriptor:
    desc = descriptor_for(data, media_type)
    target.push(REPO, desc, io.BytesIO(data))
    return desc


def _image(target: MemoryTarget | LayoutTarget) -> Descriptor:
    config = _push(target, CONFIG, MediaType.OCI_CONFIG)
    layer = _push(target, LAYER, MediaType.OCI_LAYER_TAR)
    manifest = {"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "config": config.to_dict(),
                "layers": [layer.to_dict()]}
    return _push(target, canonical_json(manifest), MediaType.OCI_MANIFEST)


# every class of malformed manifest, each stored under its own (correct) digest
_VALID_CONFIG = descriptor_for(CONFIG, MediaType.OCI_CONFIG).to_dict()
MALFORMED: dict[str, tuple[Any, str]] = {
    "not JSON": (b"\x00not json", "not JSON"),
    "truncated JSON": (canonical_json({"schemaVersion": 2, "config": _VALID_CONFIG})[:-9], "not JSON"),
    "a list": ([1, 2], "not a JSON object but a list"),
    "no layers": ({"schemaVersion": 2, "config": _VALID_CONFIG}, "no `layers` list"),
    "layers not a list": ({"config": _VALID_CONFIG, "layers": {"a": 1}}, "no `layers` list"),
    "config a string": ({"config": "x", "layers": []}, "`config` is not a descriptor object"),
    "config missing": ({"layers": []}, "`config` is not a descriptor object"),
    "layer a number": ({"config": _VALID_CONFIG, "layers": [5]}, "`layers[0]` is not a descriptor object"),
    "layer without digest": ({"config": _VALID_CONFIG, "layers": [{"size": 1}]}, "no valid sha256 digest"),
    "bad annotations": ({"config": {**_VALID_CONFIG, "annotations": ["x"]}, "layers": []}, "malformed annotations"),
    "wrong mediaType": ({"mediaType": MediaType.OCI_INDEX, "config": _VALID_CONFIG, "layers": []},
                        "its mediaType is 'application/vnd.oci.image.index.v1+json', its descriptor says "
                        "'application/vnd.oci.image.manifest.v1+json'"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_every_malformed_manifest_is_a_problem_naming_it(case: str) -> None:
    content, expected = MALFORMED[case]
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    target = MemoryTarget()
    _push(target, CONFIG, MediaType.OCI_CONFIG)
    desc = _push(target, data, MediaType.OCI_MANIFEST)
    with pytest.raises(ValueError, match=re.escape(expected)):
        manifest_children(desc, data)
    result = ContentWalker(target, deep=False).check(REPO, desc)
    [problem] = result.problems
    assert problem.startswith(f"{REPO}@{desc.digest}: malformed manifest: ") and expected in problem


def test_an_index_needs_a_manifests_list() -> None:
    desc = descriptor_for(b'{"mediaType":"application/vnd.oci.image.index.v1+json"}', MediaType.OCI_INDEX)
    with pytest.raises(ValueError, match="no `manifests` list"):
        manifest_children(desc, b'{"mediaType":"application/vnd.oci.image.index.v1+json"}')


def test_a_whole_image_passes_and_counts_every_object() -> None:
    target = MemoryTarget()
    manifest = _image(target)
    for deep in (False, True):
        result = ContentWalker(target, deep=deep).check(REPO, manifest)
        assert result.ok and result.objects == 3
        assert result.size == manifest.size + len(CONFIG) + len(LAYER)


def test_layout_sizes_come_from_a_stat(tmp_path: Path) -> None:
    target = LayoutTarget(tmp_path)
    manifest = _image(target)
    layer = descriptor_for(LAYER, MediaType.OCI_LAYER_TAR)
    assert size_source(target) is SizeSource.LAYOUT
    assert stored_size(target, REPO, layer) == len(LAYER)
    assert stored_size(target, "other", layer) is None
    assert stored_size(target, "../escape", layer) is None
    (tmp_path / REPO / "blobs" / "sha256" / layer.hex).write_bytes(LAYER[:4])
    walker = ContentWalker(target, deep=False)
    assert walker.sizes_seen
    [problem] = walker.check(REPO, manifest).problems
    assert problem == f"{REPO}@{layer.digest} is 4 bytes, its descriptor says {len(LAYER)}"
    (tmp_path / REPO / "blobs" / "sha256" / layer.hex).unlink()
    [problem] = ContentWalker(target, deep=False).check(REPO, manifest).problems
    assert problem == f"{REPO}@{layer.digest} ({len(LAYER)} bytes) not found"
    [problem] = ContentWalker(target, deep=True).check(REPO, manifest).problems
    assert problem.startswith(f"{REPO}@{layer.digest}: unreadable: ")


class _Sized(MemoryTarget):
    """A target that reports sizes itself (a registry answering HEAD), here one that is always 1 byte short."""

    def size(self, repository: str, descriptor: Descriptor) -> int | None:
        return descriptor.size - 1 if self.exists(repository, descriptor) else None


def test_a_sizer_answers_for_itself_and_others_report_presence() -> None:
    sized, plain = _Sized(), MemoryTarget()
    layer = _push(sized, LAYER, MediaType.OCI_LAYER_TAR)
    _push(plain, LAYER, MediaType.OCI_LAYER_TAR)
    assert size_source(sized) is SizeSource.TARGET and stored_size(sized, REPO, layer) == len(LAYER) - 1
    assert size_source(plain) is SizeSource.PRESENCE and stored_size(plain, REPO, layer) == len(LAYER)
    assert not ContentWalker(plain, deep=False).sizes_seen
    assert stored_size(plain, "other", layer) is None


def test_a_manifest_whose_bytes_differ_from_its_digest() -> None:
    target = MemoryTarget()
    manifest = _image(target)
    claimed = Descriptor(media_type=manifest.media_type, digest=manifest.digest, size=manifest.size + 1)
    [problem] = ContentWalker(target, deep=False).check(REPO, claimed).problems
    assert problem == (f"{REPO}@{manifest.digest} ({manifest.size + 1} bytes) hashes to {manifest.digest} "
                       f"({manifest.size} bytes)")
