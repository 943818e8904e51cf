"""Inventory of a build output directory: classify every file by role, group by flavor, measure digests (I/O).

Everything is checked before anything is measured or written: a flavor missing a required role, an unknown suffix,
a duplicate, a file of another release or of a flavor the spec does not list are reported together in one error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

from ..errors import InventoryError
from ..spec.model import Container, Flavor, ReleaseSpec, Role
from .archive import ContainerArchive, read_container_archive

__all__ = ["ArtefactFile", "FlavorArtefacts", "ContainerArtefacts", "Inventory", "scan", "classify", "file_digest"]

_ARCHIVE_SUFFIX = "oci"
_MAX_LISTED = 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ArtefactFile:
    path: Path
    role: Role
    digest: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlavorArtefacts:
    flavor: Flavor
    files: tuple[ArtefactFile, ...]  # in the spec's role order


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerArtefacts:
    container: Container
    image: ContainerArchive
    files: tuple[ArtefactFile, ...]  # other files of the container build (package list, ...)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    flavors: tuple[FlavorArtefacts, ...]
    containers: tuple[ContainerArtefacts, ...]


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file in one streaming pass."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return f"sha256:{h.hexdigest()}", size


def classify(spec: ReleaseSpec, names: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Group files by flavor (`{cname}-{arch}`) and role (pure). `names` are paths relative to the build output
    directory (flat, or one folder per flavor); the file name alone decides. Returns (groups, problems)."""
    by_suffix = {r.suffix: r for r in spec.roles}
    pattern = re.compile(
        r"^(?P<cname>[a-z][a-z0-9_-]*?)-(?P<arch>amd64|arm64)-(?P<version>.+?)-(?P<commit>[0-9a-f]{8}|local)\.(?P<suffix>.+)$"
    )
    known = {f.name for f in spec.flavors} | {c.name_arch for c in spec.containers}
    groups: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for rel in sorted(names):
        name = rel.rsplit("/", 1)[-1]
        m = pattern.match(name)
        if m is None:
            problems.append(f"{name}: not named <cname>-<arch>-<version>-<commit8>.<suffix> (ADR 0035)")
            continue
        if m["version"] != spec.version or m["commit"] != spec.commit_short:
            problems.append(
                f"{name}: belongs to {m['version']}-{m['commit']}, not to this release "
                f"{spec.version}-{spec.commit_short}"
            )
            continue
        flavor = f"{m['cname']}-{m['arch']}"
        if flavor not in known:
            problems.append(f"{name}: flavor {flavor} is not in the release spec")
            continue
        suffix = m["suffix"]
        role = (
            "container-archive"
            if suffix == _ARCHIVE_SUFFIX
            else (by_suffix[suffix].name if suffix in by_suffix else None)
        )
        if role is None:
            problems.append(
                f"{name}: unknown suffix '.{suffix}'; known: "
                + ", ".join(sorted("." + s for s in [*by_suffix, _ARCHIVE_SUFFIX]))
            )
            continue
        slot = groups.setdefault(flavor, {})
        if role in slot:
            problems.append(f"{rel}: duplicate {role} for {flavor} (also {slot[role]})")
            continue
        slot[role] = rel
    for f in spec.flavors:
        have = groups.get(f.name, {})
        missing = [r for r in spec.required_roles if r not in have]
        if missing:
            base = spec.artefact_base_name(f.cname, f.arch)
            expected = ", ".join(f"{base}.{spec.role(r).suffix}" for r in missing)
            problems.append(f"{f.name}: missing required {', '.join(missing)} (expected {expected})")
        if "container-archive" in have:
            problems.append(
                f"{have['container-archive']}: an OCI archive for flavor {f.name}, which is not a container"
            )
    for c in spec.containers:
        if "container-archive" not in groups.get(c.name_arch, {}):
            problems.append(
                f"{c.name_arch}: missing the container image "
                f"{spec.artefact_base_name(c.cname, c.arch)}.{_ARCHIVE_SUFFIX}"
            )
    return groups, problems


def scan(directory: Path, spec: ReleaseSpec) -> Inventory:
    """Read a build output directory into an `Inventory`; raises `InventoryError` listing every problem."""
    if not directory.is_dir():
        raise InventoryError(
            f"artefact directory {directory} does not exist",
            hint=f"build the release, or run 'gl-ocm sample-artefacts {spec.version} -o {directory}'",
        )
    names = [
        p.relative_to(directory).as_posix()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    groups, problems = classify(spec, names)
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise InventoryError(
            f"{directory}: {len(problems)} problem(s) with the artefacts of release {spec.version}:\n  {listed}{more}",
            hint="nothing was published; fix the build output or the release spec",
        )
    role_order = {r.name: i for i, r in enumerate(spec.roles)}

    def measure(flavor: str) -> tuple[ArtefactFile, ...]:
        slot = groups.get(flavor, {})
        out = []
        for role_name in sorted((r for r in slot if r != "container-archive"), key=role_order.__getitem__):
            path = directory / slot[role_name]
            digest, size = file_digest(path)
            out.append(ArtefactFile(path=path, role=spec.role(role_name), digest=digest, size=size))
        return tuple(out)

    flavors = tuple(FlavorArtefacts(flavor=f, files=measure(f.name)) for f in spec.flavors)
    containers = tuple(
        ContainerArtefacts(
            container=c,
            image=read_container_archive(directory / groups[c.name_arch]["container-archive"], c.arch),
            files=measure(c.name_arch),
        )
        for c in spec.containers
    )
    return Inventory(flavors=flavors, containers=containers)
