"""Download a published flavor's files: resolve its tag, check its layers, stream each file into a directory.

The pure part turns a flavor manifest into `FlavorFile`s and selects them by role. Every layer needs a title
(`org.opencontainers.image.title`, the original file name) that is a plain file name, unique in the manifest: one
with `/`, `..`, a leading dot, NUL or a control character, an empty one, an overlong one or a duplicate is refused,
all of them at once, before anything is written.

The files of the flavor's referrers (its evidence attached with `attach: referrer`: test logs, SBOMs) come after its
layers; they are found through the referrers API or the fallback tag, each referrer manifest read like the flavor's.

The I/O part reads the manifest (bounded, checked against its digest) from any `ReadOnlyTarget`, then first looks at
what the directory holds: a file with the layer's size and digest (re-hashed, streaming) is left alone, so a second
run writes nothing; one with other content is refused (`FilesWouldChange`, nothing written) unless the policy is
`OnChange.OVERWRITE`. Each file to write is streamed in 1 MiB chunks into an owned temporary `.NAME.<random>.part`
beside it, hashed as the bytes pass, fsync-ed and renamed into place only when size and digest match; otherwise the
temporary is removed and `DigestMismatch` names the file with the expected and found digests. Memory stays flat
whatever the file size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from ..bounded import LIMITS, json_document
from ..errors import DigestMismatch, NotFound, TargetError, UsageError, VerificationError
from ._download_files import A_DIRECTORY, SAME, disk_errors, inspect, place, sync_directory, temporary
from .copy.changes import OnChange
from .model import TAG_RE, Descriptor, MediaType, parse_descriptor, sha256_digest, version_to_tag
from .target import ReadOnlyTarget

__all__ = [
    "TITLE",
    "ROLE",
    "CHUNK",
    "MAX_MANIFEST",
    "MAX_TITLE_BYTES",
    "FileStatus",
    "FlavorFile",
    "DownloadedFile",
    "DownloadResult",
    "FilesWouldChange",
    "flavor_reference",
    "title_problem",
    "flavor_files",
    "select_files",
    "read_flavor",
    "download",
]

TITLE = "org.opencontainers.image.title"
ROLE = "io.gardenlinux.role"
REFERRERS_ANNOTATION = "io.gardenlinux.referrers"  # a flavor manifest's referrers (plan.referrers)
CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
MAX_TITLE_BYTES = 200  # with `.NAME.<16 hex>.part` the temporary's name stays within NAME_MAX (255)
_MANIFEST_TYPES = frozenset({MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST})
_MAX_LISTED = 10  # problems or names listed in a message; the rest are counted
_BAD_MANIFEST_HINT = (
    "nothing was written; the titles become file names in DIR, so each must be a plain file name, once per manifest; "
    "ask the publisher of this tag, or check it with gl-ocm verify"
)


class FileStatus(StrEnum):
    WRITTEN = "written"  # streamed, checked and renamed into place
    UNCHANGED = "unchanged"  # already there with the layer's size and digest


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlavorFile:
    """One layer of a flavor manifest: the file name it is written under (its title), its role and descriptor."""

    name: str
    role: str  # "" when the layer names none
    layer: Descriptor


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DownloadedFile:
    file: FlavorFile
    status: FileStatus

    def to_dict(self) -> dict[str, Any]:
        layer = self.file.layer
        return {"name": self.file.name, "role": self.file.role, "media_type": layer.media_type,
                "digest": layer.digest, "size": layer.size, "status": self.status.value}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DownloadResult:
    """What `download` did: the flavor manifest it read and each selected file, in manifest order."""

    target: str
    reference: str  # repository:tag
    manifest: Descriptor
    directory: Path
    files: tuple[DownloadedFile, ...]

    def count(self, status: FileStatus) -> int:
        return sum(f.status is status for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "reference": self.reference, "digest": self.manifest.digest,
                "directory": str(self.directory), "files": [f.to_dict() for f in self.files],
                "written": self.count(FileStatus.WRITTEN), "unchanged": self.count(FileStatus.UNCHANGED)}


class FilesWouldChange(TargetError):
    """Files in the directory have other content than the flavor's layers, and the policy is `OnChange.FAIL`."""

    def __init__(self, message: str, *, names: tuple[str, ...], hint: str | None = None) -> None:
        super().__init__(message, reference=names[0] if names else None, hint=hint)
        self.names = names


