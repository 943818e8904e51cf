"""Component versions re-packed with a changed descriptor: re-pointed accesses for a copy, signatures for sign.

A copy from one base to another rewrites the accesses that name the source's base (`ocm.access.rebase_descriptor`),
as `ocm transfer` does for the resources it moves. Only `access` changes, which is outside the normalised digest,
so every signature stays valid; the descriptor layer, the config and the manifest get new digests, the local blobs
are carried over unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PlanError
from ..oci.copy import CopyRoot
from ..oci.memory import MemoryTarget, OverlaySource
from ..oci.model import MediaType, descriptor_for
from ..oci.target import ReadOnlyTarget
from .access import rebase_descriptor
from .fetch import ComponentVersion
from .pack import PackedComponent, pack_component

__all__ = ["repack", "stage", "rebase_components"]


def repack(cv: ComponentVersion, descriptor: Mapping[str, Any]) -> PackedComponent:
    """The component version's OCI objects for a new descriptor, keeping every local blob layer it had."""
    sizes = {layer.digest: layer.size for layer in cv.layers}
    try:
        packed = pack_component(descriptor, sizes)
    except KeyError as e:
        raise PlanError(f"{cv.reference}: local blob {e.args[0]} is not a layer of the component version") from e
    dropped = sorted(set(sizes) - {b.digest for b in packed.local_blobs})
    if dropped:
        raise PlanError(f"{cv.reference}: re-packing the descriptor would drop layers {', '.join(dropped)}",
                        hint="only layers that resources reference as localBlob can be carried over")
    return packed


def stage(memory: MemoryTarget, packed: PackedComponent) -> CopyRoot:
    """Put config, descriptor layer and manifest into `memory`; the root that copies them, tagged with the version."""
    parts = ((packed.config, MediaType.OCM_CONFIG), (packed.layer, MediaType.OCM_DESCRIPTOR_YAML_TAR),
             (packed.manifest, MediaType.OCI_MANIFEST))
    for data, media_type in parts:
        memory.push(packed.repository, descriptor_for(data, media_type), io.BytesIO(data))
    return CopyRoot(repository=packed.repository, descriptor=packed.manifest_descriptor, tags=(packed.tag,))


def rebase_components(src: ReadOnlyTarget, order: Sequence[ComponentVersion], old: str, new: str
                      ) -> tuple[ReadOnlyTarget, dict[tuple[str, str], CopyRoot]]:
    """A source serving the component versions of `order` with accesses under `old` moved to `new`.

    Returns the source and, for each (name, version) whose descriptor changed, the root to copy instead.
    """
    memory = MemoryTarget()
    roots: dict[tuple[str, str], CopyRoot] = {}
    for cv in order:
        descriptor, changed = rebase_descriptor(cv.descriptor, old, new)
        if changed:
            roots[(cv.name, cv.version)] = stage(memory, repack(cv, descriptor))
    return (OverlaySource(src, memory) if roots else src), roots
