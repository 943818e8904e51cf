"""Publishing: the release plan from spec and build output (whole, per flavor job, for transport), assemble,
and publish() itself."""


from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..artefacts.digests import DigestCache
from ..artefacts.inventory import Selection, scan
from ..errors import GlOcmError, SpecError, UsageError
from ..oci.copy import CopyRoot, CopyStats, Event, copy
from ..oci.copy.changes import OnChange, check_changes
from ..oci.memory import OverlaySource
from ..oci.target import ReadOnlyTarget, Target
from ..ocm.access import LOCAL_BASE, AccessMode, Addressing
from ..plan.build import build_assembly_plan, build_parts_plan, build_plan, pack_plan
from ..plan.model import ReleasePlan, RootKind
from ..plan.source import PlanSource
from ..spec import ReleaseSpec, load_release
from ..spec.messages import did_you_mean

if TYPE_CHECKING:
    from ..gardener.published_images import PublishedImages
    from ..oci.referrers import FallbackIndexes
    from ..trust.signer import Signer


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
    from ..gardener.attach import attach_published_images

    descriptors = [c.descriptor for c in plan.components]
    descriptors[-1] = attach_published_images(descriptors[-1], published_images).descriptor  # the release: last
    blob_sizes = {d.digest: d.size for c in plan.components for d in c.local_blobs}
    return spec, pack_plan(plan.version, plan.contents, plan.roots, descriptors, blob_sizes)


def for_transport(plan: ReleasePlan, addressing: Addressing, workdir: Path | None,
                  source: ReadOnlyTarget | None = None) -> ReleasePlan:
    """With `AccessMode.TRANSPORT`, the plan whose `ociArtifact` resources are artifact-set local blobs, the sets
    written to `workdir` (`plan.transport`); any other mode: the plan as it is. `source` serves what the plan does
    not hold (an assembled release's flavors, on the target)."""
    if addressing.mode is not AccessMode.TRANSPORT:
        return plan
    if workdir is None:
        raise UsageError("publishing for transport needs a directory for the artifact sets (workdir)")
    from ..plan.transport import transport_plan

    return transport_plan(plan, OverlaySource(source, PlanSource(plan)) if source else PlanSource(plan),
                          addressing.base, workdir)


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
    workdir: Path | None = None,
) -> PublishResult:
    """Build the release index and the release component from what `target` holds, and publish them.

    Every flavor and container of the spec must be there (published by `publish --flavor` / `--containers`);
    otherwise `MissingParts` lists them and nothing is written. Needs no artefacts; the index is computed from the
    target, never merged, so concurrent or repeated jobs lose nothing, and the digests equal a one-shot publish.
    """
    from ..plan.assemble import read_parts

    spec = load_release(components, version)
    found = read_parts(spec, target)
    if found.missing:
        raise MissingParts(
            f"release {version} on {target.name}: {len(found.missing)} part(s) of the spec are not published, so "
            f"nothing was assembled: {', '.join(found.missing)}",
            hint="publish them first: gl-ocm publish VERSION --flavor CNAME-ARCH (or --containers)",
        )
    plan = build_assembly_plan(spec, found.parts, addressing)
    if addressing is not None:
        plan = for_transport(plan, addressing, workdir, source=target)
    # The plan holds the index and the component; anything else they need (by value: the files) is on the target.
    source = OverlaySource(target, PlanSource(plan))
    return publish(plan, target, jobs=jobs, on_event=on_event, on_change=on_change, ocm_repository=ocm_repository,
                   source=source)


def _check_flavors(images: PublishedImages, known: list[str], where: str) -> None:
    from ..gardener.published_images import unknown_flavors

    unknown = unknown_flavors(images, known)
    if unknown:
        raise SpecError(
            f"{len(unknown)} flavor(s) are not in {where}: {', '.join(unknown)}",
            file=images.file,
            hint=f"the flavors of {where} are {', '.join(sorted(known))}",
        )


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
        from ..trust.image_signing import Subject, sign_images

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

    from ..oci.model import parse_descriptor
    from ..oci.referrers import Attachment, fallback_indexes

    wanted = []
    for r in plan.roots:
        data = plan.contents[r.descriptor.digest].data if r.kind is RootKind.REFERRERS else None
        if data is not None and r.subject is not None:  # the plan's own fallback index: its entries
            entries = tuple(parse_descriptor(m) for m in json.loads(data)["manifests"])
            wanted.append(Attachment(repository=r.repository, subject=r.subject, entries=entries, index=r.descriptor))
    return fallback_indexes(target, wanted) if wanted else None