# -- the pure part
def flavor_reference(version: str, flavor: str) -> str:
    """The tag of a flavor manifest, `<version>-<cname>-<arch>`, as `plan.build.flavor_tag` writes it."""
    tag = f"{version_to_tag(version)}-{flavor}"
    if not flavor or not TAG_RE.match(tag):
        raise UsageError(
            f"--flavor {_shown(flavor)} is not CNAME-ARCH: {_shown(tag)} is not an OCI tag",
            hint="e.g. --flavor aws-gardener_prod-amd64 (letters, digits, '_', '.' and '-'; a tag has at most 128 "
            "characters)",
        )
    return tag


def title_problem(title: object) -> str | None:
    """Why a layer title cannot be a file name in the download directory, or None when it can."""
    if title is None:
        return f"has no title ({TITLE})"
    if not isinstance(title, str):
        return "has a title that is not a string"
    if not title:
        return "has an empty title"
    if "\0" in title:
        return "has a title with a NUL byte"
    if title.startswith("/"):
        return "has an absolute path as its title"
    if ".." in title:
        return "has a title with '..'"
    if "/" in title or "\\" in title:
        return "has a title with a path separator"
    if title.startswith("."):
        return "has a title starting with '.' (a hidden file)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in title):
        return "has a title with a control character"
    try:
        length = len(title.encode("utf-8"))
    except UnicodeEncodeError:
        return "has a title that is not valid Unicode"
    if length > MAX_TITLE_BYTES:
        return f"has a title of {length} bytes, more than the {MAX_TITLE_BYTES} allowed"
    return None


def flavor_files(manifest: bytes, where: str) -> tuple[FlavorFile, ...]:
    """The files of a flavor manifest, in layer order; raises `VerificationError` listing every unsafe or duplicate
    title (and any malformed layer) at once."""
    try:
        doc = json_document(manifest, what="manifest", where=where, limit=LIMITS.manifest)
    except ValueError as e:
        raise VerificationError(f"{where}: the manifest is not JSON ({e})") from e
    if not isinstance(doc, dict):
        raise VerificationError(f"{where}: the manifest is a JSON {type(doc).__name__}, not an object")
    media_type = doc.get("mediaType", MediaType.OCI_MANIFEST)
    if media_type not in _MANIFEST_TYPES:
        raise VerificationError(
            f"{where} is a {media_type!r}, not an image manifest with files",
            hint="name a flavor (CNAME-ARCH): its tag points at a flavor manifest, whose layers are the files",
        )
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise VerificationError(f"{where}: the manifest has no layers, so no files")
    problems: list[str] = []
    files: list[FlavorFile] = []
    first: dict[str, int] = {}
    for position, layer in enumerate(layers):
        annotations = layer.get("annotations") if isinstance(layer, dict) else None
        if not isinstance(layer, dict) or not isinstance(annotations, dict | None):
            problems.append(f"layers[{position}] is not a descriptor with annotations")
            continue
        try:
            descriptor = parse_descriptor(layer)
        except ValueError as e:
            problems.append(f"layers[{position}]: {e}")
            continue
        title = (annotations or {}).get(TITLE)
        problem = title_problem(title)
        if problem is None and isinstance(title, str) and title in first:
            problem = f"has the title of layers[{first[title]}]"
        if problem is not None:
            problems.append(f"layers[{position}] ({descriptor.digest}) {problem}: {_shown(title)}")
            continue
        assert isinstance(title, str)
        first[title] = position
        role = (annotations or {}).get(ROLE)
        files.append(FlavorFile(name=title, role=role if isinstance(role, str) else "", layer=descriptor.bare()))
    if problems:
        listed = problems[:_MAX_LISTED] + ([f"{len(problems) - _MAX_LISTED} more"] if len(problems) > _MAX_LISTED
                                           else [])
        raise VerificationError(f"{where}: refusing to write its files: {'; '.join(listed)}", hint=_BAD_MANIFEST_HINT)
    return tuple(files)


