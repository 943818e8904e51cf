"""The target protocols: what every place that stores OCI content (a layout directory, a registry) offers.

A target is a *base*: it holds many repositories (`gardenlinux`, `component-descriptors/<name>`, ...), and every
operation names the repository. Functions ask for the narrowest protocol they need: `ReadOnlyTarget` to read and
verify, `Target` to publish, and `Mounter` (checked with `isinstance`) to link a blob from one repository into another
without sending it again.

`Target.tag` takes the manifest's bytes when the caller holds them: a registry then stores and tags the manifest with
one PUT under the tag (never by digest, never read back), and every other target stores it first if it lacks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from .model import Descriptor

__all__ = ["ReadOnlyTarget", "Target", "Mounter"]


@runtime_checkable
class ReadOnlyTarget(Protocol):
    """Read access to a base of repositories."""

    @property
    def name(self) -> str:
        """How the target is shown to users (never with credentials)."""
        ...

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        """Whether the blob or manifest with this digest is in the repository."""
        ...

    def fetch(self, repository: str, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """Open the content as a stream. Raises `NotFound` when it is absent."""
        ...

    def resolve(self, repository: str, reference: str) -> Descriptor:
        """Turn a tag (or a digest) into the manifest descriptor. Raises `NotFound` when it is absent."""
        ...

    def tags(self, repository: str) -> list[str]:
        """The tags of a repository, sorted; empty when the repository does not exist."""
        ...

    def repositories(self) -> list[str]:
        """The repositories below the base, sorted (a registry may answer only for ones it was told about)."""
        ...


@runtime_checkable
class Target(ReadOnlyTarget, Protocol):
    """A writable base. Pushes verify size and digest while the bytes pass."""

    def push(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        """Store content under its digest. Raises `DigestMismatch` when the bytes do not match the descriptor."""
        ...

    def tag(self, repository: str, descriptor: Descriptor, tag: str, data: bytes | None = None) -> None:
        """Point a tag at a manifest.

        Without `data` the manifest must be stored already (`NotFound` otherwise). With `data`, the manifest's bytes
        (checked against the descriptor), it is stored by this call if need be: its children must be stored.
        """
        ...


@runtime_checkable
class Mounter(Protocol):
    """Optional: make a blob of one repository available in another without sending its bytes."""

    def mount(
        self,
        repository: str,
        descriptor: Descriptor,
        from_repository: str,
        content: Callable[[], AbstractContextManager[BinaryIO]] | None = None,
    ) -> bool:
        """True when the blob is now in `repository`; False when the caller must push it.

        A target that cannot link the blob but is ready to receive it then (a registry that answers a mount by
        opening an upload) may send it from `content()` instead, once; the caller sees that `content` was called.
        """
        ...


def iter_chunks(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Read a stream in bounded chunks."""
    while chunk := stream.read(chunk_size):
        yield chunk
