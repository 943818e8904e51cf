"""Errors of gardenlinux-ocm: one class per stage, each with a message and a hint for what to do next.

The CLI catches `GlOcmError` once and maps the class to an exit code: `UsageError` and `SpecError` (bad input) exit 2,
everything else exits 1.
"""

from __future__ import annotations

__all__ = [
    "GlOcmError",
    "UsageError",
    "SpecError",
    "InventoryError",
    "PlanError",
    "TargetError",
    "NotFound",
    "DigestMismatch",
    "RefusedDocument",
    "RegistryError",
    "VerificationError",
    "SigningError",
    "GardenerError",
    "NoPublishedImages",
]


class GlOcmError(Exception):
    """Base class: `message` says what failed on which object, `hint` what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class UsageError(GlOcmError):
    """Bad command-line input (an unknown target scheme, a malformed reference)."""

    exit_code = 2


class SpecError(GlOcmError):
    """A component spec is malformed; names the file, the key path and, where known, the line."""

    exit_code = 2

    def __init__(
        self, message: str, *, file: str, path: str = "", line: int | None = None, hint: str | None = None
    ) -> None:
        where = file + (f":{line}" if line else "") + (f": {path}" if path else "")
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.path = path
        self.line = line


class InventoryError(GlOcmError):
    """The build output directory does not match the spec (missing role, unknown suffix, duplicate, stray file)."""

    exit_code = 2


class PlanError(GlOcmError):
    """The spec and the artefacts cannot be turned into a release plan."""

    exit_code = 2


class TargetError(GlOcmError):
    """An operation on a target (layout directory or registry) failed."""

    def __init__(self, message: str, *, reference: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reference = reference


class NotFound(TargetError):
    """A repository, tag, manifest or blob does not exist on the target."""


class DigestMismatch(TargetError):
    """Content did not hash to the digest (or size) that its descriptor names."""


class RefusedDocument(TargetError):
    """What a peer sent is beyond a bound (size, depth, YAML anchors or tags) of `bounded.py`; names the bound."""


class RegistryError(TargetError):
    """A registry answered with an error; carries the method, the URL (never credentials) and the status."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
        reference: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, reference=reference, hint=hint)
        self.method = method
        self.url = url
        self.status = status


class VerificationError(GlOcmError):
    """What a target holds differs from what it should hold (expected vs found)."""


class SigningError(GlOcmError):
    """A key cannot be used, or a signature cannot be created or checked."""

    exit_code = 2


class GardenerError(GlOcmError):
    """A release cannot be turned into what a Gardener consumer needs (a CloudProfile's machine images): names the
    release and the provider."""


class NoPublishedImages(GardenerError):
    """The provider, flavor flags or variant asked for select no published image of the release: bad input."""

    exit_code = 2
