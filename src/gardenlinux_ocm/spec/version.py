"""The forms a Garden Linux release version may take, in one place (docs/versions.md gives the reasons).

A release version is `MAJOR.MINOR` (1473.0, 1592.1) or `MAJOR.MINOR.PATCH` (1592.1.0, 2150.0.0): decimal numbers
without leading zeros, optionally followed by build metadata `+IDENT[.IDENT...]` (1473.0+ci.1, tagged
1473.0.build-ci.1). No `v` prefix, no bare major, no pre-release suffix, at most 64 characters. The release spec's
JSON Schema repeats `VERSION_PATTERN` and `MAX_VERSION_LENGTH`; a test keeps them equal.
"""

from __future__ import annotations

import dataclasses
import re

from ..errors import UsageError

__all__ = [
    "VERSION_FORM",
    "VERSION_PATTERN",
    "MAX_VERSION_LENGTH",
    "VersionProblem",
    "diagnose_version",
    "is_release_version",
    "check_version",
]

MAX_VERSION_LENGTH = 64
# Later build identifiers must not start with "build-": `version_to_tag` writes `+` as `.build-`, and
# `tag_to_version` turns the last `.build-` back into `+`, so `1473.0+a.build-b` would not survive the round trip.
VERSION_PATTERN = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?"
    r"(\+[0-9A-Za-z-]+(\.(?!build-)[0-9A-Za-z-]+)*)?$"
)
VERSION_FORM = (
    "a version like 1473.0 or 1592.1.0 (MAJOR.MINOR or MAJOR.MINOR.PATCH, numbers without leading zeros, "
    "optionally with build metadata such as 1473.0+ci.1)"
)

_VERSION_RE = re.compile(VERSION_PATTERN)
_NUMBER = r"(0|[1-9][0-9]*)"
_RELEASE = rf"{_NUMBER}\.{_NUMBER}(\.{_NUMBER})?"
_BUILD = r"(\+[0-9A-Za-z.-]*)?"
_PATH_CHARS = ("/", "\\", "..", "~", ":", "*", "?")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionProblem:
    """Why a text is not a release version (`message`, ends without a full stop) and what to write (`hint`)."""

    message: str
    hint: str


def is_release_version(text: str) -> bool:
    """Whether `text` is a release version in the one allowed form."""
    return len(text) <= MAX_VERSION_LENGTH and _VERSION_RE.fullmatch(text) is not None


def _strip_zeros(numbers: str) -> str:
    return ".".join(str(int(n)) for n in numbers.split("."))


def diagnose_version(text: str) -> VersionProblem | None:
    """None for a release version; otherwise the most specific reason it is not one and the form to write."""
    if is_release_version(text):
        return None
    form = f"write {VERSION_FORM}"
    if not text:
        return VersionProblem(message="is empty", hint=form)
    if len(text) > MAX_VERSION_LENGTH:
        return VersionProblem(
            message=f"is {len(text)} characters long; a version has at most {MAX_VERSION_LENGTH}", hint=form
        )
    bad = next((c for c in text if c.isspace() or not c.isprintable()), None)
    bad = bad or next((c for c in _PATH_CHARS if c in text), None)
    if bad is not None:
        return VersionProblem(
            message=f"contains {bad!r}, which a version cannot contain (it names a release, not a file)",
            hint=f"give the version alone: {VERSION_FORM}",
        )
    if m := re.fullmatch(rf"[vV]({_RELEASE}{_BUILD})", text):
        return VersionProblem(message="has a 'v' prefix", hint=f"write {m[1]}: Garden Linux versions have no 'v'")
    if m := re.fullmatch(r"[vV]?([0-9]+)", text):
        return VersionProblem(
            message="is a bare major version",
            hint=f"write {int(m[1])}.0 (or the minor release you mean): a release has MAJOR.MINOR",
        )
    if m := re.fullmatch(rf"(?P<release>{_RELEASE})-(?P<pre>[0-9A-Za-z.-]+){_BUILD}", text):
        return VersionProblem(
            message=f"has a pre-release suffix '-{m['pre']}'; a Garden Linux release has none",
            hint=f"put it in build metadata instead: {m['release']}+{m['pre']}",
        )
    if m := re.fullmatch(r"([0-9]+(\.[0-9]+){1,2})(\+.*)?", text):
        numbers = m[1]
        if _strip_zeros(numbers) != numbers:
            return VersionProblem(
                message="has a number with a leading zero",
                hint=f"write {_strip_zeros(numbers)}{m[3] or ''}: each release has one spelling",
            )
        if re.search(r"\+.*\.build-", text):
            return VersionProblem(
                message="has build metadata with a later identifier starting with 'build-'",
                hint="OCI tags write '+' as '.build-', so only the first identifier may start with 'build-'; "
                "e.g. 1473.0+ci.build7",
            )
        return VersionProblem(
            message="has malformed build metadata",
            hint="build metadata is '+' and dot-separated identifiers of letters, digits and '-', "
            "later ones not starting with 'build-', e.g. 1473.0+ci.1",
        )
    if re.fullmatch(r"[0-9]+(\.[0-9]+){3,}(\+.*)?", text):
        return VersionProblem(
            message=f"has {text.split('+')[0].count('.') + 1} numbers; a release has 2 (1473.0) or 3 (1592.1.0)",
            hint=form,
        )
    return VersionProblem(message="is not a release version", hint=form)


def check_version(version: str, *, what: str = "VERSION") -> str:
    """Return `version` if it is a release version; otherwise raise `UsageError` before anything uses it as a path.

    `what` names the argument in the message (VERSION, --version).
    """
    problem = diagnose_version(version)
    if problem is None:
        return version
    shown = version if len(version) <= 80 else version[:77] + "..."
    raise UsageError(f"{what} {shown!r} {problem.message}", hint=problem.hint)
