"""Inventory of a build output directory: classify every file by role, group by flavor, measure digests (I/O).

Everything is checked before anything is written, in two passes that each report all their problems in one error.
First names and kinds, without opening anything: a flavor missing a required role, an unknown suffix, a duplicate, a
file of another release or of a flavor the spec does not list, a FIFO, device or socket, a symbolic link that leaves
the directory, an empty file that cannot be empty, a directory that cannot be read. Then content: every file is hashed
and every OCI archive checked blob by blob (`archive.read_container_archive`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from pathlib import Path

from ..errors import InventoryError
from ..spec.model import Container, Flavor, ReleaseSpec, Role
from ._files import kind_of, open_regular
from .archive import ArchiveError, ContainerArchive, read_container_archive
from .packages import Package, read_package_list

__all__ = ["Selection", "ArtefactFile", "FlavorArtefacts", "ContainerArtefacts", "Inventory", "scan", "classify",
           "file_digest"]

_ARCHIVE_SUFFIX = "oci"
PACKAGE_LIST_ROLE = "package-list"  # the role whose file lists the flavor's packages
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
    packages: tuple[Package, ...] = ()  # from the package list (`.manifest`), in file order


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
    """SHA-256 and size of a regular file in one streaming pass (a FIFO or device raises `OSError`, never blocks)."""
    h = hashlib.sha256()
    size = 0
    with open_regular(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return f"sha256:{h.hexdigest()}", size


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The part of a release one job publishes: some flavors (`{cname}-{arch}`), and the containers or not."""

    flavors: frozenset[str] = frozenset()
    containers: bool = False

    def wants(self, name: str, spec: ReleaseSpec) -> bool:
        if any(c.name_arch == name for c in spec.containers):
            return self.containers
        return name in self.flavors


