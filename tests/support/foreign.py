"""A published release as OCM's own tools leave it after a transfer, built by hand from what those tools were seen to
write (the OCM CLIs cannot be built here: the Go module proxy refuses them). Each shape's provenance is in
tests/data/ocm-shapes/README.md; the functions name the shape they build.

- `v1_transfer`: OCM v1 0.50.0-dev `ocm transfer --copy-resources --recursive` to an OCI registry: every `ociBlob`
  becomes a `localBlob` (a layer of the component version), every `ociArtifact` is uploaded again under the target
  (same repository path and tag) and re-pointed there, for a plain-HTTP target with `http://` in front; referrers and
  `.sig` tags are not carried; descriptors, signatures included, are otherwise unchanged. From a CTF (`ocm transfer
  ctf …`), an artifact-set local blob is uploaded as the OCI artefact it holds, re-pointed the same way.
- `v1_transfer_ctf`: the same into a CTF: everything a `localBlob`, OCI artefacts as artifact sets; the CTF holds the
  component versions only.
- `v2_transfer`: the OCM v2 CLI's `transfer` by reference: accesses unchanged, empty lists as `null`
  (`sources`, `componentReferences`, `repositoryContexts`), a reference without digest as
  `{hashAlgorithm: "", normalisationAlgorithm: "", value: ""}`, the descriptor stored as JSON
  (`…component-descriptor.v2+json`) in a manifest with `artifactType`.
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gardenlinux_ocm.oci.copy import CopyRoot
from gardenlinux_ocm.oci.copy import copy as copy_graph
from gardenlinux_ocm.oci.graph import reachable, successors
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType, canonical_json, descriptor_for, version_to_tag
from gardenlinux_ocm.oci.target import ReadOnlyTarget, Target
from gardenlinux_ocm.ocm.access import parse_image_reference, strip_scheme
from gardenlinux_ocm.ocm.artifact_set import is_artifact_set, set_media_type, write_artifact_set
from gardenlinux_ocm.ocm.fetch import ComponentVersion, referenced_first
from gardenlinux_ocm.ocm.pack import pack_component
from support.consumers import RELEASE
from support.release import VERSION

V2_ENCODING = "application/vnd.ocm.software.component-descriptor.v2+json"
V2_ARTIFACT_TYPE = "application/vnd.ocm.software.component-descriptor.v2"
_OCI_ARTIFACT = {"ociartifact", "ociregistry", "ociimage"}
_OCI_BLOB = {"ociblob"}


def _kind(access: dict[str, Any]) -> str:
    return str(access.get("type", "")).split("/")[0].lower()


def _components(src: ReadOnlyTarget, version: str) -> list[ComponentVersion]:
    return referenced_first(src, [(RELEASE, version)])


def _where(reference: str, base: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of a by-reference access under `base`."""
    ref = parse_image_reference(reference)
    assert ref is not None and ref.name.startswith(base + "/"), (reference, base)
    return ref.name[len(base) + 1:], ref.tag, ref.digest


def _copy_blob(src: ReadOnlyTarget, src_repo: str, dst: Target, dst_repo: str, desc: Descriptor) -> None:
    if not dst.exists(dst_repo, desc):
        with src.fetch(src_repo, desc) as f:
            dst.push(dst_repo, desc, f)


def _store(dst: Target, descriptor: dict[str, Any], sizes: dict[str, int]) -> None:
    """Store a component version as OCM v1 does (our packing: the same manifest form)."""
    packed = pack_component(descriptor, sizes)
    for data, media_type in ((packed.config, MediaType.OCM_CONFIG), (packed.layer, MediaType.OCM_DESCRIPTOR_YAML_TAR)):
        desc = descriptor_for(data, media_type)
        if not dst.exists(packed.repository, desc):
            dst.push(packed.repository, desc, io.BytesIO(data))
    dst.tag(packed.repository, packed.manifest_descriptor, packed.tag, packed.manifest)


def _local_blobs(src: ReadOnlyTarget, cv: ComponentVersion, dst: Target, sizes: dict[str, int]) -> None:
    """The component version's own local blobs, carried as they are."""
    for layer in cv.layers:
        _copy_blob(src, cv.repository, dst, cv.repository, layer)
        sizes[layer.digest] = layer.size


