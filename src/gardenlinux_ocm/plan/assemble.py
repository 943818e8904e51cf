"""What a target holds of a release -> the parts `plan.build` assembles the release index and components from.

Flavor jobs publish each flavor's manifest, blobs and tag from their own files (`publish --flavor`); the container
job publishes the container images and their component version (`publish --containers`). Assembling needs no
artefacts: for every flavor and container of the spec it resolves the tag on the target and reads the manifest
(and, for a flavor, its package list and the referrers it names; for a container, its config's architecture), each
checked against its digest. The flavor manifest is rebuilt from the spec, its layers and its referrers, and must be
the one the tag points at, so a flavor published from another spec or from other files is refused instead of being
listed. The registry is the
shared state; the index is computed from it, never merged, so no entry can be lost to a concurrent job.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..artefacts.inventory import ArtefactFile, FlavorArtefacts
from ..artefacts.packages import MAX_PACKAGE_LIST, parse_package_list
from ..bounded import LIMITS, json_document
from ..errors import NotFound, PlanError
from ..oci.model import Descriptor, parse_descriptor
from ..oci.referrers import list_referrers
from ..oci.target import ReadOnlyTarget
from ..ocm.fetch import read_small
from ..ocm.render import FlavorParts
from ..spec.model import ReleaseSpec
from .build import ContainerParts, ReleaseParts, container_tag, flavor_tag, plan_flavor
from .model import RootKind
from .referrers import REFERRERS_ANNOTATION

__all__ = ["read_parts", "PublishedParts", "TITLE", "ROLE"]

TITLE = "org.opencontainers.image.title"
ROLE = "io.gardenlinux.role"
_MAX_MANIFEST = 4 << 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishedParts:
    """What the target holds of a release: the parts found, and the flavors and containers it lacks."""

    parts: ReleaseParts
    missing: tuple[str, ...]


def _json(target: ReadOnlyTarget, repository: str, desc: Descriptor, what: str) -> Any:
    """A manifest or config, read whole (bounded) and checked against its digest, as JSON."""
    data = read_small(target, repository, desc, _MAX_MANIFEST)
    try:
        return json_document(data, what=what, where=f"{target.name}/{repository}@{desc.digest}",
                             limit=LIMITS.manifest)
    except ValueError as e:
        raise PlanError(f"{target.name}/{repository}@{desc.digest}: the {what} is not JSON: {e}") from e


def _flavor(spec: ReleaseSpec, target: ReadOnlyTarget, name: str) -> FlavorParts | None:
    """The flavor's parts as a target holds them, or None when its tag is absent."""
    flavor = next(f for f in spec.flavors if f.name == name)
    repo, tag = spec.release_repository, flavor_tag(spec, flavor)
    try:
        desc = target.resolve(repo, tag)
    except NotFound:
        return None
    where = f"{target.name}/{repo}:{tag}"
    doc = _json(target, repo, desc, "flavor manifest")
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        raise PlanError(f"{where}: not a flavor manifest (no layers)")
    files: list[ArtefactFile] = []
    packages: tuple[tuple[str, str], ...] = ()
    for i, layer in enumerate(layers):
        f = _file(spec, flavor.name, layer, f"{where}: layers[{i}]")
        files.append(f)
        if f.role.name == "package-list":
            data = read_small(target, repo, Descriptor(media_type=f.media_type, digest=f.digest, size=f.size),
                              MAX_PACKAGE_LIST)
            found, problems = parse_package_list(data, f.name)
            if problems:
                raise PlanError(f"{where}: " + "; ".join(problems))
            packages = found
    expected = str((doc.get("annotations") or {}).get(REFERRERS_ANNOTATION) or "")
    referred = _referred_files(spec, target, flavor.name, desc.bare(), expected.split(",") if expected else [])
    order = {r.name: i for i, r in enumerate(spec.roles)}
    files.extend(f for f, _ in referred)
    files.sort(key=lambda f: (order[f.role.name], f.part or ""))
    _, roots, parts = plan_flavor(spec, FlavorArtefacts(flavor=flavor, files=tuple(files), packages=packages))
    if roots[0].descriptor.digest != desc.digest:
        raise PlanError(
            f"{where} is {desc.digest}, but this spec makes {roots[0].descriptor.digest} of the same files",
            hint=f"the flavor was published from another spec: publish it again with --flavor {name}",
        )
    planned = {r.descriptor.digest for r in roots if r.kind is RootKind.REFERRER}
    for f, found_at in referred:
        if found_at.digest not in planned:
            raise PlanError(f"{where}: its referrer {f.name} is {found_at.digest}, which this spec does not make",
                            hint=f"the flavor was published from another spec: publish it again with --flavor {name}")
    return parts


