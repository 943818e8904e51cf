"""ReleaseSpec + Inventory -> ReleasePlan (pure): the OCI graph of a release and its OCM component versions."""

from __future__ import annotations

import dataclasses
import re
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
from .referrers import expected_referrers, plan_referrers, split_files

__all__ = ["index_tags", "build_plan", "build_parts_plan", "build_assembly_plan", "plan_flavor", "ContainerParts",
           "ReleaseParts", "pack_plan", "flavor_tag", "container_tag", "flavor_annotations", "SOURCE_ANNOTATIONS"]

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
    return Descriptor(media_type=f.media_type, digest=f.digest, size=f.size).with_annotations(
        {TITLE: f.name, "io.gardenlinux.image.layer.architecture": arch, "io.gardenlinux.role": f.role.name}
    )


def _flavor_manifest(spec: ReleaseSpec, fa: FlavorArtefacts, layers: Sequence[ArtefactFile],
                     referred: Sequence[ArtefactFile]) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "artifactType": spec.flavor_artifact_type,
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": [_layer(f, fa.flavor.arch).to_dict() for f in layers],
            "annotations": {**flavor_annotations(spec, fa.flavor), **expected_referrers(spec, fa.flavor, referred)},
        }
    )


def _file_resources(repository: str | None, files: Sequence[ArtefactFile],
                    referrers: Mapping[str, Descriptor] | None = None) -> list[FileResource]:
    return [
        FileResource(
            repository=repository,
            role=f.role.name,
            resource_type=f.role.resource_type,
            media_type=f.media_type,
            digest=f.digest,
            size=f.size,
            part=(str(f.role.identity), f.part) if f.part is not None else None,
            referrer=_bare_entry((referrers or {}).get(f.name)),
        )
        for f in files
    ]


def _bare_entry(entry: Descriptor | None) -> Descriptor | None:
    """A referrer's descriptor as the descriptor's label names it: media type, digest, size and artifact type."""
    return dataclasses.replace(entry, annotations=()) if entry is not None else None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerParts:
    """What the release says about one container image: its manifest, architecture and other files."""

    container: Container
    manifest: OciArtefactRef
    architecture: str
    files: tuple[FileResource, ...] = ()

    @classmethod
    def published(cls, spec: ReleaseSpec, container: Container, manifest: Descriptor, architecture: str
                  ) -> ContainerParts:
        tag = container_tag(spec, container.cname, container.arch)
        ref = OciArtefactRef(repository=container.repository, tag=tag, descriptor=manifest)
        return cls(container=container, manifest=ref, architecture=architecture)

    def index_entry(self) -> dict[str, Any]:
        d = self.manifest.descriptor
        platform = Platform(architecture=self.architecture, os="linux")
        return Descriptor(media_type=d.media_type, digest=d.digest, size=d.size, platform=platform).to_dict()


def _container_indexes(spec: ReleaseSpec, containers: Sequence[ContainerParts]
                       ) -> tuple[dict[str, Content], list[Root], list[tuple[str, OciArtefactRef]]]:
    """The multi-arch index of each container in its own repository (the one in the release index has none: the
    release index is its index), tagged like the release index, entries in spec order."""
    by_name: dict[str, list[ContainerParts]] = {}
    for c in containers:
        if not c.container.in_release_index:
            by_name.setdefault(c.container.name, []).append(c)
    contents: dict[str, Content] = {}
    roots: list[Root] = []
    refs: list[tuple[str, OciArtefactRef]] = []
    for name, images in by_name.items():
        repo = images[0].container.repository
        index = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX,
                                "manifests": [c.index_entry() for c in images],
                                "annotations": _release_annotations(spec)})
        desc = descriptor_for(index, MediaType.OCI_INDEX)
        contents[desc.digest] = Content(data=index)
        roots.append(Root(repository=repo, descriptor=desc, tags=index_tags(spec.version),
                          kind=RootKind.CONTAINER_INDEX, label=f"{repo}:{_tag(spec.version)}"))
        refs.append((name, OciArtefactRef(repository=repo, tag=_tag(spec.version), descriptor=desc)))
    return contents, roots, refs


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseParts:
    """Every flavor's and container's parts, in spec order: what the release index and component are made of."""

    flavors: tuple[FlavorParts, ...]
    containers: tuple[ContainerParts, ...]


