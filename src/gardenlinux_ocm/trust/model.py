"""The report of verify(): each `Check` with its `CheckKind`, and readers of descriptor mappings the checks share."""

from __future__ import annotations

import dataclasses
from collections import Counter
from enum import StrEnum
from typing import Any

from ..errors import GlOcmError
from ..ocm.fetch import ComponentVersion

# What reading from a target may raise for content it holds: our errors, I/O, and the decode errors (ValueError,
# which JSONDecodeError and UnicodeDecodeError are) and shape errors (AttributeError, TypeError) that a target may
# let through when it parses a corrupt or wrong-shaped object. verify() turns each into a failed check.
TARGET_ERRORS: tuple[type[Exception], ...] = (GlOcmError, OSError, ValueError, AttributeError, TypeError)


class CheckKind(StrEnum):
    COMPONENT = "component"  # the component version is there and reads as one
    SCHEMA = "schema"  # the descriptor validates against the OCM v2 schema
    REFERENCE = "reference"  # a componentReference resolves (not missing, not a cycle)
    RESOURCE = "resource"  # the access resolves; tag, digest and resource digest agree
    INDEX = "index"  # an OCI index resource lists a manifest of the component closure
    SIZE = "size"  # every object of the graph is there with its size; manifests are read and parsed
    CONTENT = "content"  # deep: the bytes hash to their digests
    DIGEST = "digest"  # componentReferences[].digest is the referenced descriptor's digest
    SIGNATURE = "signature"
    REFERRER = "referrer"  # a file published as a referrer is one, and the referrers API or fallback tag lists it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    kind: CheckKind
    subject: str
    ok: bool
    detail: str = ""
    component: str = ""  # name:version the check belongs to
    skipped: bool = False  # nothing to check (external resource, unchecked access type); counts as ok
    warning: bool = False  # passed, with something the user should know (a referrer a transfer did not carry)

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        return ("warning" if self.warning else "ok") if self.ok else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "component": self.component, "subject": self.subject,
                "status": self.status, "detail": self.detail}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    target: str
    component: str
    version: str | None
    deep: bool
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warning"]

    def counts(self) -> list[tuple[CheckKind, int, int, int, int]]:
        """(kind, passed, failed, skipped, warnings) for each kind of check the report holds, in `CheckKind`
        order; a warning is also counted as passed."""
        tally = Counter((c.kind, c.status) for c in self.checks)
        return [(kind, tally[kind, "ok"] + tally[kind, "warning"], tally[kind, "failed"], tally[kind, "skipped"],
                 tally[kind, "warning"]) for kind in CheckKind
                if any(tally[kind, status] for status in ("ok", "failed", "skipped", "warning"))]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "component": self.component, "version": self.version, "deep": self.deep,
                "ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def _message(error: Exception) -> str:
    """An error as one line of a check: our message (without the hint), else the exception text."""
    if isinstance(error, GlOcmError):
        return error.message
    if isinstance(error, (AttributeError, TypeError)):
        return f"malformed content ({error})"
    return str(error)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list; [] for anything else (the schema check reports malformed descriptors)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _references(cv: ComponentVersion | None) -> list[tuple[dict[str, Any], tuple[str, str]]]:
    """The componentReferences of a component version with the (name, version) each one names."""
    refs = _dict(cv.descriptor.get("component")).get("componentReferences") if cv else None
    return [(r, (str(r.get("componentName", "")), str(r.get("version", "")))) for r in _dicts(refs)]