def _file_as_local_blob(src: ReadOnlyTarget, src_base: str, cv: ComponentVersion, dst: Target,
                        access: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    repo = str(access.get("ref") or access.get("imageReference"))
    assert repo.startswith(src_base + "/"), repo
    desc = Descriptor(media_type=str(access["mediaType"]), digest=str(access["digest"]), size=int(access["size"]))
    _copy_blob(src, repo[len(src_base) + 1:], dst, cv.repository, desc)
    sizes[desc.digest] = desc.size
    return {"type": "localBlob", "localReference": desc.digest, "mediaType": desc.media_type}


Edit = Callable[[dict[str, Any]], dict[str, Any]]


def _same(descriptor: dict[str, Any]) -> dict[str, Any]:
    return descriptor


def _expand(src: ReadOnlyTarget, cv: ComponentVersion, access: dict[str, Any]) -> tuple[MemoryTarget, Descriptor]:
    """An artifact set local blob unpacked as OCM v1's uploader does: every blob of the set, the main manifest
    with the media types its graph gives them (small test data: held in memory)."""
    layer = next(d for d in cv.layers if d.digest == access["localReference"])
    with src.fetch(cv.repository, layer) as f, tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:*") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    index = json.loads(files["index.json"])
    entry = next(m for m in index["manifests"] if m["digest"] == index["annotations"]["software.ocm/main"])
    blobs = {name[len("blobs/"):].replace(".", ":", 1): data for name, data in files.items()
             if name.startswith("blobs/")}
    main = Descriptor(media_type=entry["mediaType"], digest=entry["digest"], size=entry["size"])
    memory, todo, repo = MemoryTarget(), [main], str(access["referenceName"]).rpartition(":")[0]
    while todo:
        desc = todo.pop()
        memory.push(repo, desc, io.BytesIO(blobs[desc.digest]))
        todo.extend(successors(desc, blobs[desc.digest], subject=False))
    return memory, main


Rewrite = Callable[[ComponentVersion, dict[str, Any], dict[str, int]], dict[str, Any] | None]


def _transfer(src: ReadOnlyTarget, src_base: str, dst: Target, version: str, edit: Edit, artefact: Rewrite,
              contexts: list[dict[str, Any]]) -> None:
    """OCM v1's transfer loop: local blobs carried, every `ociBlob` a local blob, each other access as `artefact`
    rewrites it (None: unchanged), the target's repository context appended, the component version stored."""
    for cv in _components(src, version):
        descriptor = copy.deepcopy(cv.descriptor)
        sizes: dict[str, int] = {}
        _local_blobs(src, cv, dst, sizes)
        for res in descriptor["component"]["resources"]:
            access = res["access"]
            if _kind(access) in _OCI_BLOB:
                res["access"] = _file_as_local_blob(src, src_base, cv, dst, access, sizes)
            elif (rewritten := artefact(cv, access, sizes)) is not None:
                res["access"] = rewritten
        descriptor["component"]["repositoryContexts"] = [
            *(descriptor["component"].get("repositoryContexts") or []), *contexts]
        _store(dst, edit(descriptor), sizes)


def _ours(access: dict[str, Any], src_base: str) -> bool:
    return _kind(access) in _OCI_ARTIFACT and strip_scheme(access["imageReference"]).startswith(src_base + "/")


def v1_transfer(src: ReadOnlyTarget, src_base: str, dst: Target, dst_base: str, *, scheme: str = "",
                version: str = VERSION, edit: Edit = _same) -> None:
    """OCM v1 `transfer --copy-resources --recursive` from `src` (accesses under `src_base`) to a registry (or
    layout) `dst` whose base is `dst_base`; `scheme` ("http://") is what v1 writes in front of a plain-HTTP target."""

    def artefact(cv: ComponentVersion, access: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any] | None:
        if _ours(access, src_base):
            repo, tag, digest = _where(access["imageReference"], src_base)
            copy_graph(src, dst, [CopyRoot(repository=repo, descriptor=src.resolve(repo, digest), tags=(tag,))])
        elif _kind(access) == "localblob" and is_artifact_set(str(access.get("mediaType"))):
            memory, main = _expand(src, cv, access)  # the default uploader: a real OCI artefact again
            repo, _, tag = str(access["referenceName"]).rpartition(":")
            digest = main.digest
            copy_graph(memory, dst, [CopyRoot(repository=repo, descriptor=main, tags=(tag,))])
        else:
            return None
        return {"type": "ociArtifact", "imageReference": f"{scheme}{dst_base}/{repo}:{tag}@{digest}"}

    host, _, sub = dst_base.partition("/")
    context = {"type": "OCIRegistry", "baseUrl": f"{scheme}{host}", "subPath": sub, "componentNameMapping": "urlPath"}
    _transfer(src, src_base, dst, version, edit, artefact, [context])


def v1_transfer_ctf(src: ReadOnlyTarget, src_base: str, dst: Target, *, version: str = VERSION,
                    edit: Edit = _same) -> None:
    """OCM v1 `transfer --copy-resources --recursive` into a CTF `dst`: files and OCI artefacts as local blobs (the
    artefacts as artifact sets), nothing else stored."""
    with tempfile.TemporaryDirectory() as scratch:

        def artefact(cv: ComponentVersion, access: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any] | None:
            if not _ours(access, src_base):
                return None
            repo, tag, digest = _where(access["imageReference"], src_base)
            main = src.resolve(repo, digest)
            path = Path(scratch) / digest.replace(":", ".")
            with path.open("wb") as out:
                desc = write_artifact_set(out, main, tag, reachable(src, repo, main),
                                          lambda d: src.fetch(repo, d))
            if not dst.exists(cv.repository, desc):
                with path.open("rb") as f:
                    dst.push(cv.repository, desc, f)
            sizes[desc.digest] = desc.size
            return {"type": "localBlob", "localReference": desc.digest, "mediaType": set_media_type(main.media_type),
                    "referenceName": f"{repo}:{tag}"}

        _transfer(src, src_base, dst, version, edit, artefact, [])


def v2_nulls(descriptor: dict[str, Any]) -> dict[str, Any]:
    """What OCM v2 writes for empty lists and for a reference without a digest."""
    out = copy.deepcopy(descriptor)
    component = out["component"]
    for key in ("sources", "componentReferences", "repositoryContexts"):
        if not component.get(key):
            component[key] = None
    for ref in component.get("componentReferences") or []:
        ref.setdefault("digest", {"hashAlgorithm": "", "normalisationAlgorithm": "", "value": ""})
    return out


def v2_transfer(src: ReadOnlyTarget, dst: Target, *, version: str = VERSION, edit: Edit = v2_nulls) -> None:
    """OCM v2 `transfer` by reference: descriptors rewritten (`edit`, by default v2's nulls and empty digests),
    accesses unchanged, stored the way v2 stores them (JSON descriptor, `artifactType`), local blobs carried."""
    for cv in _components(src, version):
        descriptor = edit(cv.descriptor)
        for layer in cv.layers:
            _copy_blob(src, cv.repository, dst, cv.repository, layer)
        encoded = json.dumps(descriptor, separators=(",", ":")).encode()
        layer = descriptor_for(encoded, V2_ENCODING)
        config = json.dumps({"componentDescriptorLayer": layer.to_dict()}, separators=(",", ":")).encode()
        config_desc = descriptor_for(config, MediaType.OCM_CONFIG)
        for data, desc in ((encoded, layer), (config, config_desc)):
            dst.push(cv.repository, desc, io.BytesIO(data))
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "artifactType": V2_ARTIFACT_TYPE,
            "config": config_desc.to_dict(), "layers": [layer.to_dict(), *(d.to_dict() for d in cv.layers)],
            "annotations": {"software.ocm.componentversion": f"{cv.name}:{cv.version}",
                            "software.ocm.creator": "Open Component Model Go Reference Library"},
        })
        dst.tag(cv.repository, descriptor_for(manifest, MediaType.OCI_MANIFEST), version_to_tag(cv.version), manifest)
