"""Where the accesses of a component version point: the verified target itself, or another registry.

A by-reference access names `<base>/<repository>…`. When `<base>` is the verified target's own base (its registry
base, or `ocm.access.LOCAL_BASE` for a layout or CTF; another one may be declared), the repository is looked up on
that target. Any other absolute reference names a registry of its own (artefacts and component versions on two
registries), which is opened once per host through the `open_registry` callable the caller gives (the CLI passes the
same registry options as for the target); without it, such an access is reported, not followed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..errors import UsageError
from ..oci.target import ReadOnlyTarget
from ..ocm.access import LOCAL_BASE, parse_image_reference, strip_scheme
from .model import TARGET_ERRORS, _message

__all__ = ["Location", "Locations", "home_base"]


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """A reference resolved to a target and the rest of the reference there (`repository[:tag][@digest]`)."""

    target: ReadOnlyTarget
    rest: str


def home_base(target: ReadOnlyTarget) -> str:
    """The base that by-reference accesses name for content on `target`: a registry's own name, else `LOCAL_BASE`
    (a layout, an archive, or a target whose name is no target name, such as an in-memory one)."""
    from ..targets import reference_base

    try:
        return reference_base(target.name)
    except UsageError:
        return LOCAL_BASE


class Locations:
    """Resolves reference strings to (target, rest); remembers the registries it opened."""

    def __init__(
        self,
        home: ReadOnlyTarget,
        *,
        bases: Sequence[str] = (),
        open_registry: Callable[[str], ReadOnlyTarget] | None = None,
    ) -> None:
        self.home = home
        self._bases = tuple(dict.fromkeys([home_base(home), *bases]))
        self._open = open_registry
        self._remote: dict[str, ReadOnlyTarget | str] = {}

    def locate(self, reference: str) -> Location | str:
        """Where `reference` (`[scheme://]<base>/<repository>[:tag][@digest]`) is, or why it cannot be looked at.

        A scheme (`http://`, as OCM v1 writes it for a plain-HTTP registry it transferred to) says how to reach the
        registry, which the registry options already say; it is not part of the name."""
        reference = strip_scheme(reference)
        for base in self._bases:
            if reference.startswith(base + "/"):
                return Location(self.home, reference[len(base) + 1:])
        parsed = parse_image_reference(reference)
        if parsed is None:
            return f"{reference!r} names no registry host"
        if parsed.host == LOCAL_BASE:
            return f"{reference} names {LOCAL_BASE}, the base of a release not yet on a registry, but " \
                   f"{self.home.name} is not that release's layout or CTF"
        remote = self._registry(parsed.host)
        if isinstance(remote, str):
            return remote
        return Location(remote, reference[len(parsed.host) + 1:])

    def _registry(self, host: str) -> ReadOnlyTarget | str:
        if host not in self._remote:
            if self._open is None:
                self._remote[host] = f"names another registry ({host}), which this check does not open"
            else:
                try:
                    self._remote[host] = self._open(host)
                except TARGET_ERRORS as e:
                    self._remote[host] = f"cannot open registry {host}: {_message(e)}"
        return self._remote[host]

    def close(self) -> None:
        for remote in self._remote.values():
            close = getattr(remote, "close", None)
            if callable(close):
                close()