def select_files(files: Sequence[FlavorFile], roles: Sequence[str], where: str) -> tuple[FlavorFile, ...]:
    """The files of `roles` (every file when none is given), in manifest order; an unknown role is a `UsageError`
    listing the roles the manifest has."""
    if not roles:
        return tuple(files)
    available = list(dict.fromkeys(f.role for f in files if f.role))
    unknown = [r for r in dict.fromkeys(roles) if r not in available]
    if unknown:
        near = difflib.get_close_matches(unknown[0], available, n=1)
        raise UsageError(
            f"{where} has no file of role {', '.join(map(_shown, unknown))}; its roles are: "
            f"{', '.join(available) or 'none'}",
            hint=f"did you mean --role {near[0]}?" if near else "give --role once per role, or none for every file",
        )
    wanted = set(roles)
    return tuple(f for f in files if f.role in wanted)


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the I/O part
def read_flavor(src: ReadOnlyTarget, repository: str, version: str, flavor: str
                ) -> tuple[str, Descriptor, tuple[FlavorFile, ...]]:
    """Resolve a flavor's tag and read its manifest (at most `MAX_MANIFEST` bytes, checked against its digest):
    the tag, the manifest descriptor and the files."""
    tag = flavor_reference(version, flavor)
    where = f"{src.name}/{repository}:{tag}"
    try:
        descriptor = src.resolve(repository, tag)
    except NotFound as e:
        raise NotFound(f"{where} not found: the target has no manifest with this tag",
                       reference=f"{repository}:{tag}", hint=_missing_hint(src, repository, version, flavor)) from e
    if descriptor.size > MAX_MANIFEST:
        raise VerificationError(f"{where}: the manifest has {descriptor.size} bytes, more than the "
                                f"{MAX_MANIFEST >> 20} MiB a flavor manifest may have")
    data = _read_manifest(src, repository, descriptor, where)
    files = flavor_files(data, where)
    doc = json_document(data, what="manifest", where=where, limit=LIMITS.manifest)
    expected = (doc.get("annotations") or {}).get(REFERRERS_ANNOTATION)
    if expected:
        files = _with_referrers(src, repository, descriptor, files, where)
    return tag, descriptor, files


def _read_manifest(src: ReadOnlyTarget, repository: str, descriptor: Descriptor, where: str) -> bytes:
    with src.fetch(repository, descriptor) as f:
        data = f.read(descriptor.size + 1)
    found = sha256_digest(data)
    if len(data) != descriptor.size or found != descriptor.digest:
        raise DigestMismatch(f"{where}: the manifest does not match its descriptor: expected {descriptor.digest} "
                             f"({descriptor.size} bytes), found {found} ({len(data)} bytes)",
                             reference=f"{repository}@{descriptor.digest}")
    return data


def _with_referrers(src: ReadOnlyTarget, repository: str, subject: Descriptor, files: tuple[FlavorFile, ...],
                    where: str) -> tuple[FlavorFile, ...]:
    """The flavor's layers, then the files of its referrers that name a role (the flavor's evidence, as
    `plan.referrers` attaches it; signatures and other tools' referrers are left out), found through the referrers
    API or the fallback tag. A title used twice is refused."""
    from .referrers import list_referrers

    out = list(files)
    titles = {f.name for f in files}
    for entry in list_referrers(src, repository, subject).entries:
        if ROLE not in entry.annotation_map or entry.size > MAX_MANIFEST:
            continue
        at = f"{src.name}/{repository}@{entry.digest} (a referrer of {where})"
        for f in flavor_files(_read_manifest(src, repository, entry.bare(), at), at):
            if f.name in titles:
                raise VerificationError(f"{at}: refusing to write its files: {f.name!r} is also a file of the flavor",
                                        hint=_BAD_MANIFEST_HINT)
            titles.add(f.name)
            out.append(f)
    return tuple(out)


def _missing_hint(src: ReadOnlyTarget, repository: str, version: str, flavor: str) -> str:
    """What the target has instead: the tags of the same version (the nearest first), or that it has none."""
    try:
        tags = src.tags(repository)
    except TargetError:
        tags = []  # only the hint is poorer: the NotFound itself is raised
    prefix = f"{version_to_tag(version)}-"
    flavors = [t[len(prefix):] for t in tags if t.startswith(prefix)]
    if not flavors:
        return (f"check VERSION, TARGET and --repository: {repository} has no tag of version {version}" if tags
                else f"check TARGET and --repository: {repository} has no tags there")
    near = difflib.get_close_matches(flavor, flavors, n=1)
    listed = ", ".join(flavors[:_MAX_LISTED]) + (f" and {len(flavors) - _MAX_LISTED} more"
                                                 if len(flavors) > _MAX_LISTED else "")
    lead = f"did you mean --flavor {near[0]}? " if near else ""
    return f"{lead}{repository} has {len(flavors)} tag(s) of {version}: {listed}"