def classify(
    spec: ReleaseSpec, names: list[str], selected: Selection | None = None
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Group files by flavor (`{cname}-{arch}`) and role (pure). `names` are paths relative to the build output
    directory (flat, or one folder per flavor); the file name alone decides. Returns (groups, problems).

    With `selected`, files of the release's other flavors and containers are ignored, and may be absent."""
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
        if selected is not None and not selected.wants(flavor, spec):
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
        if selected is not None and not selected.wants(f.name, spec):
            continue
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
    for c in spec.containers if selected is None or selected.containers else ():
        if "container-archive" not in groups.get(c.name_arch, {}):
            problems.append(
                f"{c.name_arch}: missing the container image "
                f"{spec.artefact_base_name(c.cname, c.arch)}.{_ARCHIVE_SUFFIX}"
            )
    return groups, problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    """The regular files below the artefact directory (relative path -> size), the entries refused for their kind
    (still classified, so a refused file is not also reported missing) and the problems found."""

    sizes: dict[str, int]
    refused: list[str]
    problems: list[str]


def _follow(path: Path, rel: str, root: Path) -> tuple[os.stat_result | None, str | None]:
    """A symbolic link is followed only to a regular file inside the artefact directory."""
    target = os.readlink(path)
    if not Path(os.path.realpath(path)).is_relative_to(root):
        return None, f"{rel}: is a symbolic link to {target}, outside the artefact directory; copy the file in instead"
    try:
        st = os.stat(path)
    except OSError as e:
        return None, f"{rel}: is a broken symbolic link (to {target}): {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return None, f"{rel}: is a symbolic link to {kind_of(st.st_mode)} ({target}); only links to files are followed"
    return st, None


def _examine(path: Path, rel: str, root: Path) -> tuple[os.stat_result | None, str | None]:
    """`lstat` an entry, following a symbolic link only where `_follow` allows; nothing is opened."""
    try:
        st = os.lstat(path)
        return _follow(path, rel, root) if stat.S_ISLNK(st.st_mode) else (st, None)
    except OSError as e:
        return None, f"{rel}: cannot be examined: {e.strerror}"


def _walk(directory: Path) -> _Found:
    """Every non-hidden entry below `directory`, by `lstat`: FIFOs, devices and sockets are named, never opened."""
    root = Path(os.path.realpath(directory))
    sizes: dict[str, int] = {}
    refused: list[str] = []
    problems: list[str] = []
    pending = [directory]
    while pending:
        folder = pending.pop()
        where = folder.relative_to(directory).as_posix()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            problems.append(f"{folder if where == '.' else where + '/'}: cannot read the directory: {e.strerror}")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            rel = path.relative_to(directory).as_posix()
            st, problem = _examine(path, rel, root)
            if st is None:
                refused.append(rel)
                problems.append(problem or f"{rel}: cannot be examined")
            elif stat.S_ISDIR(st.st_mode):
                pending.append(path)
            elif stat.S_ISREG(st.st_mode):
                sizes[rel] = st.st_size
            else:
                refused.append(rel)
                problems.append(f"{rel}: is {kind_of(st.st_mode)}, not a regular file (not opened)")
    return _Found(sizes=sizes, refused=refused, problems=problems)


def _empty(spec: ReleaseSpec, groups: dict[str, dict[str, str]], sizes: dict[str, int]) -> list[str]:
    """Zero-byte files that cannot be empty: a required role, a platform's disk image, a container archive."""
    images = {f.name: spec.platform(f.platform).images for f in spec.flavors}
    problems = []
    for flavor, slot in sorted(groups.items()):
        must = {*spec.required_roles, *images.get(flavor, ()), "container-archive"}
        for role, rel in sorted(slot.items()):
            if role in must and sizes.get(rel) == 0:
                problems.append(f"{rel}: is empty (0 bytes); a {role} file cannot be empty")
    return problems


def _refuse(directory: Path, spec: ReleaseSpec, problems: list[str], hint: str) -> InventoryError:
    listed = "\n  ".join(problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return InventoryError(
        f"{directory}: {len(problems)} problem(s) with the artefacts of release {spec.version}:\n  {listed}{more}",
        hint=hint,
    )


def _check_directory(directory: Path, spec: ReleaseSpec) -> None:
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        raise InventoryError(
            f"artefact directory {directory} does not exist",
            hint=f"build the release, or run 'gl-ocm sample-artefacts {spec.version} -o {directory}'",
        ) from None
    except OSError as e:
        raise InventoryError(f"artefact directory {directory} cannot be read: {e.strerror}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise InventoryError(
            f"artefact directory {directory} is not a directory (it is {kind_of(st.st_mode)})",
            hint="pass --artefacts the directory that holds the build output, not one of its files",
        )


def scan(directory: Path, spec: ReleaseSpec, selected: Selection | None = None) -> Inventory:
    """Read a build output directory into an `Inventory`; raises `InventoryError` listing every problem.

    With `selected`, only those flavors (and the containers, if selected) are read; the others' files may be absent.

    Two passes, each reporting all its problems at once: the names and kinds of the files (cheap), then their content
    (every file and every blob of every OCI archive hashed once). Nothing is written either way.
    """
    _check_directory(directory, spec)
    found = _walk(directory)
    groups, problems = classify(spec, [*found.sizes, *found.refused], selected)
    problems = [*found.problems, *problems, *_empty(spec, groups, found.sizes)]
    if problems:
        raise _refuse(directory, spec, problems, "nothing was published; fix the build output or the release spec")
    role_order = {r.name: i for i, r in enumerate(spec.roles)}

    def measure(flavor: str) -> tuple[ArtefactFile, ...]:
        slot = groups.get(flavor, {})
        out = []
        for role_name in sorted((r for r in slot if r != "container-archive"), key=role_order.__getitem__):
            path = directory / slot[role_name]
            try:
                digest, size = file_digest(path)
            except OSError as e:
                problems.append(f"{slot[role_name]}: cannot be read: {e.strerror or e}")
                continue
            out.append(ArtefactFile(path=path, role=spec.role(role_name), digest=digest, size=size))
        return tuple(out)

    def image(container: Container) -> ContainerArchive | None:
        rel = groups[container.name_arch]["container-archive"]
        try:
            return read_container_archive(directory / rel, container.arch)
        except ArchiveError as e:
            problems.extend(f"{rel}: {p}" for p in e.problems)
            return None

    def packages(files: tuple[ArtefactFile, ...]) -> tuple[Package, ...]:
        listed = [f for f in files if f.role.name == PACKAGE_LIST_ROLE]
        if not listed:
            return ()
        try:
            found, bad = read_package_list(listed[0].path)
        except OSError as e:
            found, bad = (), [f"{listed[0].name}: cannot be read: {e.strerror or e}"]
        problems.extend(bad)
        return found

    wanted = [f for f in spec.flavors if selected is None or selected.wants(f.name, spec)]
    measured = [(f, measure(f.name)) for f in wanted]
    flavors = tuple(FlavorArtefacts(flavor=f, files=files, packages=packages(files)) for f, files in measured)
    chosen = spec.containers if selected is None or selected.containers else ()
    containers = [(c, image(c), measure(c.name_arch)) for c in chosen]
    if problems:
        raise _refuse(
            directory, spec, problems, "nothing was published; rebuild the broken files (an OCI archive: save it again)"
        )
    return Inventory(
        flavors=flavors,
        containers=tuple(
            ContainerArtefacts(container=c, image=img, files=files) for c, img, files in containers if img is not None
        ),
    )
