"""Copying releases between targets: OCI artefacts digest for digest, component versions re-pointed,
referrers and signatures carried."""


from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import GlOcmError, NotFound
from ..oci.copy import CopyRoot, CopyStats, Event, copy
from ..oci.copy.changes import OnChange
from ..oci.memory import OverlaySource
from ..oci.model import tag_to_version, version_to_tag
from ..oci.target import ReadOnlyTarget, Target
from ..ocm.pack import COMPONENT_DESCRIPTORS
from ..plan.build import index_tags
from ..spec import check_version

if TYPE_CHECKING:
    from ..oci.referrers import FallbackIndexes
    from ..ocm.fetch import ComponentVersion


def copy_release(
    src: ReadOnlyTarget,
    dst: Target,
    *,
    version: str | None = None,
    jobs: int = 4,
    on_event: Callable[[Event], None] | None = None,
    on_change: OnChange = OnChange.FAIL,
    rebase: tuple[str, str] | None = None,
    on_warning: Callable[[str], None] | None = None,
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

    A referrer that a component version names (`gardenlinux.io/referrer`) but `src` does not hold (a release that
    `ocm transfer` copied: OCM carries the file, not the OCI referrer) cannot be restored from `src`; each is
    reported to `on_warning`, and the copy goes on (verify reports the same as a warning).
    """
    from ..oci.referrers import is_fallback_tag
    from ..trust.cosign import signature_subject

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
    from ..trust.locations import home_base

    old, new = rebase or (home_base(src), home_base(dst))
    source, ordered, order = _rebased(src, components, old, new)
    if on_warning is not None:
        for text in _uncarried_referrers(src, order):
            on_warning(text)
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
    from ..oci.referrers import Attachment, fallback_indexes, list_referrers

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


def _uncarried_referrers(src: ReadOnlyTarget, order: list[ComponentVersion]) -> list[str]:
    """The referrers the component versions name (`gardenlinux.io/referrer`) that `src` does not hold, in words.
    A flavor on another registry is not `src`'s to carry and is left out."""
    from ..ocm.access import parse_image_reference
    from ..ocm.referrer_labels import referrer_flavor, referrer_label
    from ..trust.locations import home_base

    base, out = home_base(src), []
    for cv in order:
        component = cv.descriptor.get("component")
        for res in component.get("resources") or [] if isinstance(component, dict) else []:
            label = referrer_label(res) if isinstance(res, dict) else None
            if not isinstance(label, dict):
                continue
            access = (referrer_flavor(cv.descriptor, res) or {}).get("access") or {}
            ref = parse_image_reference(str(access.get("imageReference") or ""))
            if ref is not None and not ref.name.startswith(base + "/"):
                continue
            repo = ref.name[len(base) + 1:] if ref is not None else \
                str(access.get("referenceName") or "").rpartition(":")[0]
            try:
                held = bool(repo) and src.resolve(repo, str(label.get("digest"))) is not None
            except GlOcmError:
                held = False
            if not held:
                extra = " ".join(f"{k}={v}" for k, v in (res.get("extraIdentity") or {}).items())
                out.append(f"{cv.name}:{cv.version}: the referrer {label.get('digest')} of {res.get('name')}"
                           f"[{extra}] is not on {src.name}, so it cannot be copied (a transfer by a tool that does "
                           "not carry OCI referrers dropped it); the file itself is copied as its resource. Copy "
                           "from where the release was published to keep it")
    return out


def _rebased(src: ReadOnlyTarget, roots: list[CopyRoot], old: str, new: str
             ) -> tuple[ReadOnlyTarget, list[CopyRoot], list[ComponentVersion]]:
    """Component version roots, every referenced one before its referrers, re-pointed from `old` to `new`."""
    from ..ocm.fetch import referenced_first
    from ..ocm.rebase import rebase_components

    by_id = {(r.repository.removeprefix(COMPONENT_DESCRIPTORS + "/"), tag_to_version(r.tags[0])): r for r in roots}
    order = [cv for cv in referenced_first(src, sorted(by_id), missing_ok=True) if (cv.name, cv.version) in by_id]
    source, moved = rebase_components(src, order, old, new)
    return source, [moved.get((cv.name, cv.version), by_id[(cv.name, cv.version)]) for cv in order], order
