"""verify(): check what a target holds, through the `ReadOnlyTarget` protocol, and report every check (no printing).

From one component version it follows every `componentReference` (cycles and missing components become failed
checks), validates each descriptor against the OCM v2 schema that gardener-ocm ships, resolves every resource access
where it points (`trust.locations`: the target itself, or the registry an absolute reference names): `ociArtifact`
and `relativeOciReference` (the manifest exists, tag and digest agree, the digest is the resource digest), `ociBlob`
(the blob exists in that repository with its size) and `localBlob` (the layer exists with its size and digest); it
walks the graph under each manifest (reads and parses every manifest and index, checks every blob's stored size
without reading it, or with `deep` re-hashes every blob, streaming), checks that every OCI index resource lists the
manifests the component closure describes, and checks reference digests and signatures. Nothing here raises for what
the target holds, however corrupt (a truncated manifest, one that is not JSON or has the wrong shape, is a failed
check); only bad arguments raise.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]  # stubs are not a dependency
import ocm
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from ..bounded import json_document
from ..errors import NotFound
from ..oci.model import INDEX_MEDIA_TYPES, Descriptor, parse_descriptor, version_to_tag
from ..oci.referrers import list_referrers
from ..oci.target import ReadOnlyTarget
from ..ocm.archives import TITLE
from ..ocm.artifact_set import ArtifactSet, is_artifact_set, read_artifact_set
from ..ocm.fetch import ComponentVersion, fetch_component, list_versions, read_small
from ..ocm.labels import REFERRER_LABEL
from ..ocm.pack import COMPONENT_DESCRIPTORS, component_repository
from ..ocm.referrer_labels import referrer_flavor, referrer_label
from .content import MAX_MANIFEST, ContentWalker
from .locations import Location, Locations
from .model import TARGET_ERRORS, Check, CheckKind, VerifyReport, _dict, _dicts, _message, _references, _short
from .signatures import _SignatureChecks, descriptor_digest_matches, has_digest

__all__ = ["CheckKind", "Check", "VerifyReport", "verify", "default_component", "descriptor_digest_matches",
           "RELEASE_COMPONENT"]

RELEASE_COMPONENT = "github.com/gardenlinux/gardenlinux"
_OCI_ACCESS = frozenset({"ociartifact", "ociregistry", "ociimage", "ociartefact"})
_OCI_BLOB = frozenset({"ociblob", "ociimagelayer"})
_LOCAL_BLOB = frozenset({"localblob", "localfilesystemblob"})
_OCI_DIGEST = frozenset({"ociArtifactDigest/v1", "ociArtefactDigest/v1"})
_EXCLUDED = "EXCLUDE-FROM-SIGNATURE"


def default_component(target: ReadOnlyTarget) -> str:
    """The release component when the target holds it (or cannot list), else its only component."""
    prefix = COMPONENT_DESCRIPTORS + "/"
    names = [r[len(prefix):] for r in target.repositories() if r.startswith(prefix)]
    return names[0] if len(names) == 1 and RELEASE_COMPONENT not in names else RELEASE_COMPONENT


def verify(target: ReadOnlyTarget, component: str | None = None, version: str | None = None, *, deep: bool = False,
           public_keys: Sequence[tuple[str | None, rsa.RSAPublicKey]] = (),
           signature_names: Sequence[str] = (), reference_bases: Sequence[str] = (),
           open_registry: Callable[[str], ReadOnlyTarget] | None = None, image_signatures: bool = True,
           require_referrers: bool = False, jobs: int = 1) -> VerifyReport:
    """Verify a component version and everything it references; `version=None` takes the newest on the target.

    `public_keys` pairs a signature name (None: any signature) with a key; `signature_names` without a key check
    only that the recorded digest matches (integrity, not authenticity). Accesses under one of `reference_bases`
    (besides the target's own base) are looked up on the target; other registries they name are opened with
    `open_registry(host)`, and reported unchecked without it. With `public_keys` and `image_signatures`, every OCI
    manifest and index a resource names must also carry a cosign-format signature by each key.

    A file published as an OCI referrer whose referrer is not on the target (a copy by a tool that knows nothing
    of referrers, such as `ocm transfer`) is a warning, its own bytes checked as a resource; with
    `require_referrers` it fails. A referrer that is there but wrong always fails.

    The resources of a component version are checked `jobs` at a time; the report does not depend on it.
    """
    name = component or default_component(target)
    locations = Locations(target, bases=reference_bases, open_registry=open_registry)
    try:
        return _verify(target, name, version, deep, public_keys, signature_names, locations, image_signatures,
                       require_referrers, jobs)
    finally:
        locations.close()


def _verify(target: ReadOnlyTarget, name: str, version: str | None, deep: bool,
            public_keys: Sequence[tuple[str | None, rsa.RSAPublicKey]], signature_names: Sequence[str],
            locations: Locations, image_signatures: bool = True, require_referrers: bool = False,
            jobs: int = 1) -> VerifyReport:
    v = _Verifier(target, deep, locations, require_referrers, jobs)
    if version is None:
        try:
            versions = list_versions(target, name)
        except TARGET_ERRORS as e:
            versions = []
            problem = f"cannot list the versions of {name} on {target.name}: {_message(e)}"
        else:
            problem = f"no versions of {name} on {target.name}"
        if not versions:
            v.add(CheckKind.COMPONENT, name, False, problem, name)
            return VerifyReport(target=target.name, component=name, version=None, deep=deep, checks=tuple(v.checks))
        version = versions[0]
    v.walk(name, version, ())
    v.check_indexes()
    v.check_reference_digests(bool(public_keys or signature_names))
    v.check_signatures(name, version, public_keys, signature_names)
    if image_signatures:
        v.check_image_signatures([key for _, key in public_keys])
    return VerifyReport(target=target.name, component=name, version=version, deep=deep, checks=tuple(v.checks))


def _identity(res: Mapping[str, Any]) -> str:
    extra = _dict(res.get("extraIdentity"))
    return str(res.get("name", "?")) + (f"[{' '.join(f'{k}={v}' for k, v in extra.items())}]" if extra else "")


def _split_reference(reference: str) -> tuple[str, str, str]:
    """`repo[:tag][@digest]` -> (repo, tag, digest), empty strings for what is absent."""
    name, _, digest = reference.partition("@")
    repo, sep, tag = name.rpartition(":")
    return (repo, tag, digest) if sep and "/" not in tag else (name, "", digest)


def _access_type(access: Mapping[str, Any]) -> str:
    return str(access.get("type", "")).split("/")[0].lower()


@functools.cache
def _schema_validator() -> Any:
    """gardener-ocm's shipped v2 schema (what `ComponentDescriptor.validate` uses), compiled once."""
    with open(ocm.default_json_schema_path, encoding="utf-8") as f:
        schema = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
    return jsonschema.validators.validator_for(schema)(schema)


_NULLABLE = ("sources", "componentReferences", "repositoryContexts", "labels", "resources")


def lenient(descriptor: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The descriptor as gardener-ocm's schema reads it, and what was changed: the lists OCM's own v2 schema lets be
    `null` (OCM v2 writes `sources: null`, …) as empty lists, and digests that state nothing (OCM v2's
    `{hashAlgorithm: "", …}`) left out. Only for the schema check: digests and signatures use the descriptor as is."""
    out = copy.deepcopy(dict(descriptor))
    changed: list[str] = []
    component = out.get("component")
    if not isinstance(component, dict):
        return out, changed
    for key in _NULLABLE:
        if key in component and component[key] is None:
            component[key] = []
            changed.append(f"{key}: null")
    for key in ("resources", "sources", "componentReferences"):
        for element in _dicts(component.get(key)):
            if "digest" in element and not has_digest(element["digest"]):
                del element["digest"]
                changed.append(f"{key}[{element.get('name', '?')}].digest: empty")
            for nullable in ("labels", "extraIdentity", "srcRefs"):
                if nullable in element and element[nullable] is None:
                    del element[nullable]
    return out, changed


def _schema_problem(descriptor: Mapping[str, Any]) -> str | None:
    """Validate against gardener-ocm's schema, then load with its model; the problem as text, or None."""
    descriptor, _ = lenient(descriptor)
    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(descriptor))
    if error is not None:
        return f"{'/'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
    try:
        ocm.ComponentDescriptor.from_dict(copy.deepcopy(dict(descriptor)))
    except Exception as e:  # noqa: BLE001 - dacite and enum errors of a third-party model: all mean "invalid"
        return f"not an OCM v2 component descriptor: {e}"
    return None


@dataclasses.dataclass(slots=True)
class _Buffer:
    """What the checks of one resource found, kept apart while resources are checked in parallel and merged in the
    descriptor's order, so the report is the same whatever the scheduling."""

    checks: list[Check] = dataclasses.field(default_factory=list)
    images: list[tuple[Location, Descriptor, str, str]] = dataclasses.field(default_factory=list)
    indexes: list[tuple[tuple[str, str], Location, str, Descriptor, str]] = dataclasses.field(default_factory=list)
    oci: list[tuple[tuple[str, str], Descriptor, str]] = dataclasses.field(default_factory=list)


class _Verifier(_SignatureChecks):
    def __init__(self, target: ReadOnlyTarget, deep: bool, locations: Locations,
                 require_referrers: bool = False, jobs: int = 1) -> None:
        self.target, self.deep, self.locations = target, deep, locations
        self.require_referrers, self.jobs = require_referrers, max(1, jobs)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.checks: list[Check] = []
        self.loaded: dict[tuple[str, str], ComponentVersion | None] = {}
        self.order: list[tuple[str, str]] = []
        # per component: OCI resources as ((target name, repository), descriptor, subject)
        self.oci: dict[tuple[str, str], list[tuple[tuple[str, str], Descriptor, str]]] = {}
        # key, where (target, repository), tag, descriptor, subject
        self.indexes: list[tuple[tuple[str, str], Location, str, Descriptor, str]] = []
        # every OCI manifest and index a resource names, for the cosign-format signature checks: where, what, label
        self.images: list[tuple[Location, Descriptor, str, str]] = []
        self.covered: set[str] = set()
        self.walkers: dict[str, ContentWalker] = {}

    def walker(self, target: ReadOnlyTarget) -> ContentWalker:
        with self._lock:
            if target.name not in self.walkers:
                self.walkers[target.name] = ContentWalker(target, deep=self.deep)
            return self.walkers[target.name]

    def add(self, kind: CheckKind, subject: str, ok: bool, detail: str, component: str,
            skipped: bool = False, *, warning: bool = False) -> None:
        check = Check(kind=kind, subject=subject, ok=ok, detail=detail, component=component, skipped=skipped,
                      warning=warning)
        buffer = self._buffer()
        (buffer.checks if buffer is not None else self.checks).append(check)

    def _buffer(self) -> _Buffer | None:
        """The buffer of the resource this thread checks (`check_resources`), or None outside one."""
        buffer: _Buffer | None = getattr(self._local, "buffer", None)
        return buffer

    def check_resources(self, cv: ComponentVersion, key: tuple[str, str], resources: list[dict[str, Any]]) -> None:
        """Check every resource, `jobs` at a time (each is mostly waiting for HEADs and GETs), and merge what each
        found in the descriptor's order."""

        def one(res: dict[str, Any]) -> _Buffer:
            self._local.buffer = _Buffer()
            try:
                self.check_resource(cv, key, res)
                return self._local.buffer  # type: ignore[no-any-return]  # set just above
            finally:
                self._local.buffer = None

        if self.jobs == 1 or len(resources) < 2:
            buffers = [one(res) for res in resources]
        else:
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="gl-ocm-verify") as pool:
                buffers = list(pool.map(one, resources))
        for buffer in buffers:
            self.checks.extend(buffer.checks)
            self.images.extend(buffer.images)
            self.indexes.extend(buffer.indexes)
            self.oci[key].extend(buffer.oci)

    # -- components and references
    def walk(self, name: str, version: str, stack: tuple[tuple[str, str], ...]) -> None:
        key, label = (name, version), f"{name}:{version}"
        if key in self.loaded:
            return
        try:
            cv: ComponentVersion | None = fetch_component(self.target, name, version)
        except TARGET_ERRORS as e:
            cv = None
            self.add(CheckKind.COMPONENT, _short(name), False, _message(e), label)
        self.loaded[key] = cv
        self.order.append(key)
        if cv is None:
            return
        comp = _dict(cv.descriptor.get("component"))
        named = (comp.get("name"), comp.get("version"))
        same = named == key
        self.add(CheckKind.COMPONENT, _short(name), same, cv.reference if same else
                 f"{cv.reference} holds {named[0]}:{named[1]}", label)
        problem = _schema_problem(cv.descriptor)
        relaxed = lenient(cv.descriptor)[1]
        note = f" (read as absent, as OCM's own v2 schema allows: {', '.join(relaxed)})" if relaxed else ""
        self.add(CheckKind.SCHEMA, _short(name), problem is None, (problem or "valid OCM v2 descriptor") + note,
                 label)
        self.add_graph(self.target, cv.repository, cv.manifest_descriptor, _short(name), label)
        self.oci[key] = []
        self.check_resources(cv, key, _dicts(comp.get("resources")))
        path = (*stack, key)
        for ref, child in _references(cv):
            subject = f"{_short(name)} -> {ref.get('name', '?')}"
            if child in path:
                cycle = " -> ".join(f"{n}:{v}" for n, v in (*path[path.index(child):], child))
                self.add(CheckKind.REFERENCE, subject, False, f"cycle: {cycle}", label)
                continue
            try:
                found = self.target.resolve(component_repository(child[0]), version_to_tag(child[1]))
                self.add(CheckKind.REFERENCE, subject, True, f"{child[0]}:{child[1]} resolves to {found.digest}",
                         label)
            except TARGET_ERRORS as e:
                state = "is missing" if isinstance(e, NotFound) else "is unreadable"
                self.add(CheckKind.REFERENCE, subject, False, f"{child[0]}:{child[1]} {state}: {_message(e)}", label)
                continue
            self.walk(*child, path)

    # -- resources
    def check_resource(self, cv: ComponentVersion, key: tuple[str, str], res: Mapping[str, Any]) -> None:
        label, subject = f"{key[0]}:{key[1]}", f"{_short(key[0])}: {_identity(res)}"
        access, digest = _dict(res.get("access")), _dict(res.get("digest"))
        kind = _access_type(access)
        excluded = digest.get("normalisationAlgorithm") == _EXCLUDED
        external = excluded or res.get("relation") == "external"
        where: Location | str | None = None
        if kind == "relativeocireference":
            where = Location(self.target, str(access.get("reference", "")))
        elif kind in _OCI_ACCESS | _OCI_BLOB and not external:
            where = self.locations.locate(str(access.get("ref") or access.get("imageReference") or ""))
        if kind in _LOCAL_BLOB:
            inner = self.check_local_blob(cv, access, digest, subject, label)
            if inner is not None:
                self.register_native(key, access, inner, subject, label)
        elif isinstance(where, str):
            self.add(CheckKind.RESOURCE, subject, False, f"{access.get('type')} access: {where}", label)
        elif where is not None and kind in _OCI_BLOB:
            self.check_oci_blob(where, access, digest, subject, label)
        elif where is not None:
            self.check_oci(key, where, digest, subject, label)
        elif external:
            self.add(CheckKind.RESOURCE, subject, True, f"external ({access.get('type', 'no')} access), not checked",
                     label, True)
        else:
            self.add(CheckKind.RESOURCE, subject, True, f"access type {access.get('type')!r} is not checked", label,
                     True)
        entry = referrer_label(res)
        if entry is not None:
            self.check_referrer(cv, res, entry, subject, label)

    @staticmethod
    def _expected(digest: Mapping[str, Any], algorithms: frozenset[str]) -> str | None:
        if digest.get("normalisationAlgorithm") not in algorithms:
            return None
        if str(digest.get("hashAlgorithm", "")).upper().replace("-", "") != "SHA256":
            return None
        return "sha256:" + str(digest.get("value", "")).lower()

    def check_oci(self, key: tuple[str, str], where: Location, digest: Mapping[str, Any], subject: str,
                  label: str) -> None:
        target, reference = where.target, where.rest
        repo, tag, pinned = _split_reference(reference)
        problems: list[str] = []
        found: Descriptor | None = None
        moved: Descriptor | None = None  # what the tag points at instead of the pinned digest
        for ref in (pinned, tag):
            if not ref:
                continue
            try:
                desc = target.resolve(repo, ref)
            except TARGET_ERRORS as e:
                state = "not found" if isinstance(e, NotFound) else "unreadable"
                problems.append(f"{repo}{'@' if ref == pinned else ':'}{ref} {state} ({_message(e)})")
                continue
            if found is not None and desc.digest != found.digest:
                problems.append(f"tag {repo}:{tag} points at {desc.digest}, the reference names {found.digest}")
                moved = desc
            found = found or desc
        expected = self._expected(digest, _OCI_DIGEST)
        if found is not None and expected and found.digest != expected:
            problems.append(f"digest mismatch: the resource digest is {expected}, the artefact is {found.digest}")
        elif found is not None and expected:
            self.covered.add(found.digest)
        if not pinned and not tag:
            problems.append(f"reference {reference!r} names neither a tag nor a digest")
        shown = reference if target is self.target else f"{target.name}/{reference}"
        self.add(CheckKind.RESOURCE, subject, not problems, "; ".join(problems) or f"{shown} resolves", label)
        if found is None:
            return
        self.register(key, Location(target, repo), tag, found, moved, subject, label)
        self.add_graph(target, repo, found, subject, label)

    def register(self, key: tuple[str, str], where: Location, tag: str, found: Descriptor, moved: Descriptor | None,
                 subject: str, label: str) -> None:
        """Remember an OCI artefact a resource names, for the index and the cosign-format signature checks."""
        repo = where.rest
        buffer = self._buffer()
        images, indexes, oci = (buffer.images, buffer.indexes, buffer.oci) if buffer is not None else \
            (self.images, self.indexes, self.oci[key])
        for manifest in (found, moved) if moved is not None else (found,):  # a re-pointed tag's manifest too
            images.append((where, manifest, f"{repo}:{tag}" if tag else subject, label))
        if found.media_type in INDEX_MEDIA_TYPES:
            indexes.append((key, where, tag, found, subject))
        else:  # index rows name what the index lists: the tag (e.g. gardenlinux:1473.0-aws-gardener_prod-amd64)
            oci.append(((where.target.name, repo), found, f"{repo}:{tag}" if tag else subject))

    def check_oci_blob(self, where: Location, access: Mapping[str, Any], digest: Mapping[str, Any], subject: str,
                       label: str) -> None:
        """An `ociBlob`: the blob is in that repository with the size the access states, and is the resource."""
        target, repo = where.target, where.rest
        problems: list[str] = []
        blob_digest, size = access.get("digest"), access.get("size")
        if not isinstance(blob_digest, str) or not isinstance(size, int) or ":" in repo or "@" in repo:
            self.add(CheckKind.RESOURCE, subject, False, "ociBlob access needs a repository without tag or digest, "
                     "a digest and a size", label)
            return
        blob = Descriptor(media_type=str(access.get("mediaType") or "application/octet-stream"), digest=blob_digest,
                          size=size)
        try:
            stored = self.walker(target).stored(repo, blob)
            if stored is None:
                problems.append(f"blob {blob_digest} ({size} bytes) not found in {repo}")
            elif stored != size:
                problems.append(f"blob {blob_digest} in {repo} is {stored} bytes, the access says {size}")
        except TARGET_ERRORS as e:
            problems.append(f"blob {blob_digest} in {repo}: unreadable: {_message(e)}")
        expected = self._expected(digest, frozenset({"genericBlobDigest/v1"}))
        if expected and expected != blob_digest:
            problems.append(f"digest mismatch: the resource digest is {expected}, the access names {blob_digest}")
        shown = repo if target is self.target else f"{target.name}/{repo}"
        self.add(CheckKind.RESOURCE, subject, not problems, "; ".join(problems)
                 or f"blob {blob_digest} ({size} bytes) in {shown}", label)
        if self.deep and not problems:
            self.add_graph(target, repo, blob, subject, label)

    def check_referrer(self, cv: ComponentVersion, res: Mapping[str, Any], entry: Any, subject: str,
                       label: str) -> None:
        """A file published as a referrer of its flavor manifest (the `flavor` resource of the same identity): the
        manifest the label names holds the file's blob and has that flavor manifest as its subject, and the target
        lists it among the flavor's referrers (through the API, or the fallback tag without it).

        A copy made by a tool that carries the file but not the referrer (`ocm transfer` makes the file a local
        blob, and the flavor a re-uploaded artefact or an artifact set) is a warning: the file's bytes are checked
        as its resource, and only the OCI referrer is absent here. Unless `require_referrers`."""
        flavor = referrer_flavor(cv.descriptor, res)
        if flavor is None:
            self.add(CheckKind.REFERRER, subject, False, f"{REFERRER_LABEL}: no flavor resource of this identity",
                     label)
            return
        access = _dict(flavor.get("access"))
        if _access_type(access) in _LOCAL_BLOB:  # an artifact set: the artefact may be on the target by its name
            flavor_digest = self._expected(_dict(flavor.get("digest")), _OCI_DIGEST) or ""
            target, repo = self.target, _split_reference(str(access.get("referenceName") or ""))[0]
            if not repo or not flavor_digest or not self._holds(repo, flavor_digest):
                self.not_carried(subject, label, f"the flavor manifest is a local blob of {cv.reference} here "
                                 f"({access.get('mediaType')}), so no OCI referrer refers to it")
                return
        else:
            where = self.locations.locate(str(access.get("imageReference") or ""))
            if isinstance(where, str):
                self.add(CheckKind.REFERRER, subject, False, f"{REFERRER_LABEL}: no flavor manifest to find the "
                         f"referrer by ({where})", label)
                return
            target, (repo, _, flavor_digest) = where.target, _split_reference(where.rest)
        blob = "sha256:" + str(_dict(res.get("digest")).get("value", ""))
        try:
            referrer = parse_descriptor(_dict(entry))
        except TARGET_ERRORS as e:
            self.add(CheckKind.REFERRER, subject, False, f"{REFERRER_LABEL}: {_message(e)}", label)
            return
        try:
            doc = json_document(read_small(target, repo, referrer.bare(), MAX_MANIFEST), what="manifest",
                                where=f"{repo}@{referrer.digest}", limit=MAX_MANIFEST)
        except NotFound:
            shown = repo if target is self.target else f"{target.name}/{repo}"
            self.not_carried(subject, label, f"the referrer {referrer.digest} is not in {shown}")
            return
        except TARGET_ERRORS as e:
            self.add(CheckKind.REFERRER, subject, False, f"{REFERRER_LABEL}: {_message(e)}", label)
            return
        try:
            layers = [str(_dict(layer).get("digest")) for layer in _dicts(doc.get("layers"))]
            of = parse_descriptor(_dict(doc.get("subject")))
            listing = list_referrers(target, repo, of)
        except TARGET_ERRORS as e:
            self.add(CheckKind.REFERRER, subject, False, f"{REFERRER_LABEL}: {_message(e)}", label)
            return
        problems = []
        if blob not in layers:
            problems.append(f"{repo}@{referrer.digest} does not hold the blob {blob}")
        if of.digest != flavor_digest:
            problems.append(f"{repo}@{referrer.digest} refers to {of.digest}, not to the flavor manifest "
                            f"{flavor_digest}")
        if not any(e.digest == referrer.digest for e in listing.entries):
            problems.append(f"the {listing.via} of {repo}@{of.digest} does not list {referrer.digest}")
        self.add(CheckKind.REFERRER, subject, not problems, "; ".join(problems)
                 or f"{referrer.digest} ({doc.get('artifactType')}) refers to {of.digest}, listed by the "
                    f"{listing.via}", label)
        self.add_graph(target, repo, referrer.bare(), subject, label)

    def _holds(self, repo: str, digest: str) -> bool:
        try:
            self.target.resolve(repo, digest)
        except TARGET_ERRORS:
            return False
        return True

    def not_carried(self, subject: str, label: str, why: str) -> None:
        """A referrer that a copy did not carry: a warning (a failure with `require_referrers`)."""
        self.add(CheckKind.REFERRER, subject, not self.require_referrers,
                 f"not carried: {why}; the file itself is checked as its resource, but tools that look for the "
                 "flavor's referrers (oras discover) will not find it here. Copy the release with gl-ocm copy "
                 "from where it was published to keep its referrers", label, warning=not self.require_referrers)

    def check_local_blob(self, cv: ComponentVersion, access: Mapping[str, Any], digest: Mapping[str, Any],
                         subject: str, label: str) -> Descriptor | None:
        """A local blob: a layer of the component version with its size, digest and media type. One that holds an
        OCI artefact (an artifact set) is read too; returns that artefact's main manifest when it checked out."""
        ref = str(access.get("localReference", ""))
        wanted = "sha256:" + ref[len("sha256."):] if ref.startswith("sha256.") else ref
        layer = next((d for d in cv.layers if d.digest == wanted), None) or next(
            (d for d in cv.layers if d.annotation_map.get(TITLE) == ref), None)
        if layer is None:
            self.add(CheckKind.RESOURCE, subject, False,
                     f"localReference {ref or '(none)'} is not a layer of {cv.reference}", label)
            return None
        problems = []
        try:  # the stored size, from a stat (or a HEAD): never the content
            size = self.walker(self.target).stored(cv.repository, layer)
            if size is None:
                problems.append(f"blob {layer.digest} ({layer.size} bytes) not found in {cv.repository}")
            elif size != layer.size:
                problems.append(f"blob {layer.digest} in {cv.repository} is {size} bytes, the layer says {layer.size}")
        except TARGET_ERRORS as e:
            problems.append(f"blob {layer.digest} in {cv.repository}: unreadable: {_message(e)}")
        expected = self._expected(digest, frozenset({"genericBlobDigest/v1"}))
        if expected and expected != layer.digest:
            problems.append(f"digest mismatch: the resource digest is {expected}, the blob is {layer.digest}")
        media_type = access.get("mediaType")
        if media_type and media_type != layer.media_type:
            problems.append(f"media type {media_type} differs from the layer's {layer.media_type}")
        note = f"blob {layer.digest} ({layer.size} bytes)"
        inner = None
        if not problems and is_artifact_set(layer.media_type):
            inner = self.artifact_set(cv, layer, problems)
        if inner is not None and inner.main is not None:
            expected = self._expected(digest, _OCI_DIGEST)
            if expected and expected != inner.main.digest:
                problems.append(f"digest mismatch: the resource digest is {expected}, the artifact set holds "
                                f"{inner.main.digest}")
            note += f": an artifact set of {inner.main.digest}" + (f" ({len(inner.blobs)} blobs re-hashed)"
                                                                   if inner.hashed else "")
        elif digest.get("normalisationAlgorithm") in _OCI_DIGEST and not problems:
            note += "; its digest is of the OCI artefact inside, not compared"
        self.add(CheckKind.RESOURCE, subject, not problems, "; ".join(problems) or note, label)
        if self.deep:
            self.add_graph(self.target, cv.repository, layer, subject, label)
        return inner.main if inner is not None and not problems else None

    def register_native(self, key: tuple[str, str], access: Mapping[str, Any], main: Descriptor, subject: str,
                        label: str) -> None:
        """An artifact set whose artefact the target also holds under its `referenceName` (a CTF of gl-ocm's, or
        its copy): that artefact is checked like an `ociArtifact` (index listings, cosign-format signatures)."""
        repo, tag, _ = _split_reference(str(access.get("referenceName") or ""))
        if not repo or not self._holds(repo, main.digest):
            return
        found = self.target.resolve(repo, main.digest)
        self.covered.add(found.digest)
        self.register(key, Location(self.target, repo), tag, found, None, subject, label)

    def artifact_set(self, cv: ComponentVersion, layer: Descriptor, problems: list[str]) -> ArtifactSet | None:
        """Read a local blob that holds an OCI artefact (OCM's artifact set, or an OCI layout tar): its main
        manifest, and with `deep` every blob re-hashed. What is wrong goes to `problems`."""
        try:
            with self.target.fetch(cv.repository, layer) as f:
                found = read_artifact_set(f, deep=self.deep)
        except TARGET_ERRORS as e:
            problems.append(f"artifact set {layer.digest}: unreadable: {_message(e)}")
            return None
        problems.extend(f"artifact set {layer.digest}: {p}" for p in found.problems)
        return found

    # -- the graph under a manifest: sizes (shallow) or digests (deep)
    def add_graph(self, target: ReadOnlyTarget, repo: str, desc: Descriptor, subject: str, label: str) -> None:
        """Check every object reachable from `desc`: SIZE rows in the shallow mode, CONTENT rows with `deep`."""
        walker = self.walker(target)
        result = walker.check(repo, desc)
        if self.deep:
            self.add(CheckKind.CONTENT, subject, result.ok, "; ".join(result.problems)
                     or f"{result.objects} object(s), {result.size} bytes re-hashed", label)
            return
        done = "sizes match" if walker.sizes_seen else "present (this target reports no sizes)"
        self.add(CheckKind.SIZE, subject, result.ok, "; ".join(result.problems)
                 or f"{result.objects} object(s), {result.size} bytes: manifests read, {done}", label)

    # -- the OCI side: indexes list what the components describe
    def _closure(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        seen, todo = [key], [key]
        while todo:
            for _, child in _references(self.loaded.get(todo.pop())):
                if child not in seen and self.loaded.get(child) is not None:
                    seen.append(child)
                    todo.append(child)
        return seen

    def check_indexes(self) -> None:
        for key, location, tag, desc, index_subject in self.indexes:
            label, target, repo = f"{key[0]}:{key[1]}", location.target, location.rest
            described = {d.digest: s for k in self._closure(key) for r, d, s in self.oci.get(k, [])
                         if r == (target.name, repo)}
            candidates = [(f"{repo}@{desc.digest}", desc)]
            try:
                at_tag = target.resolve(repo, tag) if tag else desc
            except TARGET_ERRORS:
                at_tag = desc  # reported by the resource check
            if at_tag.digest != desc.digest:
                candidates.append((f"{repo}:{tag} ({at_tag.digest})", at_tag))
            for where, index in candidates:
                try:
                    with target.fetch(repo, index) as f:
                        doc = json_document(f.read(MAX_MANIFEST + 1), what="image index", where=where,
                                            limit=MAX_MANIFEST)
                    listed = {str(m.get("digest")) for m in doc.get("manifests") or []}
                except TARGET_ERRORS as e:
                    self.add(CheckKind.INDEX, index_subject, False, f"{where}: unreadable: {_message(e)}", label)
                    continue
                for digest, subject in described.items():
                    ok = digest in listed
                    self.add(CheckKind.INDEX, subject, ok, f"{'listed' if ok else 'missing'} in {where}", label)
                for digest in sorted(listed - described.keys()):
                    self.add(CheckKind.INDEX, index_subject, False,
                             f"{where} lists {digest}, which no resource of the component closure describes", label)
