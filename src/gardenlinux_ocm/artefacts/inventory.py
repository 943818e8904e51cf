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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InventoryError
from ..spec.model import Container, Flavor, ReleaseSpec, Role
from ._files import kind_of, open_regular
from .archive import ArchiveError, ContainerArchive, read_container_archive
from .packages import Package, parse_package_list, read_package_list

if TYPE_CHECKING:
    from .digests import DigestCache, Digests

__all__ = ["Selection", "ArtefactFile", "FlavorArtefacts", "ContainerArtefacts", "Inventory", "scan", "classify",
           "file_digest", "role_for", "slot_key", "split_slot_key"]

_ARCHIVE_SUFFIX = "oci"
_CONTAINER_ARCHIVE = "container-archive"
PACKAGE_LIST_ROLE = "package-list"  # the role whose file lists the flavor's packages
_MAX_LISTED = 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ArtefactFile:
    path: Path
    role: Role
    digest: str
    size: int
    part: str | None = None  # what a pattern role's `*` stood for (`raw` of `*.log`)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def media_type(self) -> str:
        return self.role.media_type_for(self.part)


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


def file_digest(path: Path, digests: Digests | None = None) -> tuple[str, int]:
    """SHA-256 and size of a regular file in one streaming pass (a FIFO or device raises `OSError`, never blocks).

    With `digests`, a file hashed before and unchanged since (same path and `stat`) is not read again."""
    if digests is not None and isinstance(cached := digests.lookup(path, st := os.stat(path), "sha256"), str):
        return cached, st.st_size
    h = hashlib.sha256()
    size = 0
    with open_regular(path) as f:
        st = os.fstat(f.fileno())
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    if digests is not None and size == st.st_size:
        digests.store(path, st, "sha256", f"sha256:{h.hexdigest()}")
    return f"sha256:{h.hexdigest()}", size


def _package_list(path: Path, digests: Digests | None) -> tuple[tuple[Package, ...], list[str]]:
    """`read_package_list`, or the list parsed before from the unchanged file (kept as `name version` lines)."""
    if digests is not None and isinstance(text := digests.lookup(path, os.stat(path), "packages"), str):
        return parse_package_list(text.encode(), path.name)
    st = os.stat(path)
    found, bad = read_package_list(path)
    if digests is not None and not bad:
        digests.store(path, st, "packages", "".join(f"{name} {version}\n" for name, version in found))
    return found, bad


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The part of a release one job publishes: some flavors (`{cname}-{arch}`), and the containers or not."""

    flavors: frozenset[str] = frozenset()
    containers: bool = False

    def wants(self, name: str, spec: ReleaseSpec) -> bool:
        if any(c.name_arch == name for c in spec.containers):
            return self.containers
        return name in self.flavors


_NAME = re.compile(
    r"^(?P<cname>[a-z][a-zA-Z0-9_-]*?)-(?P<arch>amd64|arm64)-(?P<version>.+?)-(?P<commit>[0-9a-f]{8}|local)"
    r"\.(?P<suffix>.+)$"
)


def slot_key(role: str, part: str | None) -> str:
    """The key of a file in its flavor's group: the role, and for a pattern role also what `*` stood for."""
    return role if part is None else f"{role}*{part}"


def split_slot_key(key: str) -> tuple[str, str | None]:
    role, _, part = key.partition("*")
    return role, part or None


def role_for(spec: ReleaseSpec, suffix: str) -> tuple[Role, str | None] | None:
    """The role of a file suffix and, for a pattern role, its part: a fixed suffix wins, then the longest pattern."""
    for role in spec.roles:
        if role.suffix == suffix:
            return role, None
    matches = [(role, part) for role in spec.roles if (part := role.part_of(suffix)) is not None]
    return max(matches, key=lambda m: len(str(m[0].pattern)), default=None)


def _archives(spec: ReleaseSpec) -> dict[str, str]:
    """Container archives the spec names by path (`bare_flavors/python-amd64.oci`) -> their container."""
    return {c.archive: c.name_arch for c in spec.containers if c.archive is not None}


def _archive_of(archives: dict[str, str], rel: str) -> str | None:
    name = rel.rsplit("/", 1)[-1]
    return archives.get(rel) or next((c for path, c in archives.items() if "/" not in path and path == name), None)


