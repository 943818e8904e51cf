"""ReleaseSpec + Inventory -> ReleasePlan (pure): the OCI graph of a release and its OCM component versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..artefacts.archive import FileRange
from ..artefacts.inventory import ArtefactFile, ContainerArtefacts, FlavorArtefacts, Inventory
from ..oci.model import EMPTY_DESCRIPTOR, EMPTY_JSON, Descriptor, MediaType, Platform, canonical_json, descriptor_for
from ..oci.model import version_to_tag as _tag
from ..ocm.access import Addressing
from ..ocm.pack import PackedComponent, pack_component
from ..ocm.render import (
    FileResource,
    FlavorParts,
    OciArtefactRef,
    render_container_images,
    render_release,
)
from ..spec.model import Container, Flavor, ReleaseSpec
from .model import Content, ReleasePlan, Root, RootKind

__all__ = ["build_plan", "pack_plan", "flavor_tag", "container_tag", "flavor_annotations", "SOURCE_ANNOTATIONS"]

TITLE = "org.opencontainers.image.title"
SOURCE_ANNOTATIONS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
)


def flavor_tag(spec: ReleaseSpec, flavor: Flavor) -> str:
    """`<version>-<cname>-<arch>`: the version once, then the flavor (ADR 0035)."""
    return f"{_tag(spec.version)}-{flavor.name}"


def container_tag(spec: ReleaseSpec, cname: str, arch: str) -> str:
    return f"{_tag(spec.version)}-{cname}-{arch}"


def _release_annotations(spec: ReleaseSpec) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": spec.source_url,
        "org.opencontainers.image.revision": spec.commit,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.created": spec.release_date,
    }


def _selector_annotations(spec: ReleaseSpec, flavor: Flavor) -> dict[str, str]:
    """What tools select a flavor by in the index. `cname` keeps today's value (the artifact base name), whose
    prefix `{cname}-{arch}` gardenlinux-update matches; the `io.gardenlinux.*` keys use ADR 0035 terms."""
    return {
        "cname": spec.artefact_base_name(flavor.cname, flavor.arch),
        "architecture": flavor.arch,
        "feature_set": ",".join(flavor.features),
        "io.gardenlinux.cname": flavor.cname,
        "io.gardenlinux.flavor": flavor.name,
        "io.gardenlinux.platform": flavor.platform,
        "io.gardenlinux.architecture": flavor.arch,
        "io.gardenlinux.feature-flags": ",".join(flavor.feature_flags),
    }


def flavor_annotations(spec: ReleaseSpec, flavor: Flavor) -> dict[str, str]:
    return {
        **_selector_annotations(spec, flavor),
        "version": spec.version,
        "commit": spec.commit,
        "io.gardenlinux.version": spec.version,
        "io.gardenlinux.commit": spec.commit,
        "org.opencontainers.image.description": f"Garden Linux {spec.version} {flavor.name}",
        **_release_annotations(spec),
    }


def _whole_file(f: ArtefactFile) -> Content:
    return Content(range=FileRange(path=f.path, offset=0, size=f.size))


def _layer(f: ArtefactFile, arch: str) -> Descriptor:
    return Descriptor(media_type=f.role.media_type, digest=f.digest, size=f.size).with_annotations(
        {TITLE: f.name, "io.gardenlinux.image.layer.architecture": arch, "io.gardenlinux.role": f.role.name}
    )


def _flavor_manifest(spec: ReleaseSpec, fa: FlavorArtefacts) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "artifactType": spec.flavor_artifact_type,
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": [_layer(f, fa.flavor.arch).to_dict() for f in fa.files],
            "annotations": flavor_annotations(spec, fa.flavor),
        }
    )


def _file_resources(repository: str | None, files: Sequence[ArtefactFile]) -> list[FileResource]:
    return [
        FileResource(
            repository=repository,
            role=f.role.name,
            resource_type=f.role.resource_type,
            media_type=f.role.media_type,
            digest=f.digest,
            size=f.size,
        )
        for f in files
    ]


def build_plan(spec: ReleaseSpec, inventory: Inventory, addressing: Addressing | None = None) -> ReleasePlan:
    """Every object of the release, in publish order: flavors, containers, the release index, then components.

    `addressing` says where the descriptors' accesses point (default: by reference, under `ocm.access.LOCAL_BASE`).
    """
    at = addressing or Addressing()
    repo = spec.release_repository
    contents: dict[str, Content] = {EMPTY_DESCRIPTOR.digest: Content(data=EMPTY_JSON)}
    roots: list[Root] = []
    index_entries: list[dict[str, Any]] = []
    flavor_parts: list[FlavorParts] = []
    blob_sizes: dict[str, int] = {}

    def add_files(files: Sequence[ArtefactFile]) -> None:
        for f in files:
            contents.setdefault(f.digest, _whole_file(f))
            blob_sizes[f.digest] = f.size

    container_entries: list[dict[str, Any]] = []
    container_refs: list[tuple[Container, OciArtefactRef, list[FileResource]]] = []
    for ca in inventory.containers:
        blobs, root, index_entry, parts = _plan_container(spec, ca)
        for digest, content in blobs.items():
            contents.setdefault(digest, content)
        roots.append(root)
        container_entries.append(index_entry)
        container_refs.append(parts)
        add_files(ca.files)

    for fa in inventory.flavors:
        add_files(fa.files)
        manifest = _flavor_manifest(spec, fa)
        desc = descriptor_for(manifest, MediaType.OCI_MANIFEST, artifact_type=spec.flavor_artifact_type)
        contents[desc.digest] = Content(data=manifest)
        tag = flavor_tag(spec, fa.flavor)
        roots.append(Root(repository=repo, descriptor=desc, tags=(tag,), kind=RootKind.FLAVOR, label=fa.flavor.name))
        platform = Platform(architecture=fa.flavor.arch, os="gardenlinux", os_version=spec.version)
        entry = Descriptor(media_type=desc.media_type, digest=desc.digest, size=desc.size, platform=platform)
        index_entries.append(entry.with_annotations(_selector_annotations(spec, fa.flavor)).to_dict())
        manifest_ref = OciArtefactRef(repository=repo, tag=tag, descriptor=desc)
        flavor_parts.append(
            FlavorParts(flavor=fa.flavor, manifest=manifest_ref, files=_file_resources(repo, fa.files),
                        packages=fa.packages)
        )

    # Container images first: clients that take the first matching linux entry get the container.
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "manifests": container_entries + index_entries,
            "annotations": _release_annotations(spec),
        }
    )
    index_desc = descriptor_for(index, MediaType.OCI_INDEX)
    contents[index_desc.digest] = Content(data=index)
    index_tag = _tag(spec.version)
    roots.append(
        Root(
            repository=repo, descriptor=index_desc, tags=(index_tag,), kind=RootKind.INDEX, label=f"{repo}:{index_tag}"
        )
    )

    descriptors = [
        render_container_images(spec, container_refs, at),
        render_release(spec, OciArtefactRef(repository=repo, tag=index_tag, descriptor=index_desc), flavor_parts, at),
    ]
    return pack_plan(spec.version, contents, roots, descriptors, blob_sizes)


def _plan_container(
    spec: ReleaseSpec, ca: ContainerArtefacts
) -> tuple[dict[str, Content], Root, dict[str, Any], tuple[Container, OciArtefactRef, list[FileResource]]]:
    """A container image from its OCI archive: its contents, its root, its index entry and its component parts."""
    image = ca.image
    contents = {blob.digest: Content(range=rng) for blob, rng in image.blobs}
    contents[image.manifest.digest] = Content(data=image.manifest_bytes)
    tag = container_tag(spec, ca.container.cname, ca.container.arch)
    bare = image.manifest.bare()
    root = Root(
        repository=spec.release_repository,
        descriptor=bare,
        tags=(tag,),
        kind=RootKind.CONTAINER,
        label=ca.container.name_arch,
    )
    platform = Platform(architecture=image.platform.architecture, os="linux")
    entry = Descriptor(media_type=bare.media_type, digest=bare.digest, size=bare.size, platform=platform).to_dict()
    ref = OciArtefactRef(repository=spec.release_repository, tag=tag, descriptor=bare)
    return contents, root, entry, (ca.container, ref, _file_resources(None, ca.files))  # in no image


def pack_plan(
    version: str,
    contents: Mapping[str, Content],
    roots: Sequence[Root],
    descriptors: Sequence[Mapping[str, Any]],
    blob_sizes: Mapping[str, int],
) -> ReleasePlan:
    """Add the component versions (descriptors in publish order) to the OCI part of a plan."""
    all_contents = dict(contents)
    all_roots = [r for r in roots if r.kind is not RootKind.COMPONENT]
    packed: list[PackedComponent] = []
    for d in descriptors:
        pc = pack_component(d, blob_sizes)
        for data in (pc.config, pc.layer, pc.manifest):
            all_contents[descriptor_for(data, "").digest] = Content(data=data)
        all_roots.append(
            Root(
                repository=pc.repository,
                descriptor=pc.manifest_descriptor,
                tags=(pc.tag,),
                kind=RootKind.COMPONENT,
                label=f"{pc.name}:{pc.version}",
            )
        )
        packed.append(pc)
    return ReleasePlan(version=version, contents=all_contents, roots=tuple(all_roots), components=tuple(packed))
