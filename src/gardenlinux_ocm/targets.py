"""Target names -> targets: `oci-layout:DIR`, `ctf:PATH`, `ca:PATH` (read-only OCM archives) or a registry base."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .oci.target import ReadOnlyTarget, Target
from .ocm.access import LOCAL_BASE, AccessMode, Addressing

if TYPE_CHECKING:
    from .oci.registry import RetryPolicy, Timeouts

__all__ = [
    "TargetKind",
    "TargetName",
    "RegistryOptions",
    "parse_target",
    "open_target",
    "open_source",
    "reference_base",
    "registry_opener",
    "addressing_for",
    "DEFAULT_TARGET",
]

DEFAULT_TARGET = "oci-layout:build/oci"
_SKOPEO_LAYOUT = "oci:"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?P<name>{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$")


class TargetKind(StrEnum):
    LAYOUT = "oci-layout"
    CTF = "ctf"
    COMPONENT_ARCHIVE = "ca"
    REGISTRY = "registry"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TargetName:
    kind: TargetKind
    location: str  # a path, or HOST[:PORT][/PREFIX]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    credentials: Callable[[str], tuple[str, str] | None] = lambda host: None
    plain_http: bool | None = None
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    timeout: Timeouts | None = None  # None: the registry client's defaults
    retry: RetryPolicy | None = None


def parse_target(text: str) -> TargetName:
    """Parse a target name (pure). Registry bases carry no scheme and no credentials."""
    text = text.strip()
    for kind in (TargetKind.LAYOUT, TargetKind.CTF, TargetKind.COMPONENT_ARCHIVE):
        prefix = f"{kind.value}:"
        if text.startswith(prefix):
            location = text[len(prefix) :]
            if not location:
                raise UsageError(f"target {text!r} names no directory", hint=f"write {prefix}DIR")
            return TargetName(kind=kind, location=location)
    if "://" in text or "@" in text:
        shown = re.sub(r"^([a-z]+://)?[^/@]*@", lambda m: (m.group(1) or "") + "***@", text)
        raise UsageError(
            f"target {shown!r}: write a registry base as HOST[:PORT][/PREFIX], without scheme or credentials",
            hint="use --plain-http for a plain-HTTP registry and --username/--password-stdin for credentials",
        )
    if text.startswith(_SKOPEO_LAYOUT):
        directory = text[len(_SKOPEO_LAYOUT) :] or "DIR"
        raise UsageError(
            f"target {text!r}: `oci:` is skopeo's spelling; gl-ocm writes one layout per repository below a directory",
            hint=f"write oci-layout:{directory}",
        )
    if not text:
        raise UsageError(
            "the target is empty", hint=f"write oci-layout:DIR or HOST[:PORT][/PREFIX], e.g. {DEFAULT_TARGET}"
        )
    if not _looks_like_host(text.split("/", 1)[0]):
        raise UsageError(
            f"target {text!r} is neither oci-layout:DIR, ctf:PATH, ca:PATH nor a registry HOST[:PORT][/PREFIX] "
            "(a registry host contains a '.' or a ':PORT', or is localhost)",
            hint=f"for a directory write oci-layout:{text.rstrip('/') or text}",
        )
    return TargetName(kind=TargetKind.REGISTRY, location=text.rstrip("/"))


def registry_opener(options: RegistryOptions) -> Callable[[str], ReadOnlyTarget]:
    """Opens the registry at a host, for accesses that name another registry than the target (split topologies)."""
    return lambda host: _registry(TargetName(kind=TargetKind.REGISTRY, location=host), options)


def reference_base(text: str) -> str:
    """The base that by-reference accesses name for content on this target: a registry's base, else `LOCAL_BASE`."""
    name = parse_target(text)
    return name.location if name.kind is TargetKind.REGISTRY else LOCAL_BASE


def addressing_for(target: str, base: str | None = None, mode: AccessMode | None = None) -> Addressing:
    """Where a release published to `target` points its accesses: `base` when given, else the target's own base.

    Without a `mode`, a CTF built for no known registry (no `base`) is self-contained (`AccessMode.TRANSPORT`), so
    that OCM's tools resolve every access inside it; anything else is by reference."""
    if mode is None:
        mode = AccessMode.TRANSPORT if base is None and parse_target(target).kind is TargetKind.CTF \
            else AccessMode.REFERENCE
    if base is None:
        return Addressing(base=reference_base(target), mode=mode)
    name = parse_target(base)
    if name.kind is not TargetKind.REGISTRY:
        raise UsageError(f"--reference-base {base!r}: write a registry base HOST[:PORT][/PREFIX]",
                         hint="it names where the artefacts are (or will be), e.g. ghcr.io/gardenlinux/gardenlinux")
    return Addressing(base=name.location, mode=mode)


def _looks_like_host(host: str) -> bool:
    """Docker's rule for the first component of a reference: a domain has a '.' or a ':port', or is localhost."""
    match = _HOST_RE.match(host)
    if match is None:
        return False
    name = match.group("name")
    return "." in name or match.group("port") is not None or name == "localhost" or name.startswith("[")


def open_source(text: str, options: RegistryOptions | None = None) -> ReadOnlyTarget:
    """A target to read from: any kind, archives included."""
    from .oci.layout import LayoutTarget

    name = parse_target(text)
    if name.kind is TargetKind.LAYOUT:
        return LayoutTarget(Path(name.location), read_only=True)
    if name.kind in (TargetKind.CTF, TargetKind.COMPONENT_ARCHIVE):
        from .ocm.archives import open_archive  # read-only OCM transport formats

        return open_archive(Path(name.location), name.kind.value)
    return _registry(name, options or RegistryOptions())


def open_target(text: str, options: RegistryOptions | None = None) -> Target:
    """A target to publish to: a layout directory, a CTF (directory, .tar or .tgz; close it to write an archive) or
    a registry."""
    from .oci.layout import LayoutTarget

    name = parse_target(text)
    if name.kind is TargetKind.LAYOUT:
        return LayoutTarget(Path(name.location))
    if name.kind is TargetKind.REGISTRY:
        return _registry(name, options or RegistryOptions())
    if name.kind is TargetKind.CTF:
        from .ocm.ctf import CtfTarget

        return CtfTarget(Path(name.location))
    raise UsageError(f"{text}: component archives are read-only here; write oci-layout:DIR, ctf:PATH or a registry")


def _registry(name: TargetName, options: RegistryOptions) -> Target:
    from .oci.registry import RegistryTarget, RetryPolicy, Timeouts

    return RegistryTarget(
        base=name.location,
        credentials=options.credentials,
        plain_http=options.plain_http,
        ca_file=options.ca_file,
        insecure_skip_tls_verify=options.insecure_skip_tls_verify,
        timeout=options.timeout or Timeouts(),
        retry=options.retry or RetryPolicy(),
    )
