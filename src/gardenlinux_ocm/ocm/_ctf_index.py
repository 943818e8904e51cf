"""The CTF artifact index and blob names, shared by the reader (`archives.CtfArchive`) and the writer (`ctf.CtfTarget`).

`artifact-index.json` is `{"schemaVersion":1,"artifacts":[{"repository":R,"tag":T,"digest":D}, ...]}`: compact JSON
with the keys in that order, `tag` left out for an untagged entry, as OCM Go's `encoding/json` writes it (which also
escapes `<`, `>`, `&`, U+2028 and U+2029). Entries are sorted as OCM Go sorts them: by repository, then by tag, an
untagged entry under `@<digest>`. Every blob and manifest of every repository lives in one flat store,
`blobs/<algorithm>.<hex>`. OCM Go writes `"artifacts":null` for an empty index; it is read as an empty list.
"""

from __future__ import annotations

import dataclasses
import json
import re
from enum import StrEnum
from typing import Any

from ..bounded import LIMITS, json_document
from ..errors import TargetError
from ..oci.model import MediaType

__all__ = ["INDEX_FILE", "BLOBS_DIR", "SCHEMA_VERSION", "Malformed", "Artifact", "ArtifactIndex", "blob_name",
           "media_type_of"]

INDEX_FILE = "artifact-index.json"
BLOBS_DIR = "blobs"
SCHEMA_VERSION = 1
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")  # the OCI digest grammar
_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


class Malformed(StrEnum):
    """What reading an index does with a malformed entry: a writer fails (it would rewrite the file), a reader skips."""

    FAIL = "fail"
    SKIP = "skip"


def blob_name(digest: str) -> str:
    """The archive path of a blob: the digest with its algorithm separator replaced by a dot."""
    return f"{BLOBS_DIR}/{digest.replace(':', '.', 1)}"


def media_type_of(data: bytes) -> str:
    """The `mediaType` of a manifest's bytes; the OCI manifest type when it names none (or is no JSON object)."""
    try:
        doc = json_document(data, what="manifest", where="a CTF manifest", limit=LIMITS.manifest)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return MediaType.OCI_MANIFEST.value
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    return media_type if isinstance(media_type, str) else MediaType.OCI_MANIFEST.value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """One entry of the index: a manifest of a repository, with a tag or (`tag == ""`) without."""

    repository: str
    digest: str
    tag: str = ""

    @property
    def sort_key(self) -> tuple[str, str]:
        return self.repository, self.tag or f"@{self.digest}"

    def to_dict(self) -> dict[str, str]:
        tag = {"tag": self.tag} if self.tag else {}
        return {"repository": self.repository, **tag, "digest": self.digest}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactIndex:
    """The entries of `artifact-index.json`, in file order until `to_bytes` sorts them."""

    artifacts: tuple[Artifact, ...] = ()

    @classmethod
    def from_json(cls, data: bytes, where: str, *, on_malformed: Malformed = Malformed.FAIL) -> ArtifactIndex:
        """Parse an index; raises `TargetError` naming `where` for what is no index, and (with `Malformed.FAIL`)
        for a wrong schema version, an entry without repository and digest strings, or a tag listed twice."""
        try:
            doc = json_document(data, what="artifact-index.json", where=where, limit=LIMITS.index)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _corrupt(where, f"is not valid JSON: {e}") from e
        if not isinstance(doc, dict):
            raise _corrupt(where, f"is not a CTF artifact index: a JSON {type(doc).__name__}, not an object")
        if "artifacts" not in doc or not isinstance(doc["artifacts"], list | None):
            raise _corrupt(where, "has no `artifacts` list")
        strict = on_malformed is Malformed.FAIL
        if strict and doc.get("schemaVersion") != SCHEMA_VERSION:
            raise _corrupt(where, f"has schemaVersion {doc.get('schemaVersion')!r}; only {SCHEMA_VERSION} is known")
        artifacts: list[Artifact] = []
        seen: set[tuple[str, str]] = set()
        for position, entry in enumerate(doc["artifacts"] or []):
            problem, artifact = _entry(entry)
            if problem and strict:
                raise _corrupt(where, f"artifacts[{position}]: {problem}")
            if artifact is None:
                continue
            if strict and artifact.tag and (artifact.repository, artifact.tag) in seen:
                raise _corrupt(where, f"artifacts[{position}]: {artifact.repository}:{artifact.tag} is listed twice")
            seen.add((artifact.repository, artifact.tag))
            artifacts.append(artifact)
        return cls(artifacts=tuple(artifacts))

    def to_bytes(self) -> bytes:
        """The file's bytes as OCM Go writes them: sorted entries (`null` for none), compact JSON, Go's escapes."""
        entries = [a.to_dict() for a in sorted(self.artifacts, key=lambda a: a.sort_key)] or None
        text = json.dumps({"schemaVersion": SCHEMA_VERSION, "artifacts": entries}, separators=(",", ":"),
                          ensure_ascii=False)
        for char, escape in _GO_ESCAPES:
            text = text.replace(char, escape)
        return text.encode()

    def with_tag(self, repository: str, tag: str, digest: str) -> ArtifactIndex:
        """The index with `repository:tag` pointing at `digest` (an untagged entry of that digest becomes the tag)."""
        kept = tuple(a for a in self.artifacts if a.repository != repository
                     or (a.tag != tag and (a.tag or a.digest != digest)))
        return ArtifactIndex(artifacts=(*kept, Artifact(repository=repository, tag=tag, digest=digest)))

    def lookup(self, repository: str, tag: str) -> str | None:
        """The digest that `repository:tag` points at; None when the index has no such tag."""
        found = (a.digest for a in self.artifacts if a.repository == repository and a.tag == tag)
        return next(found, None) if tag else None

    def tags(self, repository: str) -> list[str]:
        return sorted({a.tag for a in self.artifacts if a.repository == repository and a.tag})

    def repositories(self) -> list[str]:
        return sorted({a.repository for a in self.artifacts})


def _entry(entry: Any) -> tuple[str | None, Artifact | None]:
    """(problem, artifact) of one entry: no artifact without repository and digest strings; a non-string tag is a
    problem, and the entry is kept untagged (so a lenient reader still lists its repository)."""
    if not isinstance(entry, dict):
        return "not an object", None
    repository, digest, tag = entry.get("repository"), entry.get("digest"), entry.get("tag", "")
    if not isinstance(repository, str) or not repository:
        return "no `repository` string", None
    if not isinstance(digest, str):
        return "no `digest` string", None
    problem = None if _DIGEST.match(digest) else f"`digest` {digest!r} is not a digest"
    if not isinstance(tag, str):
        return problem or f"`tag` {tag!r} is not a string", Artifact(repository=repository, digest=digest)
    return problem, Artifact(repository=repository, digest=digest, tag=tag)


def _corrupt(where: str, problem: str) -> TargetError:
    return TargetError(
        f"{where} {problem}",
        hint=f"repair or restore {INDEX_FILE}, or use another ctf:PATH; nothing is written into a CTF whose index "
        "cannot be read",
    )
