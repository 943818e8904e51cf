"""A flavor's evidence as referrers (pure): the files of `attach: referrer` roles, each an artifact of its own.

Each such file (an SBOM, a test log, a test report) becomes a manifest with the role's `artifactType`, the empty
config, the file as its one layer and the flavor manifest as `subject`, pushed by digest. The flavor manifest lists
what to expect (`io.gardenlinux.referrers`: the files' suffixes after the artifact base name), so that assembling and
verifying notice a missing one. For targets without the referrers API the plan also holds the fallback index of each
flavor (tag `sha256-<hex>` of the flavor manifest); publishing merges it with what the target lists already, or drops
it where the target serves the API (`api.publish`, `oci.referrers.fallback_indexes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..artefacts.inventory import ArtefactFile
from ..oci.model import Descriptor, MediaType, descriptor_for
from ..oci.referrers import fallback_index, fallback_tag, referrer_entry, referrer_manifest
from ..spec.model import Attach, Flavor, ReleaseSpec
from .model import Content, Root, RootKind

__all__ = ["REFERRERS_ANNOTATION", "CREATED", "split_files", "expected_referrers", "plan_referrers"]

REFERRERS_ANNOTATION = "io.gardenlinux.referrers"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
ROLE = "io.gardenlinux.role"


def split_files(files: Sequence[ArtefactFile]) -> tuple[list[ArtefactFile], list[ArtefactFile]]:
    """The flavor's layers and its referrers, each in the spec's role order."""
    return ([f for f in files if f.role.attach is Attach.LAYER],
            [f for f in files if f.role.attach is Attach.REFERRER])


def _suffix(spec: ReleaseSpec, flavor: Flavor, f: ArtefactFile) -> str:
    return f.name.removeprefix(spec.artefact_base_name(flavor.cname, flavor.arch) + ".")


def expected_referrers(spec: ReleaseSpec, flavor: Flavor, files: Sequence[ArtefactFile]) -> dict[str, str]:
    """The flavor manifest's annotation naming its referrers (none without any)."""
    suffixes = [_suffix(spec, flavor, f) for f in files]
    return {REFERRERS_ANNOTATION: ",".join(suffixes)} if suffixes else {}


def _manifest(spec: ReleaseSpec, flavor: Flavor, f: ArtefactFile, layer: Descriptor, subject: Descriptor) -> bytes:
    return referrer_manifest(
        artifact_type=f.role.artifact_type_for(f.part),
        layers=[layer],
        subject=subject,
        annotations={TITLE: f.name, ROLE: f.role.name, CREATED: spec.release_date,
                     "io.gardenlinux.flavor": flavor.name},
    )


def plan_referrers(
    spec: ReleaseSpec,
    flavor: Flavor,
    subject: Descriptor,
    files: Sequence[tuple[ArtefactFile, Descriptor]],
) -> tuple[dict[str, Content], list[Root], dict[str, Descriptor]]:
    """The referrers of one flavor manifest (file, its layer descriptor): their manifests (contents), their roots
    (each referrer, then the fallback index), and each file's referrer entry by the file's name."""
    if not files:
        return {}, [], {}
    repo = spec.release_repository
    contents: dict[str, Content] = {}
    roots: list[Root] = []
    entries: dict[str, Descriptor] = {}
    for f, layer in files:
        data = _manifest(spec, flavor, f, layer, subject)
        entry = referrer_entry(data)
        contents[entry.digest] = Content(data=data)
        entries[f.name] = entry
        roots.append(Root(repository=repo, descriptor=entry.bare(), tags=(), kind=RootKind.REFERRER,
                          label=f"{flavor.name} {_suffix(spec, flavor, f)}", subject=subject))
    index = fallback_index(list(entries.values()))
    index_desc = descriptor_for(index, MediaType.OCI_INDEX)
    contents[index_desc.digest] = Content(data=index)
    roots.append(Root(repository=repo, descriptor=index_desc, tags=(fallback_tag(subject.digest),),
                      kind=RootKind.REFERRERS, label=f"{flavor.name} referrers", subject=subject))
    return contents, roots, entries
