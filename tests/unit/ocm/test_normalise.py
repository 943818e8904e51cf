"""Golden tests for descriptor normalisation: byte-for-byte against OCM Go's vectors, and against gardener-ocm."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import ocm
import ocm.sign
import pytest
import yaml

from gardenlinux_ocm.errors import SigningError
from gardenlinux_ocm.ocm.normalise import NormalisationAlgorithm, descriptor_digest, normalise
from support.release import DATA

OCM_REFERENCE = DATA / "ocm"
VECTORS = json.loads((OCM_REFERENCE / "normalisation" / "ocm-go-norm_test-vectors.json").read_text(encoding="utf-8"))
CONFORMANCE = OCM_REFERENCE / "normalisation" / "v4alpha1-conformance-legacy-v3-01"
CONFORMANCE_SHA256 = "c97c44a4dca9fc85d4e634a617b662f72935cc202d52a46aa9367c937458b35b"
SIGNED_FIXTURE = (
    OCM_REFERENCE / "signing" / "ocm-go-compat-rsa-pkcs1v15" / "component-archive" / "component-descriptor.yaml"
)


def _vector_input(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VECTORS["inputs"][name])
    return loaded


def _minimal(**component: Any) -> dict[str, Any]:
    """A small valid v2 descriptor; keyword arguments replace or add component fields."""
    base: dict[str, Any] = {
        "name": "example.org/gardenlinux/test",
        "version": "1.0.0",
        "provider": "gardenlinux",
        "repositoryContexts": [],
        "sources": [],
        "componentReferences": [],
        "resources": [],
    }
    return {"meta": {"schemaVersion": "v2"}, "component": {**base, **component}}


@pytest.mark.parametrize("key", sorted(VECTORS["expected"]))
def test_ocm_go_vectors(key: str) -> None:
    name, algorithm = key.split("/", 1)
    assert normalise(_vector_input(name), algorithm) == VECTORS["expected"][key].encode("utf-8")


@pytest.mark.parametrize("algorithm", ["jsonNormalisation/v1", "jsonNormalisation/v2", "jsonNormalisation/v3"])
def test_transport_volatile_fields_do_not_change_the_normalised_form(algorithm: str) -> None:
    # cd2 differs from cd1 only in repositoryContexts, access and a non-signing label attribute.
    assert normalise(_vector_input("cd2"), algorithm) == VECTORS["expected"][f"cd1/{algorithm}"].encode("utf-8")


def test_v4alpha1_conformance_vector() -> None:
    descriptor = yaml.safe_load((CONFORMANCE / "input.yaml").read_text(encoding="utf-8"))
    expected = (CONFORMANCE / "expected.json").read_bytes()
    assert normalise(descriptor, "jsonNormalisation/v4alpha1") == expected
    assert normalise(descriptor) == expected  # v3 is the default and the same bytes
    assert hashlib.sha256(expected).hexdigest() == CONFORMANCE_SHA256
    assert descriptor_digest(descriptor, NormalisationAlgorithm.JSON_V4ALPHA1) == CONFORMANCE_SHA256


def test_signed_fixture_digest_needs_the_older_v1_variant() -> None:
    descriptor = yaml.safe_load(SIGNED_FIXTURE.read_text(encoding="utf-8"))
    recorded = descriptor["signatures"][0]["digest"]
    assert recorded["normalisationAlgorithm"] == "jsonNormalisation/v1"
    older = descriptor_digest(
        descriptor, "jsonNormalisation/v1", recorded["hashAlgorithm"], legacy_v1_extra_identity=True
    )
    assert older == recorded["value"] == "b06e4c1a68274b876661f9fbf1f100526d289745f6ee847bfef702007b5b14cf"
    # Today's OCM Go v1 writes `extraIdentity: null` and so no longer reproduces the recorded digest.
    today = descriptor_digest(descriptor, "jsonNormalisation/v1", "sha256")
    assert today == "cceaa5732057ec335dd6c104db3d99c4d47e7635af7734ddb779912c414c6be8"


def test_changed_resource_version_changes_the_digest() -> None:
    descriptor = yaml.safe_load(SIGNED_FIXTURE.read_text(encoding="utf-8"))
    tampered = copy.deepcopy(descriptor)
    tampered["component"]["resources"][0]["version"] = "1.0.1"
    for algorithm in NormalisationAlgorithm:
        assert descriptor_digest(tampered, algorithm) != descriptor_digest(descriptor, algorithm)


def test_normalise_does_not_mutate_its_input() -> None:
    descriptor = _vector_input("duplicate_resource_cd")
    before = copy.deepcopy(descriptor)
    for algorithm in NormalisationAlgorithm:
        normalise(descriptor, algorithm)
    assert descriptor == before


def test_unknown_algorithm_lists_the_supported_ones() -> None:
    with pytest.raises(SigningError) as info:
        normalise(_minimal(), "jsonNormalisation/v9")
    text = str(info.value)
    assert "jsonNormalisation/v9" in text
    assert all(a.value in text for a in NormalisationAlgorithm)


def test_descriptor_without_component_is_rejected() -> None:
    with pytest.raises(SigningError, match="component"):
        normalise({"meta": {"schemaVersion": "v2"}})


def test_hash_algorithm_names_are_case_insensitive() -> None:
    descriptor = _minimal()
    data = normalise(descriptor)
    sha256 = hashlib.sha256(data).hexdigest()
    for name in ("SHA-256", "sha256", "sha-256", "SHA256"):
        assert descriptor_digest(descriptor, hash_algorithm=name) == sha256
    assert descriptor_digest(descriptor, hash_algorithm="SHA-512") == hashlib.sha512(data).hexdigest()
    with pytest.raises(SigningError, match="MD5"):
        descriptor_digest(descriptor, hash_algorithm="MD5")


def test_empty_optional_fields_are_dropped_like_go_omitempty() -> None:
    bare = {"name": "rootfs", "version": "1.0.0", "type": "ociImage", "relation": "local", "access": {"type": "x"}}
    noisy = {**bare, "extraIdentity": {}, "labels": None, "digest": None, "srcRefs": []}
    plain = _minimal(resources=[bare])
    with_nulls = _minimal(resources=[noisy], labels=[], creationTime=None)
    assert normalise(with_nulls) == normalise(plain)
    assert normalise(plain) == (
        b'{"component":{"componentReferences":[],"name":"example.org/gardenlinux/test",'
        b'"provider":{"name":"gardenlinux"},"resources":[{"name":"rootfs","relation":"local","type":"ociImage",'
        b'"version":"1.0.0"}],"sources":[],"version":"1.0.0"}}'
    )
    # v1 forces an absent extraIdentity to null; the legacy variant leaves it out.
    assert b'{"extraIdentity":null}' in normalise(with_nulls, "jsonNormalisation/v1")
    assert b"extraIdentity" not in normalise(with_nulls, "jsonNormalisation/v1", legacy_v1_extra_identity=True)


def test_provider_forms_normalise_alike() -> None:
    as_name = normalise(_minimal(provider="gardenlinux"))
    assert normalise(_minimal(provider='{"name": "gardenlinux"}')) == as_name
    assert normalise(_minimal(provider={"name": "gardenlinux"})) == as_name
    labelled = {
        "name": "gardenlinux",
        "labels": [{"name": "a", "value": 1, "signing": True}, {"name": "b", "value": 2}],
    }
    expected_v3 = b'"provider":{"labels":[{"name":"a","signing":true,"value":1}],"name":"gardenlinux"}'
    assert expected_v3 in normalise(_minimal(provider=labelled))
    assert expected_v3 in normalise(_minimal(provider=json.dumps(labelled)))
    # v1 keeps a label-less provider as its plain name and turns a labelled one into an object.
    assert b'{"provider":"gardenlinux"}' in normalise(
        _minimal(provider={"name": "gardenlinux"}), "jsonNormalisation/v1"
    )
    assert b'{"provider":[{"labels":[[{"name":"a"},{"signing":true},{"value":1}]]},{"name":"gardenlinux"}]}' in (
        normalise(_minimal(provider=json.dumps(labelled)), "jsonNormalisation/v1")
    )


def test_component_reference_labels_are_all_hashed_in_v3_but_filtered_in_v1() -> None:
    ref = {
        "name": "kernel",
        "componentName": "example.org/gardenlinux/kernel",
        "version": "6.6.0",
        "labels": [{"name": "note", "value": "not signed"}],
    }
    descriptor = _minimal(componentReferences=[ref])
    # OCM's exclusion rule is keyed `references`, which never matches `componentReferences`.
    assert b'"labels":[{"name":"note","value":"not signed"}]' in normalise(descriptor)
    assert b"note" not in normalise(descriptor, "jsonNormalisation/v1")


def test_none_access_drops_the_digest() -> None:
    digest = {"hashAlgorithm": "SHA-256", "normalisationAlgorithm": "genericBlobDigest/v1", "value": "ab"}
    res = {"name": "doc", "version": "1.0.0", "type": "plainText", "relation": "local", "digest": digest}
    with_access = normalise(_minimal(resources=[{**res, "access": {"type": "localBlob", "localReference": "x"}}]))
    without = normalise(_minimal(resources=[{**res, "access": {"type": "none"}}]))
    assert b"genericBlobDigest/v1" in with_access
    assert b"digest" not in without


def test_creation_time_is_utc_rounded_to_seconds() -> None:
    later = normalise(_minimal(creationTime="2025-03-01T13:00:00.6+01:00"))
    assert b'"creationTime":"2025-03-01T12:00:01Z"' in later


def test_v1_escapes_html_like_go() -> None:
    label = {"name": "x", "value": "<a & b>", "signing": True}
    data = normalise(_minimal(labels=[label]), "jsonNormalisation/v1")
    assert b'{"value":"\\u003ca \\u0026 b\\u003e"}' in data
    # JCS (v3) does not escape HTML characters.
    assert b'"value":"<a & b>"' in normalise(_minimal(labels=[label]))


def test_v1_numbers_are_go_float64() -> None:
    label = {"name": "x", "value": {"i": 3, "f": 1.5, "big": 1e21, "tiny": 1e-7}, "signing": True}
    data = normalise(_minimal(labels=[label]), "jsonNormalisation/v1")
    assert b'[{"big":1e+21},{"f":1.5},{"i":3},{"tiny":1e-7}]' in data


def _gardener_descriptor() -> dict[str, Any]:
    """A realistic descriptor: resource with extraIdentity, digests, signing and other labels, reference, source.

    ASCII only and no `<`, `>` or `&`: gardener-ocm serialises with Python's json.dumps (ensure_ascii, no HTML
    escaping) while OCM Go writes UTF-8 and escapes those characters, so such data would digest differently there.
    """
    return {
        "meta": {"schemaVersion": "v2"},
        "component": {
            "name": "example.org/gardenlinux/release",
            "version": "1592.4.0",
            "provider": "SAP SE",
            "creationTime": "2025-03-01T12:00:00Z",
            "repositoryContexts": [
                {
                    "type": "OCIRegistry",
                    "baseUrl": "ghcr.io",
                    "subPath": "gardenlinux/ocm",
                    "componentNameMapping": "urlPath",
                }
            ],
            "labels": [
                {"name": "gardenlinux.io/release", "value": {"channel": "stable", "lts": True}, "signing": True},
                {"name": "gardenlinux.io/build-host", "value": "ci-42"},
            ],
            "resources": [
                {
                    "name": "rootfs",
                    "version": "1592.4.0",
                    "type": "ociImage",
                    "relation": "local",
                    "extraIdentity": {"architecture": "amd64", "platform": "aws"},
                    "access": {
                        "type": "ociRegistry",
                        "imageReference": "ghcr.io/gardenlinux/gardenlinux:1592.4.0",
                    },
                    "digest": {
                        "hashAlgorithm": "SHA-256",
                        "normalisationAlgorithm": "ociArtifactDigest/v1",
                        "value": "6a1c7637a528ab5957ab60edf73b5298a0a03de02a96be0313ee89b22544840c",
                    },
                    "labels": [
                        {
                            "name": "gardenlinux.io/flavor",
                            "value": "aws-gardener_prod-amd64",
                            "version": "v1",
                            "signing": True,
                        },
                        {"name": "gardenlinux.io/ci-run", "value": "12345"},
                    ],
                    "srcRefs": [{"identitySelector": {"name": "gardenlinux"}}],
                },
                {
                    "name": "release-notes",
                    "version": "1592.4.0",
                    "type": "plainText",
                    "relation": "local",
                    "access": {
                        "type": "localBlob",
                        "localReference": "sha256:d1187ac17793b2f5fa26175c21cabb6ce388871ae989e16ff9a38bd6b32507bf",
                        "mediaType": "text/markdown",
                    },
                    "digest": {
                        "hashAlgorithm": "SHA-256",
                        "normalisationAlgorithm": "genericBlobDigest/v1",
                        "value": "d1187ac17793b2f5fa26175c21cabb6ce388871ae989e16ff9a38bd6b32507bf",
                    },
                },
            ],
            "sources": [
                {
                    "name": "gardenlinux",
                    "version": "1592.4.0",
                    "type": "git",
                    "access": {
                        "type": "github",
                        "repoUrl": "github.com/gardenlinux/gardenlinux",
                        "commit": "3ff8ed0e7386aa6fe19dcbbb8955f34a88745fd0",
                    },
                }
            ],
            "componentReferences": [
                {
                    "name": "kernel",
                    "componentName": "example.org/gardenlinux/kernel",
                    "version": "6.6.63",
                    "digest": {
                        "hashAlgorithm": "SHA-256",
                        "normalisationAlgorithm": "jsonNormalisation/v1",
                        "value": "b06e4c1a68274b876661f9fbf1f100526d289745f6ee847bfef702007b5b14cf",
                    },
                    "labels": [{"name": "gardenlinux.io/pinned", "value": True, "signing": True}],
                }
            ],
        },
        "signatures": [],
    }


def _no_lookup(*args: object) -> Any:
    raise AssertionError(f"gardener-ocm tried to fetch {args!r}; every digest is in the descriptor")


def test_v1_matches_gardener_ocm() -> None:
    raw = _gardener_descriptor()
    descriptor = ocm.ComponentDescriptor.from_dict(copy.deepcopy(raw), validation_mode=ocm.ValidationMode.FAIL)
    theirs = ocm.sign.normalise_component_descriptor(
        component_descriptor=descriptor,
        component_descriptor_lookup=_no_lookup,
        access_to_digest_lookup=_no_lookup,
    )
    assert normalise(raw, "jsonNormalisation/v1") == json.dumps(theirs, separators=(",", ":")).encode("utf-8")
    their_digest = ocm.sign.component_descriptor_digest(
        component_descriptor=descriptor,
        component_descriptor_lookup=_no_lookup,
        access_to_digest_lookup=_no_lookup,
    )
    assert descriptor_digest(raw, "jsonNormalisation/v1") == their_digest