def classify(
    spec: ReleaseSpec, names: list[str], selected: Selection | None = None
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Group files by flavor (`{cname}-{arch}`) and role (pure). `names` are paths relative to the build output
    directory (flat, or one folder per flavor); the file name alone decides, except for a container archive the
    spec names by path. Returns (groups, problems); a group maps `slot_key`s to paths.

    With `selected`, files of the release's other flavors and containers are ignored, and may be absent."""
    known = {f.name for f in spec.flavors} | {c.name_arch for c in spec.containers}
    archives = _archives(spec)
    groups: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for rel in sorted(names):
        name = rel.rsplit("/", 1)[-1]
        owner = _archive_of(archives, rel)
        if owner is not None:
            if selected is None or selected.wants(owner, spec):
                groups.setdefault(owner, {})[_CONTAINER_ARCHIVE] = rel
            continue
        m = _NAME.match(name)
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
        found = ((None, None) if suffix == _ARCHIVE_SUFFIX else role_for(spec, suffix))
        if found is None:
            forms = sorted([f".{r.suffix}" if r.suffix else str(r.pattern) for r in spec.roles]
                           + ["." + _ARCHIVE_SUFFIX])
            problems.append(f"{name}: unknown suffix '.{suffix}'; known: " + ", ".join(forms))
            continue
        role, part = found
        key = _CONTAINER_ARCHIVE if role is None else slot_key(role.name, part)
        slot = groups.setdefault(flavor, {})
        if key in slot:
            problems.append(f"{rel}: duplicate {key.replace('*', ' ')} for {flavor} (also {slot[key]})")
            continue
        slot[key] = rel
    for f in spec.flavors:
        if selected is not None and not selected.wants(f.name, spec):
            continue
        have = groups.get(f.name, {})
        missing = [r for r in spec.required_roles if not any(split_slot_key(k)[0] == r for k in have)]
        if missing:
            base = spec.artefact_base_name(f.cname, f.arch)
            expected = ", ".join(f"{base}.{spec.role(r).file_form}" for r in missing)
            problems.append(f"{f.name}: missing required {', '.join(missing)} (expected {expected})")
        if _CONTAINER_ARCHIVE in have:
            problems.append(
                f"{have[_CONTAINER_ARCHIVE]}: an OCI archive for flavor {f.name}, which is not a container"
            )
    for c in spec.containers if selected is None or selected.containers else ():
        if _CONTAINER_ARCHIVE not in groups.get(c.name_arch, {}):
            problems.append(f"{c.name_arch}: missing the container image {spec.container_archive(c)}")
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
        must = {*spec.required_roles, *images.get(flavor, ()), _CONTAINER_ARCHIVE}
        for key, rel in sorted(slot.items()):
            role = split_slot_key(key)[0]
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


def scan(
    directory: Path, spec: ReleaseSpec, selected: Selection | None = None, cache: DigestCache | None = None
) -> Inventory:
    """Read a build output directory into an `Inventory`; raises `InventoryError` listing every problem.

    With `selected`, only those flavors (and the containers, if selected) are read; the others' files may be absent.

    Two passes, each reporting all its problems at once: the names and kinds of the files (cheap), then their content
    (every file and every blob of every OCI archive hashed once). Nothing is written either way, but to `cache`:
    what it holds for an unchanged file is taken without reading the file, what was measured is saved to it.
    """
    _check_directory(directory, spec)
    found = _walk(directory)
    groups, problems = classify(spec, [*found.sizes, *found.refused], selected)
    problems = [*found.problems, *problems, *_empty(spec, groups, found.sizes)]
    if problems:
        raise _refuse(directory, spec, problems, "nothing was published; fix the build output or the release spec")
    role_order = {r.name: i for i, r in enumerate(spec.roles)}
    digests = cache.load(directory) if cache is not None else None

    def measure(flavor: str) -> tuple[tuple[ArtefactFile, ...], list[str]]:
        slot = groups.get(flavor, {})
        out, bad = [], []
        keys = [split_slot_key(k) for k in slot if k != _CONTAINER_ARCHIVE]
        for role_name, part in sorted(keys, key=lambda k: (role_order[k[0]], k[1] or "")):
            rel = slot[slot_key(role_name, part)]
            path = directory / rel
            try:
                digest, size = file_digest(path, digests)
            except OSError as e:
                bad.append(f"{rel}: cannot be read: {e.strerror or e}")
                continue
            out.append(ArtefactFile(path=path, role=spec.role(role_name), digest=digest, size=size, part=part))
        return tuple(out), bad

    def image(container: Container) -> tuple[ContainerArchive | None, list[str]]:
        rel = groups[container.name_arch][_CONTAINER_ARCHIVE]
        try:
            return read_container_archive(directory / rel, container.arch, digests), []
        except ArchiveError as e:
            return None, [f"{rel}: {p}" for p in e.problems]

    def packages(files: tuple[ArtefactFile, ...]) -> tuple[tuple[Package, ...], list[str]]:
        listed = [f for f in files if f.role.name == PACKAGE_LIST_ROLE]
        if not listed:
            return (), []
        try:
            return _package_list(listed[0].path, digests)
        except OSError as e:
            return (), [f"{listed[0].name}: cannot be read: {e.strerror or e}"]

    def flavor_artefacts(flavor: Flavor) -> tuple[FlavorArtefacts, list[str]]:
        files, bad = measure(flavor.name)
        found, unlisted = packages(files)
        return FlavorArtefacts(flavor=flavor, files=files, packages=found), [*bad, *unlisted]

    def container_artefacts(container: Container) -> tuple[ContainerArtefacts | None, list[str]]:
        img, bad = image(container)
        files, unread = measure(container.name_arch)
        ca = ContainerArtefacts(container=container, image=img, files=files) if img is not None else None
        return ca, [*bad, *unread]

    wanted = [f for f in spec.flavors if selected is None or selected.wants(f.name, spec)]
    chosen = spec.containers if selected is None or selected.containers else ()
    # Files are hashed in parallel (hashlib and reads release the GIL); results and problems keep the spec's order.
    with ThreadPoolExecutor(max_workers=_hash_workers(), thread_name_prefix="gl-ocm-scan") as pool:
        measured = list(pool.map(flavor_artefacts, wanted))
        images = list(pool.map(container_artefacts, chosen))
    for _, bad in (*measured, *images):
        problems.extend(bad)
    flavors = tuple(fa for fa, _ in measured)
    if digests is not None:
        digests.save()
    if problems:
        raise _refuse(
            directory, spec, problems, "nothing was published; rebuild the broken files (an OCI archive: save it again)"
        )
    return Inventory(flavors=flavors, containers=tuple(ca for ca, _ in images if ca is not None))


def _hash_workers() -> int:
    """Threads that hash files: one per core, at most 4 (more only contend for the disk)."""
    return max(1, min(4, os.cpu_count() or 1))
