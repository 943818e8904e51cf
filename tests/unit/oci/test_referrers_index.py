"""The referrers tag schema and the fallback index (distribution-spec v1.1), and listing through a layout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gardenlinux_ocm.errors import TargetError
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import EMPTY_DESCRIPTOR, EMPTY_JSON, MediaType, descriptor_for
from gardenlinux_ocm.oci.referrers import (
    Attachment,
    Via,
    fallback_index,
    fallback_indexes,
    fallback_tag,
    list_referrers,
    merged_fallback_index,
    referrer_entry,
    referrer_manifest,
)

SUBJECT = descriptor_for(b'{"schemaVersion":2}', MediaType.OCI_MANIFEST)
LAYER = descriptor_for(b"sbom", "application/vnd.cyclonedx+json")


def _referrer(title: str) -> bytes:
    return referrer_manifest(artifact_type="application/vnd.cyclonedx+json", layers=[LAYER], subject=SUBJECT,
                             annotations={"org.opencontainers.image.title": title})


def test_the_fallback_tag_is_the_digest_with_a_dash() -> None:
    assert fallback_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32


def test_a_referrer_manifest_names_its_subject_and_type_and_its_entry_carries_them() -> None:
    data = _referrer("a.sbom")
    doc = json.loads(data)
    assert doc["subject"] == {"mediaType": MediaType.OCI_MANIFEST, "digest": SUBJECT.digest, "size": SUBJECT.size}
    assert doc["config"] == EMPTY_DESCRIPTOR.to_dict() and doc["layers"] == [LAYER.to_dict()]
    entry = referrer_entry(data)
    assert entry.digest == descriptor_for(data, "").digest and entry.size == len(data)
    assert entry.artifact_type == "application/vnd.cyclonedx+json"
    assert entry.annotation_map == {"org.opencontainers.image.title": "a.sbom"}


def test_an_entry_without_artifact_type_takes_the_config_media_type() -> None:
    data = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                       "config": {"mediaType": "application/x-cfg", "digest": EMPTY_DESCRIPTOR.digest, "size": 2},
                       "layers": []}).encode()
    assert referrer_entry(data).artifact_type == "application/x-cfg"


def test_merging_keeps_what_is_listed_adds_the_rest_and_writes_nothing_when_all_are_there() -> None:
    ours, theirs = referrer_entry(_referrer("a.sbom")), referrer_entry(_referrer("b.sbom"))
    merged = merged_fallback_index([theirs], [ours, theirs])
    assert merged is not None
    assert [m["digest"] for m in json.loads(merged)["manifests"]] == [theirs.digest, ours.digest]
    assert merged_fallback_index([theirs, ours], [ours]) is None
    assert merged == fallback_index([theirs, ours])


def _layout_with_subject(tmp_path: Path) -> LayoutTarget:
    target = LayoutTarget(tmp_path / "oci")
    target.push("r", EMPTY_DESCRIPTOR, io.BytesIO(EMPTY_JSON))
    subject = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                          "config": EMPTY_DESCRIPTOR.to_dict(), "layers": []}).encode()
    desc = descriptor_for(subject, MediaType.OCI_MANIFEST)
    target.tag("r", desc, "v1", subject)
    return target


def test_a_layout_lists_referrers_through_the_fallback_tag_and_merging_keeps_another_clients(tmp_path: Path) -> None:
    target = _layout_with_subject(tmp_path)
    subject = target.resolve("r", "v1")
    assert list_referrers(target, "r", subject).entries == ()
    other = referrer_entry(_referrer("other.sbom"))
    first = fallback_indexes(target, [Attachment(repository="r", subject=subject, entries=(other,))])
    assert first.api == frozenset() and len(first.roots) == 1
    index = first.roots[0]
    assert index.tags == (fallback_tag(subject.digest),)
    with first.source.fetch("r", index.descriptor) as f:
        target.push("r", index.descriptor, f)
    target.tag("r", index.descriptor, index.tags[0])
    found = list_referrers(target, "r", subject)
    assert found.via is Via.TAG and [e.digest for e in found.entries] == [other.digest]
    ours = referrer_entry(_referrer("ours.sbom"))
    second = fallback_indexes(target, [Attachment(repository="r", subject=subject, entries=(ours,))])
    with second.source.fetch("r", second.roots[0].descriptor) as f:
        listed = [m["digest"] for m in json.loads(f.read())["manifests"]]
    assert listed == [other.digest, ours.digest]
    again = fallback_indexes(target, [Attachment(repository="r", subject=subject, entries=(other,))])
    assert again.roots == ()


def test_a_fallback_tag_that_holds_something_else_is_refused(tmp_path: Path) -> None:
    target = _layout_with_subject(tmp_path)
    subject = target.resolve("r", "v1")
    target.tag("r", subject, fallback_tag(subject.digest))  # a manifest, not an index
    with pytest.raises(TargetError, match="instead of an image index"):
        list_referrers(target, "r", subject)