def _file(spec: ReleaseSpec, name: str, layer: Any, where: str) -> ArtefactFile:
    """A build file from the layer descriptor that holds it (role and title in its annotations)."""
    flavor = next(f for f in spec.flavors if f.name == name)
    try:
        d = parse_descriptor(layer)
    except (ValueError, TypeError, AttributeError) as e:
        raise PlanError(f"{where} is not a descriptor: {e}") from e
    notes = d.annotation_map
    role = next((r for r in spec.roles if r.name == notes.get(ROLE, "")), None)
    if role is None or TITLE not in notes:
        raise PlanError(f"{where} names no role of the spec ({ROLE}={notes.get(ROLE)!r})",
                        hint="publish the flavor again with this spec: gl-ocm publish VERSION --flavor " + name)
    title = notes[TITLE]
    part = role.part_of(title.removeprefix(spec.artefact_base_name(flavor.cname, flavor.arch) + "."))
    if role.pattern is not None and part is None:
        raise PlanError(f"{where} is {title!r}, which role {role.name} ({role.pattern}) does not match")
    return ArtefactFile(path=Path(title), role=role, digest=d.digest, size=d.size, part=part)


def _referred_files(spec: ReleaseSpec, target: ReadOnlyTarget, name: str, subject: Descriptor,
                    expected: list[str]) -> list[tuple[ArtefactFile, Descriptor]]:
    """The files the flavor manifest says are its referrers, each with its referrer manifest, as the target lists
    them (referrers API or fallback tag); one that is not listed is refused."""
    if not expected:
        return []
    repo = spec.release_repository
    flavor = next(f for f in spec.flavors if f.name == name)
    base = spec.artefact_base_name(flavor.cname, flavor.arch) + "."
    listing = list_referrers(target, repo, subject)
    by_title = {e.annotation_map.get(TITLE): e for e in listing.entries
                if e.annotation_map.get("io.gardenlinux.flavor") == name}
    out: list[tuple[ArtefactFile, Descriptor]] = []
    missing = []
    for suffix in expected:
        entry = by_title.get(base + suffix)
        if entry is None:
            missing.append(suffix)
            continue
        where = f"{target.name}/{repo}@{entry.digest} ({suffix})"
        doc = _json(target, repo, entry.bare(), "referrer manifest")
        layers = doc.get("layers") if isinstance(doc, dict) else None
        if not isinstance(layers, list) or len(layers) != 1:
            raise PlanError(f"{where}: a referrer of {name} must have one layer")
        out.append((_file(spec, name, layers[0], f"{where}: layers[0]"), entry.bare()))
    if missing:
        raise NotFound(
            f"{target.name}/{repo}@{subject.digest} ({name}) names referrers that the {listing.via} does not list: "
            + ", ".join(missing),
            hint=f"the flavor job stopped before they were attached: publish it again with --flavor {name}",
        )
    return out


def _container(spec: ReleaseSpec, target: ReadOnlyTarget, index: int) -> ContainerParts | None:
    container = spec.containers[index]
    repo, tag = container.repository, container_tag(spec, container.cname, container.arch)
    try:
        desc = target.resolve(repo, tag)
    except NotFound:
        return None
    manifest = _json(target, repo, desc, "container manifest")
    try:
        config = parse_descriptor(manifest["config"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise PlanError(f"{target.name}/{repo}:{tag}: the container manifest has no config: {e}") from e
    architecture = _json(target, repo, config.bare(), "image config").get("architecture")
    if not isinstance(architecture, str):
        raise PlanError(f"{target.name}/{repo}:{tag}: the image config names no architecture")
    return ContainerParts.published(spec, container, desc.bare(), architecture)


def read_parts(spec: ReleaseSpec, target: ReadOnlyTarget) -> PublishedParts:
    """Every flavor's and container's parts that `target` holds, and the names of those it lacks (spec order)."""
    flavors: list[FlavorParts] = []
    containers: list[ContainerParts] = []
    missing: list[str] = []
    for flavor in spec.flavors:
        found = _flavor(spec, target, flavor.name)
        if found is None:
            missing.append(flavor.name)
        else:
            flavors.append(found)
    for i, container in enumerate(spec.containers):
        image = _container(spec, target, i)
        if image is None:
            missing.append(f"{container.name} {container.name_arch}")
        else:
            containers.append(image)
    return PublishedParts(parts=ReleaseParts(flavors=tuple(flavors), containers=tuple(containers)),
                          missing=tuple(missing))