def plan_flavor(spec: ReleaseSpec, fa: FlavorArtefacts) -> tuple[dict[str, Content], list[Root], FlavorParts]:
    """One flavor: its manifest, files and referrers (contents), its roots (the tagged flavor manifest first, then
    its referrers and their fallback index), and what the release says about it."""
    repo = spec.release_repository
    contents = {f.digest: _whole_file(f) for f in fa.files}
    layers, referred = split_files(fa.files)
    manifest = _flavor_manifest(spec, fa, layers, referred)
    desc = descriptor_for(manifest, MediaType.OCI_MANIFEST, artifact_type=spec.flavor_artifact_type)
    contents[desc.digest] = Content(data=manifest)
    tag = flavor_tag(spec, fa.flavor)
    root = Root(repository=repo, descriptor=desc, tags=(tag,), kind=RootKind.FLAVOR, label=fa.flavor.name)
    ref_contents, ref_roots, entries = plan_referrers(
        spec, fa.flavor, desc.bare(), [(f, _layer(f, fa.flavor.arch)) for f in referred])
    contents.update(ref_contents)
    ref = OciArtefactRef(repository=repo, tag=tag, descriptor=desc)
    parts = FlavorParts(flavor=fa.flavor, manifest=ref, files=_file_resources(repo, fa.files, entries),
                        packages=fa.packages)
    return contents, [root, *ref_roots], parts


def index_tags(version: str) -> tuple[str, ...]:
    """The release index's tags: the version, and for a two-part version also `X.Y.0`, the MAJOR.MINOR.PATCH form
    that gardenlinux-update asks for (gardenlinux#3287)."""
    tag = _tag(version)
    return (tag, f"{tag}.0") if re.fullmatch(r"[0-9]+\.[0-9]+", version) else (tag,)


def _flavor_entry(spec: ReleaseSpec, parts: FlavorParts) -> dict[str, Any]:
    d = parts.manifest.descriptor
    platform = Platform(architecture=parts.flavor.arch, os="gardenlinux", os_version=spec.version)
    entry = Descriptor(media_type=d.media_type, digest=d.digest, size=d.size, platform=platform)
    return entry.with_annotations(_selector_annotations(spec, parts.flavor)).to_dict()


def _release_objects(
    spec: ReleaseSpec, parts: ReleaseParts, at: Addressing
) -> tuple[dict[str, Content], Root, dict[str, Any]]:
    """The release index (the release repository's container images first: clients that take the first matching
    linux entry get the container) and the release component descriptor."""
    repo = spec.release_repository
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "manifests": [c.index_entry() for c in parts.containers if c.container.in_release_index]
            + [_flavor_entry(spec, f) for f in parts.flavors],
            "annotations": _release_annotations(spec),
        }
    )
    index_desc = descriptor_for(index, MediaType.OCI_INDEX)
    tag = _tag(spec.version)
    root = Root(repository=repo, descriptor=index_desc, tags=index_tags(spec.version), kind=RootKind.INDEX,
                label=f"{repo}:{tag}")
    ref = OciArtefactRef(repository=repo, tag=tag, descriptor=index_desc)
    return {index_desc.digest: Content(data=index)}, root, render_release(spec, ref, parts.flavors, at)


def _container_descriptor(
    spec: ReleaseSpec, containers: Sequence[ContainerParts], indexes: Sequence[tuple[str, OciArtefactRef]],
    at: Addressing
) -> dict[str, Any]:
    return render_container_images(spec, [(c.container, c.manifest, list(c.files)) for c in containers], indexes, at)


def _blob_sizes(parts: ReleaseParts) -> dict[str, int]:
    files = [f for p in parts.flavors for f in p.files] + [f for c in parts.containers for f in c.files]
    return {f.digest: f.size for f in files}