def download(
    src: ReadOnlyTarget,
    directory: Path,
    *,
    version: str,
    flavor: str,
    repository: str = "gardenlinux",
    roles: Sequence[str] = (),
    on_change: OnChange = OnChange.FAIL,
) -> DownloadResult:
    """Write the files of flavor `flavor` (CNAME-ARCH) of release `version` (those of `roles`, or all) into
    `directory`, each under its title.

    Everything that can be refused (a missing tag, unsafe titles, an unknown role, files in the way) is refused
    before the first write. Files are then written one by one, each complete and checked or not at all.
    """
    tag, manifest, files = read_flavor(src, repository, version, flavor)
    selected = select_files(files, roles, f"{src.name}/{repository}:{tag}")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is not a directory", hint="give -o a directory (it is created when missing)")
    states = [(f, inspect(directory / f.name, f.layer)) for f in selected]
    in_the_way = [(f, why) for f, why in states
                  if why and (on_change is OnChange.FAIL or why == A_DIRECTORY)]
    if in_the_way:
        raise _would_change(directory, in_the_way)
    created = not directory.exists()
    if any(why != SAME for _, why in states):
        with disk_errors(directory):
            directory.mkdir(parents=True, exist_ok=True)
    try:
        _write_all(src, repository, [(f, why) for f, why in states if why != SAME], directory)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when it is still empty: nothing of this run is left behind
        raise
    done = [DownloadedFile(file=file, status=FileStatus.UNCHANGED if why == SAME else FileStatus.WRITTEN)
            for file, why in states]
    return DownloadResult(target=src.name, reference=f"{repository}:{tag}", manifest=manifest, directory=directory,
                          files=tuple(done))


def _would_change(directory: Path, in_the_way: list[tuple[FlavorFile, str]]) -> FilesWouldChange:
    names = tuple(f.name for f, _ in in_the_way)
    listed = [f"{f.name} {why}" for f, why in in_the_way[:_MAX_LISTED]]
    if len(in_the_way) > _MAX_LISTED:
        listed.append(f"{len(in_the_way) - _MAX_LISTED} more")
    directories = any(why == A_DIRECTORY for _, why in in_the_way)
    return FilesWouldChange(
        f"{directory}: {len(names)} file(s) in the way: {'; '.join(listed)}",
        names=names,
        hint="nothing was written; " + ("move the directories aside (--overwrite replaces files only)" if directories
                                        else "pass --overwrite to replace them, or download into another directory"),
    )


def _write_all(src: ReadOnlyTarget, repository: str, files: list[tuple[FlavorFile, str | None]],
               directory: Path) -> None:
    """Stream every layer into an owned temporary beside its file, each checked; only when all of them match are
    they renamed into place, so a failure half-way leaves no file of this run under its final name."""
    with contextlib.ExitStack() as stack:
        staged: list[tuple[FlavorFile, Path, Path, bool]] = []
        for file, why in files:
            path = directory / file.name
            out, tmp = stack.enter_context(temporary(path))
            with src.fetch(repository, file.layer) as stream:  # errors reading the target pass as they are
                _copy_checked(stream, out, file, f"{src.name}/{repository}", directory)
            with disk_errors(directory):
                out.flush()
                os.fsync(out.fileno())
            staged.append((file, tmp, path, why is not None))
        placed: list[Path] = []
        for file, tmp, path, replace in staged:
            with disk_errors(directory):
                ok = place(tmp, path, replace=replace)
            if not ok:
                for new in placed:  # files this run added; a replaced file cannot be restored, and is not
                    with contextlib.suppress(OSError):
                        os.unlink(new)
                raise FilesWouldChange(f"{path} appeared while it was downloaded", names=(file.name,),
                                       hint="nothing of this run was kept; run again to compare, or pass --overwrite")
            if not replace:
                placed.append(path)
    if files:
        sync_directory(directory)


def _copy_checked(stream: BinaryIO, out: BinaryIO, file: FlavorFile, where: str, directory: Path) -> None:
    """Copy at most the layer's size (reading one byte more to notice a longer stream) while hashing it; errors
    writing into `directory` are named, errors reading `stream` pass as they are."""
    digest, size = file.layer.digest, file.layer.size
    h = hashlib.sha256()
    n = 0
    try:
        while chunk := stream.read(min(CHUNK, size - n + 1)):
            n += len(chunk)
            if n > size:
                break
            h.update(chunk)
            with disk_errors(directory):
                out.write(chunk)
    except DigestMismatch as e:  # a registry checks the bytes as they pass, too
        raise DigestMismatch(f"{file.name}: {e.message}", reference=e.reference, hint=_damaged_hint(file)) from e
    found = "sha256:" + h.hexdigest()
    if n == size and found == digest:
        return
    got = f"more than {size} bytes" if n > size else f"{found} ({n} bytes)"
    raise DigestMismatch(
        f"{file.name}: the layer {where}@{digest} does not match its descriptor: expected {digest} ({size} bytes), "
        f"found {got}",
        reference=f"{where}@{digest}",
        hint=_damaged_hint(file),
    )


def _damaged_hint(file: FlavorFile) -> str:
    return (f"nothing was kept of {file.name}; the target holds damaged content: check it with gl-ocm verify --deep "
            "and publish the flavor again")
