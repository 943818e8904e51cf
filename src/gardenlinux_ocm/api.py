"""Library entry points that the CLI wraps: lint, samples, render, publish (whole, or per flavor and assemble),
copy, attach published images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artefacts.digests import DigestCache
from .artefacts.inventory import Selection, scan
from .errors import GlOcmError, NotFound, SpecError, UsageError
from .oci.changes import OnChange, check_changes
from .oci.copy import CopyRoot, CopyStats, Event, copy
from .oci.memory import MemoryTarget, OverlaySource, PlanSource
from .oci.model import tag_to_version, version_to_tag
from .oci.target import ReadOnlyTarget, Target
from .ocm.access import LOCAL_BASE, Addressing
from .ocm.labels import PLATFORM_IMAGE_RESOURCE, RELEASE_COMPONENT
from .ocm.pack import COMPONENT_DESCRIPTORS
from .plan.build import build_assembly_plan, build_parts_plan, build_plan, index_tags, pack_plan
from .plan.model import ReleasePlan, RootKind
from .spec import ReleaseSpec, check_version, lint_components, load_release
from .spec.messages import did_you_mean

if TYPE_CHECKING:
    from .gardener.published_images import PublishedImages
    from .oci.referrers import FallbackIndexes
    from .trust.sign import sign_plan, sign_published
    from .trust.signer import Signer
    from .trust.verify import verify

__all__ = [
    "lint",
    "sample_artefacts",
    "plan_release",
    "publish",
    "PublishResult",
    "copy_release",
    "OnChange",
    "verify",
    "sign_published",
    "sign_plan",
    "attach_images",
    "plan_parts",
    "assemble",
    "MissingParts",
    "Selection",
    "AttachResult",
    "DigestCache",
]


def __getattr__(name: str) -> Any:
    """Signing and verifying load on first use: they import cryptography and the OCM model, publishing does not."""
    if name in ("sign_plan", "sign_published"):
        from .trust import sign

        return getattr(sign, name)
    if name == "verify":
        from .trust.verify import verify

        return verify
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lint(components: Path) -> list[str]:
    """Validate every spec in `components/`; returns the release versions found."""
    return lint_components(components)


def sample_artefacts(components: Path, version: str, out: Path) -> list[Path]:
    from .artefacts.samples import write_samples

    return write_samples(load_release(components, version), out)


def plan_release(
    components: Path,
    version: str,
    artefacts: Path,
    addressing: Addressing | None = None,
    published_images: PublishedImages | None = None,
    digest_cache: DigestCache | None = None,
) -> tuple[ReleaseSpec, ReleasePlan]:
    """Spec + build output -> release plan. All validation happens here, before anything is written.

    `addressing` is where the descriptors' accesses point: the registry base the artefacts are published to, and by
    reference or by value (default: by reference, under `ocm.access.LOCAL_BASE`). `published_images` become the
    `published-image-metadata` labels of the flavors' `gardenlinux` resources. With `digest_cache`, files measured
    before and unchanged since are not read again (see `artefacts.digests`).
    """
    spec = load_release(components, version)
    if published_images is not None:
        _check_flavors(published_images, [f.name for f in spec.flavors], f"release {version}")
    plan = build_plan(spec, scan(artefacts, spec, cache=digest_cache), addressing)
    if published_images is None:
        return spec, plan
    from .gardener.attach import attach_published_images

    descriptors = [c.descriptor for c in plan.components]
    descriptors[-1] = attach_published_images(descriptors[-1], published_images).descriptor  # the release: last
    blob_sizes = {d.digest: d.size for c in plan.components for d in c.local_blobs}
    return spec, pack_plan(plan.version, plan.contents, plan.roots, descriptors, blob_sizes)


def plan_parts(
    components: Path,
    version: str,
    artefacts: Path,
    selection: Selection,
    addressing: Addressing | None = None,
    digest_cache: DigestCache | None = None,
) -> tuple[ReleaseSpec, ReleasePlan]:
    """A flavor or container job's plan: the selected flavors' manifests, files and tags (and the container images
    with their component version), from their files alone. `assemble` then adds the release index and component."""
    spec = load_release(components, version)
    unknown = sorted(selection.flavors - {f.name for f in spec.flavors})
    if unknown:
        names = [f.name for f in spec.flavors]
        raise UsageError(
            f"--flavor {', '.join(unknown)}: not a flavor of release {version}"
            + did_you_mean(unknown[0], names),
            hint="a flavor is CNAME-ARCH, e.g. aws-gardener_prod-amd64; `gl-ocm lint` lists the release's specs",
        )
    return spec, build_parts_plan(spec, scan(artefacts, spec, selection, digest_cache), addressing)


class MissingParts(GlOcmError):
    """Assembling found flavors or containers of the spec that are not published yet."""

    exit_code = 1


def assemble(
    components: Path,
    version: str,
    target: Target,
    *,
    addressing: Addressing | None = None,
    ocm_repository: Target | None = None,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
) -> PublishResult:
    """Build the release index and the release component from what `target` holds, and publish them.

    Every flavor and container of the spec must be there (published by `publish --flavor` / `--containers`);
    otherwise `MissingParts` lists them and nothing is written. Needs no artefacts; the index is computed from the
    target, never merged, so concurrent or repeated jobs lose nothing, and the digests equal a one-shot publish.
    """
    from .plan.assemble import read_parts

    spec = load_release(components, version)
    found = read_parts(spec, target)
    if found.missing:
        raise MissingParts(
            f"release {version} on {target.name}: {len(found.missing)} part(s) of the spec are not published, so "
            f"nothing was assembled: {', '.join(found.missing)}",
            hint="publish them first: gl-ocm publish VERSION --flavor CNAME-ARCH (or --containers)",
        )
    plan = build_assembly_plan(spec, found.parts, addressing)
    # The plan holds the index and the component; anything else they need (by value: the files) is on the target.
    source = OverlaySource(target, PlanSource(plan))
    return publish(plan, target, jobs=jobs, on_event=on_event, on_change=on_change, ocm_repository=ocm_repository,
                   source=source)


def _check_flavors(images: PublishedImages, known: list[str], where: str) -> None:
    from .gardener.published_images import unknown_flavors

    unknown = unknown_flavors(images, known)
    if unknown:
        raise SpecError(
            f"{len(unknown)} flavor(s) are not in {where}: {', '.join(unknown)}",
            file=images.file,
            hint=f"the flavors of {where} are {', '.join(sorted(known))}",
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttachResult:
    target: str
    version: str
    attached: tuple[str, ...]
    unchanged: tuple[str, ...]
    before: str  # the release component version's manifest digest
    after: str
    stats: CopyStats


def attach_images(target: Target, version: str, images: PublishedImages, *, jobs: int = 4) -> AttachResult:
    """Attach published images to a published release: label, re-pack and re-tag its component version.

    A flavor of the file that the release does not have is refused (`SpecError`) before anything is written;
    images already attached are not written again. Signatures stay valid (the label is not signed).
    """
    from .gardener.attach import attach_published_images, flavor_of
    from .ocm.fetch import fetch_component
    from .ocm.rebase import repack, stage

    cv = fetch_component(target, RELEASE_COMPONENT, check_version(version, what="VERSION"))
    result = attach_published_images(cv.descriptor, images)
    if result.missing:
        known = [f for r in _dicts(cv.descriptor) if (f := flavor_of(r.get("extraIdentity") or {}))]
        _check_flavors(images, known, f"{RELEASE_COMPONENT}:{version} on {target.name}")
    source = MemoryTarget()
    packed = repack(cv, result.descriptor)
    root = stage(source, packed)
    stats = CopyStats()
    if result.attached:
        stats = copy(OverlaySource(target, source), target, [root], jobs=jobs, on_change=OnChange.OVERWRITE)
    return AttachResult(target=target.name, version=version, attached=result.attached, unchanged=result.unchanged,
                        before=cv.manifest_descriptor.digest, after=packed.manifest_descriptor.digest, stats=stats)


def _dicts(descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    resources = descriptor.get("component", {}).get("resources") or []
    return [r for r in resources if isinstance(r, dict) and r.get("name") == PLATFORM_IMAGE_RESOURCE]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    plan: ReleasePlan
    stats: CopyStats
    target: str
    ocm_repository: str
    images_signed: int = 0  # manifests that got this key's cosign-format signature
    images_already_signed: int = 0
    fallback_tags: tuple[CopyRoot, ...] = ()  # referrers fallback indexes written (where the target lacks the API)


SIGNED_KINDS = (RootKind.FLAVOR, RootKind.CONTAINER, RootKind.CONTAINER_INDEX, RootKind.INDEX)  # cosign-signed


def publish(
    plan: ReleasePlan,
    target: Target,
    *,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
    ocm_repository: Target | None = None,
    source: ReadOnlyTarget | None = None,
    image_signer: Signer | None = None,
    reference_base: str = LOCAL_BASE,
) -> PublishResult:
    """Write a plan to a target: blobs, manifests, the release index, component versions; tags last.

    The component versions go to `ocm_repository` when it is given (another registry or prefix), after every OCI
    artefact is on `target`. A tag of the plan that either already has for other content (the same version built
    again) is refused before anything is written, unless `on_change` is `OnChange.OVERWRITE`.

    A flavor's referrers (files of `attach: referrer` roles) are stored by digest before the flavor is tagged; where
    the target lacks the referrers API, the fallback tag of each flavor manifest gets them too, merged with what it
    lists (`oci.referrers.fallback_indexes`, read before the first write).

    With `image_signer`, every flavor manifest, container image and index gets a cosign-format signature
    (`trust.image_signing`, payloads naming `reference_base`), made before the first write and stored before the
    release index is tagged, so whoever sees the index finds every signature; where the target serves the
    referrers API, each signature is also attached as a referrer.
    """
    source = source or PlanSource(plan)
    ocm = ocm_repository if ocm_repository is not None and ocm_repository.name != target.name else None
    by_kind: dict[RootKind, list[CopyRoot]] = {kind: [] for kind in RootKind}
    for r in plan.roots:
        by_kind[r.kind].append(CopyRoot(repository=r.repository, descriptor=r.descriptor, tags=r.tags))
    components = by_kind[RootKind.COMPONENT]
    if ocm is not None:
        check_changes(source, ocm, components, on_change)  # before anything is written to either
    # Read before the first write: what the fallback tags must become, and the signatures.
    attached = _attachments(plan, target)
    overlays: list[ReadOnlyTarget] = []
    referrers: list[CopyRoot] = []
    if attached is not None:  # a referrer the target lists is stored: no upload, no question
        referrers = [*attached.unlisted(by_kind[RootKind.REFERRER]), *attached.roots]
        overlays.append(attached.source)
    signed: list[CopyRoot] = []
    counts = (0, 0)
    if image_signer is not None:
        from .trust.image_signing import Subject, sign_images

        subjects = [Subject(repository=r.repository, descriptor=r.descriptor)
                    for r in plan.roots if r.kind in SIGNED_KINDS]
        signatures = sign_images(target, subjects, image_signer, reference_base)
        overlays.append(signatures.source)
        signed = [*signatures.roots, *signatures.referrers]
        counts = (signatures.signed, signatures.unchanged)
    if overlays:  # merged manifests keep what the target holds (other signatures, other referrers): read it there
        source = OverlaySource(target, source)
    for overlay in overlays:
        source = OverlaySource(source, overlay)
    roots = [*by_kind[RootKind.CONTAINER], *by_kind[RootKind.CONTAINER_INDEX], *referrers,
             *by_kind[RootKind.FLAVOR], *signed, *by_kind[RootKind.INDEX]]
    stats = copy(source, target, roots if ocm is not None else [*roots, *components], jobs=jobs, on_event=on_event,
                 on_change=on_change)
    if ocm is not None:
        stats += copy(source, ocm, components, jobs=jobs, on_event=on_event, on_change=on_change)
    return PublishResult(plan=plan, stats=stats, target=target.name, ocm_repository=(ocm or target).name,
                         images_signed=counts[0], images_already_signed=counts[1],
                         fallback_tags=attached.roots if attached else ())


def _attachments(plan: ReleasePlan, target: ReadOnlyTarget) -> FallbackIndexes | None:
    """The fallback indexes that the plan's referrers need on `target` (None: the plan has no referrers)."""
    import json

    from .oci.model import parse_descriptor
    from .oci.referrers import Attachment, fallback_indexes

    wanted = []
    for r in plan.roots:
        data = plan.contents[r.descriptor.digest].data if r.kind is RootKind.REFERRERS else None
        if data is not None and r.subject is not None:  # the plan's own fallback index: its entries
            entries = tuple(parse_descriptor(m) for m in json.loads(data)["manifests"])
            wanted.append(Attachment(repository=r.repository, subject=r.subject, entries=entries, index=r.descriptor))
    return fallback_indexes(target, wanted) if wanted else None


