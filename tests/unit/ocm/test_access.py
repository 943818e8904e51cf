"""References as other tools write them: a URL scheme in front (OCM v1 after a transfer to a plain-HTTP registry)
names the same registry, and re-pointing a copy drops it."""

from __future__ import annotations

import pytest

from gardenlinux_ocm.ocm.access import parse_image_reference, rebase_descriptor, strip_scheme

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("scheme", ["", "http://", "https://", "oci://", "HTTP://"])
def test_a_scheme_names_the_same_reference(scheme: str) -> None:
    ref = parse_image_reference(f"{scheme}127.0.0.1:5000/mirror/gardenlinux:1473.0@{DIGEST}")
    assert ref is not None
    assert (ref.host, ref.repository, ref.tag, ref.digest) == ("127.0.0.1:5000", "mirror/gardenlinux", "1473.0",
                                                               DIGEST)


def test_strip_scheme_leaves_other_text() -> None:
    assert strip_scheme("ghcr.io/gardenlinux/gardenlinux") == "ghcr.io/gardenlinux/gardenlinux"
    assert strip_scheme("http://ghcr.io/x") == "ghcr.io/x"
    assert parse_image_reference("http://gardenlinux:1473.0") is None  # still no host


def test_rebase_moves_references_with_a_scheme_and_drops_it() -> None:
    descriptor = {"component": {"resources": [
        {"name": "a", "access": {"type": "ociArtifact", "imageReference": f"http://old:5000/m/gl:1@{DIGEST}"}},
        {"name": "b", "access": {"type": "ociArtifact", "imageReference": f"other.io/gl:1@{DIGEST}"}},
    ]}}
    out, changed = rebase_descriptor(descriptor, "old:5000/m", "new.io/p")
    assert changed
    assert [r["access"]["imageReference"] for r in out["component"]["resources"]] == [
        f"new.io/p/gl:1@{DIGEST}", f"other.io/gl:1@{DIGEST}"]
    assert descriptor["component"]["resources"][0]["access"]["imageReference"].startswith("http://")  # not mutated


def test_lenient_reads_ocm_v2s_nulls_and_empty_digests_as_absent() -> None:
    from gardenlinux_ocm.trust.verify import lenient

    empty = {"hashAlgorithm": "", "normalisationAlgorithm": "", "value": ""}
    descriptor = {"meta": {"schemaVersion": "v2"}, "component": {
        "name": "x", "version": "1", "sources": None, "componentReferences": [{"name": "r", "digest": empty}],
        "repositoryContexts": None, "resources": [{"name": "a", "labels": None, "digest": empty}]}}
    out, changed = lenient(descriptor)
    assert out["component"]["sources"] == [] and out["component"]["repositoryContexts"] == []
    assert "digest" not in out["component"]["componentReferences"][0]
    assert "digest" not in out["component"]["resources"][0] and "labels" not in out["component"]["resources"][0]
    assert set(changed) == {"sources: null", "repositoryContexts: null", "componentReferences[r].digest: empty",
                            "resources[a].digest: empty"}
    assert descriptor["component"]["sources"] is None  # the descriptor itself is not changed
