"""OCM's artifact set: an OCI artefact and everything under it as one blob, the by-value form of an `ociArtifact`.

This is what OCM Go v1 writes when it copies an OCI artefact into a component version (`ocm transfer
--copy-resources`, and every resource of a CTF made that way): a `localBlob` with the media type of the artefact plus
`+tar+gzip` (`application/vnd.oci.image.manifest.v1+tar+gzip`), `referenceName` the original `repository:tag`, and
the resource digest still the manifest's (`ociArtifactDigest/v1`). The blob is a gzipped tar of

- `index.json`: an OCI index with the one main manifest, annotated with its tag (`org.opencontainers.image.ref.name`,
  `software.ocm/tags`), and the index annotation `software.ocm/main` naming it;
- `oci-layout`;
- `blobs/sha256.<hex>`: every manifest, config and layer of the graph, flat, with a dot.

The members, their order and headers are those of OCM Go's sets (`tests/data/ocm/ctf-compat/02/with-resource`:
unpacking and re-packing that set gives its tar byte for byte). Uploading such a blob to an OCI registry, OCM's
default uploader makes it a real OCI artefact again and re-points the access (`ociArtifact`).

Reading accepts those sets, plain `+tar` ones, and OCM v2's OCI image layout tars
(`application/vnd.ocm.software.oci.layout.v1+tar[+gzip]`, `blobs/sha256/<hex>`, main manifest the first entry).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

from ..bounded import json_document
from ..errors import DigestMismatch, RefusedDocument
from ..oci.model import Descriptor, MediaType
from ._ctf_tar import tar_header, tar_padding

__all__ = [
    "ArtifactSet",
    "MAIN_ANNOTATION",
    "TAGS_ANNOTATION",
    "is_artifact_set",
    "read_artifact_set",
    "set_media_type",
    "write_artifact_set",
]

MAIN_ANNOTATION = "software.ocm/main"
TAGS_ANNOTATION = "software.ocm/tags"
REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_TYPES = ("application/vnd.ocm.software.oci.layout.v1+tar",
                 "application/vnd.ocm.software.oci.layout.v1+tar+gzip")
_ARTEFACT_TYPES = (
    MediaType.OCI_MANIFEST.value,
    MediaType.OCI_INDEX.value,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_OCI_LAYOUT = b'{\n    "imageLayoutVersion": "1.0.0"\n}\n'  # as OCM Go writes it: indented
_CHUNK = 1 << 20
_MAX_INDEX = 4 << 20
_GZIP_LEVEL = 1  # the bytes are ours to choose; level 1 keeps publishing a set near disk speed


def set_media_type(artefact_media_type: str) -> str:
    """The local blob's media type for an OCI artefact of this media type, as OCM Go names it (`artdesc`'s content
    media type, without `+json`, plus `+tar+gzip`): `application/vnd.oci.image.manifest.v1+tar+gzip`."""
    return f"{artefact_media_type.removesuffix('+json')}+tar+gzip"


def is_artifact_set(media_type: str) -> bool:
    """Whether a local blob of this media type holds an OCI artefact as an artifact set or an OCI layout tar."""
    base = media_type.removesuffix("+gzip").removesuffix("+tar")
    return media_type in _LAYOUT_TYPES or (base + "+json" in _ARTEFACT_TYPES and media_type != base)


class _Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Sink:
    """A write-only file that hashes and counts what passes."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes, /) -> int:
        self.out.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


Opener = Callable[[Descriptor], AbstractContextManager[BinaryIO]]


def write_artifact_set(out: BinaryIO, main: Descriptor, tag: str, graph: Sequence[Descriptor], open_blob: Opener,
                       *, gzipped: bool = True) -> Descriptor:
    """Write the artifact set of `main` (tagged `tag`) to `out`; `graph` is every object under it, `main` included,
    each opened with `open_blob` and checked against its digest as it passes (`DigestMismatch`). Returns the set's
    own descriptor (digest and size of the bytes written)."""
    sink = _Sink(out)
    if gzipped:
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=_GZIP_LEVEL) as z:
            _write_tar(z, main, tag, graph, open_blob)
    else:
        _write_tar(sink, main, tag, graph, open_blob)
    media_type = set_media_type(main.media_type) if gzipped else set_media_type(main.media_type).removesuffix("+gzip")
    return Descriptor(media_type=media_type, digest="sha256:" + sink.hash.hexdigest(), size=sink.size)