def copy_release(
    src: ReadOnlyTarget,
    dst: Target,
    *,
    version: str | None = None,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
    rebase: tuple[str, str] | None = None,
) -> CopyStats:
    """Copy every repository and tag of `src` (only the tags of `version` when given) to `dst`.

    OCI artefacts keep their digests. Component versions whose accesses name the source's base are re-pointed to
    the destination's (`rebase` = (from, to); default: the two targets' own bases, `LOCAL_BASE` for a layout or CTF),
    which gives them new manifest digests but keeps every signature valid; the others keep their digests too.
    Component versions are tagged last, each after the ones it references, so none ever appears before what it
    references, even if the copy dies midway. The cosign-format signatures (`sha256-<hex>.sig`) of the manifests
    copied go first, so a copied index is never seen without them. The referrers of the manifests copied (as `src`
    lists them: API or fallback tag) follow their subjects, indexed on `dst` the way it offers (its API, or its
    fallback tags, merged with what they list). A tag that `dst` has for other content is refused
    before anything is written, unless `on_change` is `OnChange.OVERWRITE`.
    """
    from .oci.referrers import is_fallback_tag
    from .trust.cosign import signature_subject

    repos = src.repositories()
    if not repos:
        raise NotFound(f"{src.name} holds no repositories")
    prefix = version_to_tag(check_version(version, what="--version")) if version else None
    own = set(index_tags(version)) if version else set()  # the version's tag, and X.Y.0 for a two-part version
    artefacts: list[CopyRoot] = []
    components: list[CopyRoot] = []
    signatures: dict[tuple[str, str], str] = {}  # (repository, subject digest) -> its .sig tag
    for repo in repos:
        for tag in src.tags(repo):
            if subject := signature_subject(tag):
                signatures[(repo, subject)] = tag
                continue
            if is_fallback_tag(tag):
                continue  # a referrers index: its referrers are carried with their subjects, below
            if prefix is not None and tag not in own and not tag.startswith(prefix + "-"):
                continue
            root = CopyRoot(repository=repo, descriptor=src.resolve(repo, tag), tags=(tag,))
            (components if repo.startswith(COMPONENT_DESCRIPTORS + "/") else artefacts).append(root)
    signed = [CopyRoot(repository=r.repository, descriptor=src.resolve(r.repository, tag), tags=(tag,))
              for r in artefacts if (tag := signatures.pop((r.repository, r.descriptor.digest), ""))]
    if not artefacts and not components:
        raise NotFound(f"{src.name} has no tags" + (f" of version {version}" if version else ""))
    from .trust.locations import home_base

    old, new = rebase or (home_base(src), home_base(dst))
    source, ordered = _rebased(src, components, old, new)
    attached = _carried_referrers(src, dst, artefacts)  # read before the first write
    if attached is None:
        return copy(source, dst, signed + artefacts + ordered, jobs=jobs, on_event=on_event, on_change=on_change,
                    check_sources=True)
    referrers, fallbacks = attached
    return copy(OverlaySource(source, fallbacks.source), dst, [*signed, *referrers, *fallbacks.roots, *artefacts,
                                                                 *ordered], jobs=jobs, on_event=on_event,
                on_change=on_change, check_sources=True)