def _objects(
    spec: ReleaseSpec, inventory: Inventory
) -> tuple[dict[str, Content], list[Root], ReleaseParts, list[tuple[str, OciArtefactRef]]]:
    """The flavors' and containers' own objects, in publish order (containers and their indexes first), their parts,
    and the containers' indexes."""
    planned_containers = [_plan_container(spec, ca) for ca in inventory.containers]
    planned_flavors = [plan_flavor(spec, fa) for fa in inventory.flavors]
    contents: dict[str, Content] = {EMPTY_DESCRIPTOR.digest: Content(data=EMPTY_JSON)}
    for blobs, _, _ in (*planned_containers, *planned_flavors):
        for digest, content in blobs.items():
            contents.setdefault(digest, content)
    parts = ReleaseParts(flavors=tuple(p for _, _, p in planned_flavors),
                         containers=tuple(p for _, _, p in planned_containers))
    index_contents, index_roots, indexes = _container_indexes(spec, parts.containers)
    contents.update(index_contents)
    roots = [*(root for _, root, _ in planned_containers), *index_roots,
             *(root for _, flavor_roots, _ in planned_flavors for root in flavor_roots)]
    return contents, roots, parts, indexes


def build_plan(spec: ReleaseSpec, inventory: Inventory, addressing: Addressing | None = None) -> ReleasePlan:
    """Every object of the release, in publish order: containers, flavors, the release index, then components.

    `addressing` says where the descriptors' accesses point (default: by reference, under `ocm.access.LOCAL_BASE`).
    """
    at = addressing or Addressing()
    contents, roots, parts, indexes = _objects(spec, inventory)
    index_contents, index_root, release = _release_objects(spec, parts, at)
    descriptors = [_container_descriptor(spec, parts.containers, indexes, at), release]
    return pack_plan(spec.version, {**contents, **index_contents}, [*roots, index_root], descriptors,
                     _blob_sizes(parts))


def build_parts_plan(spec: ReleaseSpec, inventory: Inventory, addressing: Addressing | None = None) -> ReleasePlan:
    """A flavor or container job's share: the objects and tags of the flavors and containers in `inventory` only,
    and, when it holds the containers, their component version. `build_assembly_plan` adds the rest."""
    at = addressing or Addressing()
    contents, roots, parts, indexes = _objects(spec, inventory)
    descriptors = [_container_descriptor(spec, parts.containers, indexes, at)] if parts.containers else []
    return pack_plan(spec.version, contents, roots, descriptors, _blob_sizes(parts))


def build_assembly_plan(spec: ReleaseSpec, parts: ReleaseParts, addressing: Addressing | None = None) -> ReleasePlan:
    """The release index and the release component from parts already published (`plan.assemble.read_parts`)."""
    at = addressing or Addressing()
    contents, root, release = _release_objects(spec, parts, at)
    return pack_plan(spec.version, contents, [root], [release], _blob_sizes(parts))


def _plan_container(spec: ReleaseSpec, ca: ContainerArtefacts) -> tuple[dict[str, Content], Root, ContainerParts]:
    """A container image from its OCI archive: its contents, its root and its parts."""
    image = ca.image
    contents = {blob.digest: Content(range=rng) for blob, rng in image.blobs}
    contents[image.manifest.digest] = Content(data=image.manifest_bytes)
    for f in ca.files:
        contents.setdefault(f.digest, _whole_file(f))
    tag = container_tag(spec, ca.container.cname, ca.container.arch)
    bare = image.manifest.bare()
    repo = ca.container.repository
    root = Root(repository=repo, descriptor=bare, tags=(tag,), kind=RootKind.CONTAINER, label=ca.container.name_arch)
    ref = OciArtefactRef(repository=repo, tag=tag, descriptor=bare)
    files = tuple(_file_resources(None, ca.files))  # in no image: local blobs of the container component
    parts = ContainerParts(container=ca.container, manifest=ref, architecture=image.platform.architecture, files=files)
    return contents, root, parts


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