def _write_tar(out: _Writer, main: Descriptor, tag: str, graph: Sequence[Descriptor], open_blob: Opener) -> None:
    entry = {"mediaType": main.media_type, "digest": main.digest, "size": main.size,
             "annotations": {REF_NAME: tag, TAGS_ANNOTATION: tag}}
    index = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX.value, "manifests": [entry],
                        "annotations": {MAIN_ANNOTATION: main.digest}}, separators=(",", ":")).encode()
    for name, data in (("index.json", index), ("oci-layout", _OCI_LAYOUT)):
        out.write(tar_header(name, len(data), directory=False) + data + tar_padding(len(data)))
    out.write(tar_header("blobs", 0, directory=True))
    unique = {d.digest: d for d in graph}
    for digest in sorted(unique):
        desc = unique[digest]
        out.write(tar_header("blobs/" + digest.replace(":", "."), desc.size, directory=False))
        left, h = desc.size, hashlib.sha256()
        with open_blob(desc) as f:
            while left and (data := f.read(min(left, _CHUNK))):
                out.write(data)
                h.update(data)
                left -= len(data)
        got = "sha256:" + h.hexdigest()
        if left or got != digest:  # verify while writing: a build file changed since it was hashed
            raise DigestMismatch(f"{digest}: {desc.size - left} of {desc.size} bytes read, hashing to {got}",
                                 hint="a file changed after it was hashed; publish again from a finished build")
        out.write(tar_padding(desc.size))
    out.write(bytes(1024))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactSet:
    """What an artifact set holds: its main manifest, the tags it records, and each blob's size (and, read deep,
    whether its bytes hash to its name); `problems` says what is wrong, in words."""

    main: Descriptor | None
    tags: tuple[str, ...]
    blobs: dict[str, int]
    problems: tuple[str, ...]
    hashed: bool

    @property
    def ok(self) -> bool:
        return not self.problems and self.main is not None


def read_artifact_set(f: BinaryIO, *, deep: bool) -> ArtifactSet:
    """Read an artifact set (or OCI layout tar), streaming. Shallow, it stops once the index is read; `deep` reads
    every member and hashes each blob against its name. Never raises for what the bytes hold."""
    index: dict[str, object] | None = None
    blobs: dict[str, int] = {}
    problems: list[str] = []
    try:
        with tarfile.open(fileobj=f, mode="r|*") as tar:
            for member, name in _members(tar):
                if name == "index.json":
                    index = _index(tar, member, problems)
                    if not deep:
                        break
                elif (digest := _blob_digest(name)) is not None:
                    blobs[digest] = member.size
                    if deep:
                        got = _hash(tar, member)
                        if got != digest:
                            problems.append(f"member {name} holds {got}")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
        problems.append(f"not a readable artifact set: {e}")
    main, tags = _main(index, problems)
    if deep and main is not None and main.digest not in blobs:
        problems.append(f"the main manifest {main.digest} is not among its blobs")
    return ArtifactSet(main=main, tags=tags, blobs=blobs, problems=tuple(problems), hashed=deep)


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str]]:
    for member in tar:
        if member.isfile():
            name = member.name
            while name.startswith("./"):
                name = name[2:]
            yield member, name.lstrip("/")


def _index(tar: tarfile.TarFile, member: tarfile.TarInfo, problems: list[str]) -> dict[str, object] | None:
    if member.size > _MAX_INDEX:
        problems.append(f"index.json is {member.size} bytes, more than {_MAX_INDEX}")
        return None
    source = tar.extractfile(member)
    try:
        doc = json_document(source.read(_MAX_INDEX), what="artifact set index", where="index.json",
                            limit=_MAX_INDEX) if source is not None else None
    except RefusedDocument as e:
        problems.append(f"index.json is not JSON within bounds: {e.message}")
        return None
    except ValueError as e:
        problems.append(f"index.json is not JSON: {e}")
        return None
    if not isinstance(doc, dict):
        problems.append("index.json is not a JSON object")
        return None
    return doc


def _blob_digest(name: str) -> str | None:
    """`blobs/sha256.<hex>` (OCM's sets) or `blobs/sha256/<hex>` (an OCI layout) -> `sha256:<hex>`."""
    rest = name.removeprefix("blobs/")
    if rest == name:
        return None
    algorithm, sep, encoded = rest.replace("/", ".", 1).partition(".")
    return f"{algorithm}:{encoded}" if sep and algorithm == "sha256" and len(encoded) == 64 else None


def _hash(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    source = tar.extractfile(member)
    h = hashlib.sha256()
    while source is not None and (data := source.read(_CHUNK)):
        h.update(data)
    return "sha256:" + h.hexdigest()


def _main(index: dict[str, object] | None, problems: list[str]) -> tuple[Descriptor | None, tuple[str, ...]]:
    """The main manifest: the one `software.ocm/main` names, else the index's only (or, in a layout, first) one."""
    if index is None:
        if not problems:
            problems.append("no index.json")
        return None, ()
    listed: Any = index.get("manifests")
    entries = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    annotations = index.get("annotations")
    named = annotations.get(MAIN_ANNOTATION) if isinstance(annotations, dict) else None
    chosen = next((m for m in entries if m.get("digest") == named), None) if named else (entries[0] if entries
                                                                                           else None)
    if chosen is None:
        problems.append(f"index.json names no main manifest ({MAIN_ANNOTATION}: {named or 'absent'})")
        return None, ()
    try:
        main = Descriptor(media_type=str(chosen.get("mediaType") or MediaType.OCI_MANIFEST.value),
                          digest=str(chosen["digest"]), size=int(chosen["size"]))
    except (KeyError, TypeError, ValueError) as e:
        problems.append(f"index.json: malformed main manifest entry ({e})")
        return None, ()
    tag_text = chosen.get("annotations", {}).get(TAGS_ANNOTATION) if isinstance(chosen.get("annotations"), dict) \
        else None
    return main, tuple(t for t in str(tag_text or "").split(",") if t)
