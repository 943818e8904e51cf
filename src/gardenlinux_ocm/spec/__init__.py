"""Component specs: load the YAML files of `components/`, validate them, and turn them into a `ReleaseSpec`."""

from __future__ import annotations

from pathlib import Path

from ..errors import SpecError
from .load import COMPONENT_FILE, RELEASES_DIR, load_document, release_file
from .model import ReleaseSpec
from .parse import COMPONENT_SCHEMA, RELEASE_SCHEMA, parse_release, validate_document
from .version import VERSION_FORM, VersionProblem, check_version, diagnose_version, is_release_version

__all__ = [
    "ReleaseSpec",
    "load_release",
    "lint_components",
    "check_version",
    "diagnose_version",
    "is_release_version",
    "VersionProblem",
    "VERSION_FORM",
]


def load_release(components: Path, version: str) -> ReleaseSpec:
    """Read `components/gardenlinux.yaml` and `components/releases/<version>.yaml` into a validated spec.

    The version is checked before any file is looked up (`UsageError`); file names in errors are shown as given.
    """
    check_version(version)
    comp_path = components / COMPONENT_FILE
    rel_path = release_file(components, version)
    if not rel_path.is_file() and (components / RELEASES_DIR).is_dir():
        known = sorted(p.stem for p in (components / RELEASES_DIR).glob("*.yaml"))
        raise SpecError(
            f"no release spec for version {version!r}",
            file=str(rel_path),
            hint=f"known releases: {', '.join(known) or 'none'}; add {rel_path.name} to define it",
        )
    component = load_document(comp_path)
    release = load_document(rel_path)
    return parse_release(component, release, expected_version=version)


def lint_components(components: Path) -> list[str]:
    """Validate the shared spec and every release file; returns the versions checked, raises on the first bad file."""
    component = load_document(components / COMPONENT_FILE)
    validate_document(component, COMPONENT_SCHEMA)
    versions = []
    for rel_path in sorted((components / RELEASES_DIR).glob("*.yaml")):
        release = load_document(rel_path)
        validate_document(release, RELEASE_SCHEMA)
        parse_release(component, release, expected_version=rel_path.stem)
        versions.append(rel_path.stem)
    return versions
