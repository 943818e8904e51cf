"""A release plan served as a read-only target: small JSON from memory, artefacts as byte ranges of the build files.

`copy(PlanSource(plan), target)` is publishing. It lives beside the plan, so that `oci/` needs nothing of `plan/`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO, cast

from ..errors import NotFound
from ..oci.model import Descriptor
from ..oci.streams import RangeReader
from .model import Content, ReleasePlan

__all__ = ["PlanSource"]


class PlanSource:
    """A `ReadOnlyTarget` over a release plan: JSON from memory, artefacts as ranges of the build files."""

    def __init__(self, plan: ReleasePlan) -> None:
        self._contents: Mapping[str, Content] = plan.contents
        self._tags = {(r.repository, t): r.descriptor for r in plan.roots for t in r.tags}

    @property
    def name(self) -> str:
        return "release plan"

    def exists(self, repository: str, descriptor: Descriptor) -> bool:
        return descriptor.digest in self._contents

    @contextmanager
    def fetch(self, repository: str, descriptor: Descriptor) -> Iterator[BinaryIO]:
        content = self._contents.get(descriptor.digest)
        if content is None:
            raise NotFound(f"{repository}@{descriptor.digest} is not part of the release plan")
        if content.data is not None:
            yield io.BytesIO(content.data)
            return
        assert content.range is not None
        reader = RangeReader(content.range.path, content.range.offset, content.range.size)
        try:
            yield cast(BinaryIO, reader)  # read in the consumers' 1 MiB chunks, straight from the file
        finally:
            reader.close()

    def resolve(self, repository: str, reference: str) -> Descriptor:
        try:
            return self._tags[(repository, reference)]
        except KeyError as e:
            raise NotFound(f"{repository}:{reference} is not part of the release plan") from e

    def tags(self, repository: str) -> list[str]:
        return sorted(t for r, t in self._tags if r == repository)

    def repositories(self) -> list[str]:
        return sorted({r for r, _ in self._tags})
