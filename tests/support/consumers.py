"""What consumers do with a published release, done with their own code: gardener-ocm and gardener-oci, the ORAS CLI.

Nothing here uses gl-ocm to read: lookups, iteration and every access go through the consumer's library or binary.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gardenlinux_ocm.ocm.artifact_set import is_artifact_set, read_artifact_set

__all__ = ["gardener_oci_client", "resolve_with_gardener_ocm", "oras", "RELEASE", "cloud_image_lookup"]

RELEASE = "github.com/gardenlinux/gardenlinux"


def gardener_oci_client(hosts: Iterable[str]) -> Any:
    """A gardener-oci client for plain-HTTP loopback registries (the consumer's side, as Gardener tooling uses it)."""
    import oci.client
    import oci.model as om

    def base_api_url(image_reference: str) -> str:
        return f"http://{om.OciImageReference.to_image_ref(image_reference).netloc}/v2/"

    client = oci.client.Client(
        credentials_lookup=oci.client.no_credentials_lookup,
        max_retries=0,
        routes=oci.client.OciRoutes(base_api_url_lookup=base_api_url),
    )
    for host in hosts:
        client.token_cache.set_auth_method(f"{host}/x", oci.client.AuthMethod.BASIC)
    return client


def resolve_with_gardener_ocm(ocm_base: str, version: str, hosts: Iterable[str]) -> dict[str, int]:
    """Look the release up in `ocm_base` with gardener-ocm, iterate its closure, and fetch every local resource's
    access the way its type says; returns the number of resources resolved per access type (and `components`).

    An `ociArtifact` must resolve by tag and by digest to the resource digest; an `ociBlob` and a `localBlob` are
    downloaded whole and hashed; a `localBlob` holding an OCI artefact (an OCM artifact set) is unpacked, and its
    main manifest is the resource digest.
    """
    import oci.model as om
    import ocm
    import ocm.iter
    import ocm.retrieve

    accept = om.MimeTypes.prefer_multiarch  # distribution answers 404 for an index the client does not accept
    client = gardener_oci_client(hosts)
    lookup = ocm.retrieve.create_default_component_descriptor_lookup(
        ocm_repository_lookup=ocm.retrieve.ocm_repository_lookup(ocm_base), oci_client=client
    )
    root = lookup(ocm.ComponentIdentity(RELEASE, version))
    counts: collections.Counter[str] = collections.Counter()
    for node in ocm.iter.iter(root, lookup=lookup):
        if isinstance(node, ocm.iter.ComponentNode):
            counts["components"] += 1
            continue
        if not isinstance(node, ocm.iter.ResourceNode) or node.resource.relation != ocm.ResourceRelation.LOCAL:
            continue
        res, access = node.resource, node.resource.access
        if access.type is ocm.AccessType.OCI_REGISTRY:
            reference, _, digest = access.imageReference.partition("@")
            assert digest == f"sha256:{res.digest.value}", access.imageReference
            assert client.head_manifest(reference, accept=accept).digest == digest, f"tag of {access.imageReference}"
            assert client.head_manifest(access.imageReference, accept=accept).digest == digest
        elif access.type is ocm.AccessType.OCI_BLOB:
            data = client.blob(access.imageReference, access.digest, stream=False).content
            assert hashlib.sha256(data).hexdigest() == res.digest.value and len(data) == access.size
        else:
            assert access.type is ocm.AccessType.LOCAL_BLOB, access
            repository = f"{ocm_base}/component-descriptors/{node.component.name}"
            data = client.blob(repository, access.localReference, stream=False).content
            if is_artifact_set(str(getattr(access, "mediaType", ""))):  # an OCI artefact by value: unpack it
                found = read_artifact_set(io.BytesIO(data), deep=True)
                assert found.ok and found.main is not None, found.problems
                assert hashlib.sha256(data).hexdigest() == access.localReference.split(":", 1)[1]
                assert found.main.digest == f"sha256:{res.digest.value}"
                counts["artifact-set"] += 1
            else:
                assert hashlib.sha256(data).hexdigest() == res.digest.value
        counts[str(access.type)] += 1
    return dict(counts)


def oras(executable: str, *args: str, cwd: Path | None = None) -> str:
    """Run the ORAS CLI (plain HTTP for loopback registries); its stdout."""
    result = subprocess.run([executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, f"oras {' '.join(args)}: {result.stderr}"
    return result.stdout


def oras_manifest(executable: str, reference: str, *flags: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(oras(executable, "manifest", "fetch", *flags, reference))
    return doc


def cloud_image_lookup(descriptor: Any, platform: str, architecture: str, feature_flags: str) -> dict[str, Any]:
    """What a Gardener consumer of glci's descriptor reads for one flavor, written against gardener-ocm's model.

    `descriptor` is a descriptor dict or what gardener-ocm's lookup returned. Finds the `gardenlinux`
    (virtual_machine_image) and `rootfs` resources by identity and returns their types and the label values it
    uses: build metadata, package versions and, once attached, the published images.
    """
    import ocm

    if isinstance(descriptor, dict):
        descriptor = ocm.ComponentDescriptor.from_dict(descriptor)
    component = descriptor.component
    assert component.name == RELEASE

    def find(name: str) -> Any:
        matches = [r for r in component.resources if r.name == name and r.extraIdentity.get("platform") == platform
                   and r.extraIdentity.get("architecture") == architecture
                   and r.extraIdentity.get("feature-flags") == feature_flags]
        assert len(matches) == 1, (name, len(matches))
        return matches[0]

    def label(resource: Any, name: str) -> Any:
        found = resource.find_label(name)
        return None if found is None else found.value

    image, rootfs = find("gardenlinux"), find("rootfs")
    return {
        "image_type": image.type,
        "rootfs_type": rootfs.type,
        "build_metadata": label(image, "gardener.cloud/gardenlinux/ci/build-metadata"),
        "rootfs_build_metadata": label(rootfs, "gardener.cloud/gardenlinux/ci/build-metadata"),
        "package_versions": label(image, "cloud.cnudie/dso/scanning-hints/package-versions"),
        "published_images": label(image, "gardener.cloud/gardenlinux/ci/published-image-metadata"),
    }