def _carried_referrers(src: ReadOnlyTarget, dst: ReadOnlyTarget, roots: list[CopyRoot]
                       ) -> tuple[list[CopyRoot], FallbackIndexes] | None:
    """The referrers of the manifests copied (evidence, cosign's referrer signatures), as `src` lists them, and
    the fallback indexes `dst` needs for them; None when there are none."""
    from .oci.referrers import Attachment, fallback_indexes, list_referrers

    referrers: list[CopyRoot] = []
    wanted: list[Attachment] = []
    for root in roots:
        entries = list_referrers(src, root.repository, root.descriptor).entries
        if entries:
            referrers.extend(CopyRoot(repository=root.repository, descriptor=e.bare()) for e in entries)
            wanted.append(Attachment(repository=root.repository, subject=root.descriptor.bare(), entries=entries))
    if not wanted:
        return None
    fallbacks = fallback_indexes(dst, wanted)
    return fallbacks.unlisted(referrers), fallbacks


def _rebased(src: ReadOnlyTarget, roots: list[CopyRoot], old: str, new: str
             ) -> tuple[ReadOnlyTarget, list[CopyRoot]]:
    """Component version roots, every referenced one before its referrers, re-pointed from `old` to `new`."""
    from .ocm.fetch import referenced_first
    from .ocm.rebase import rebase_components

    by_id = {(r.repository.removeprefix(COMPONENT_DESCRIPTORS + "/"), tag_to_version(r.tags[0])): r for r in roots}
    order = [cv for cv in referenced_first(src, sorted(by_id), missing_ok=True) if (cv.name, cv.version) in by_id]
    source, moved = rebase_components(src, order, old, new)
    return source, [moved.get((cv.name, cv.version), by_id[(cv.name, cv.version)]) for cv in order]
