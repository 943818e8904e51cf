"""A release plan for self-contained transport: every resource a local blob, OCI artefacts as OCM artifact sets.

A CTF has no registry behind it, so an access that names one (`ociArtifact`, `ociBlob`) cannot be resolved from
inside by OCM's tools. With `AccessMode.TRANSPORT` the files are already `localBlob`s (as by value); this step turns
every `ociArtifact` resource that names the plan's own base into a `localBlob` holding the artefact's artifact set
(`ocm.artifact_set`), the form `ocm transfer --copy-resources` writes into a CTF. The resource digest stays the
manifest digest, so signatures do not change. The OCI artefacts themselves are still stored as they are, so
`gl-ocm copy`, `verify` and `download` find them, and the files are one blob each in the CTF's shared store.

The sets are written once, into `workdir`, hashed as they are written (bounded memory); the plan serves them from
there, so a publish reads each of them once more. What it costs is in docs/benchmarks.md.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..artefacts.archive import FileRange
from ..errors import PlanError
from ..oci.graph import reachable
from ..oci.model import Descriptor
from ..oci.target import ReadOnlyTarget
from ..ocm.access import is_oci_artifact, parse_image_reference
from ..ocm.artifact_set import write_artifact_set
from .build import pack_plan
from .model import Content, ReleasePlan, RootKind

__all__ = ["transport_plan"]

def transport_plan(plan: ReleasePlan, source: ReadOnlyTarget, base: str, workdir: Path) -> ReleasePlan:
    """The plan with each component's `ociArtifact` resources under `base` as artifact-set local blobs, the sets
    written to `workdir`; `source` serves every object they hold (the plan, or the target it was assembled on)."""
    sets: dict[tuple[str, str], Descriptor] = {}  # (digest, reference name) -> the set
    contents: dict[str, Content] = dict(plan.contents)
    sizes = {d.digest: d.size for c in plan.components for d in c.local_blobs}
    known = {r.descriptor.digest: r.descriptor for r in plan.roots}
    descriptors = []
    for component in plan.components:
        descriptor = copy.deepcopy(component.descriptor)
        for res in descriptor["component"].get("resources") or []:
            access = res.get("access") or {}
            if not is_oci_artifact(access):
                continue
            ref = parse_image_reference(str(access.get("imageReference", "")))
            if ref is None or not ref.name.startswith(base + "/") or not ref.digest:
                continue  # an external reference: it stays as declared
            repository = ref.name[len(base) + 1:]
            name = f"{repository}:{ref.tag}" if ref.tag else repository
            key = (ref.digest, name)
            if key not in sets:
                root = known.get(ref.digest) or source.resolve(repository, ref.tag or ref.digest)
                if root.digest != ref.digest:
                    raise PlanError(f"{ref.name}:{ref.tag} is {root.digest}, the descriptor names {ref.digest}")
                sets[key] = _write_set(source, repository, root, ref.tag, workdir)
                contents[sets[key].digest] = Content(range=FileRange(path=_path(workdir, sets[key]), offset=0,
                                                                     size=sets[key].size))
                sizes[sets[key].digest] = sets[key].size
            res["access"] = {"type": "localBlob", "localReference": sets[key].digest,
                             "mediaType": sets[key].media_type, "referenceName": name}
        descriptors.append(descriptor)
    roots = [r for r in plan.roots if r.kind is not RootKind.COMPONENT]
    return pack_plan(plan.version, contents, roots, descriptors, sizes)


def _path(workdir: Path, desc: Descriptor) -> Path:
    return workdir / desc.digest.replace(":", ".")


def _write_set(source: ReadOnlyTarget, repository: str, root: Descriptor, tag: str, workdir: Path) -> Descriptor:
    graph = reachable(source, repository, root)
    tmp = workdir / f"{root.digest.replace(':', '.')}.tmp"
    with tmp.open("wb") as out:
        desc = write_artifact_set(out, root, tag or root.digest, graph, lambda d: source.fetch(repository, d))
    tmp.replace(_path(workdir, desc))
    return desc

