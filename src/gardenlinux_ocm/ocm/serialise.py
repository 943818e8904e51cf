"""Canonical bytes of component descriptors (pure): YAML, JSON and the descriptor tar of OCM's OCI mapping."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["descriptor_yaml", "descriptor_tar", "read_descriptor_tar", "DESCRIPTOR_FILE"]

DESCRIPTOR_FILE = "component-descriptor.yaml"
# OCM Go writes descriptor tars with this fixed mtime (accessobj.ModTime); we do the same for identical bytes.
_OCM_MTIME = 1640995200  # 2022-01-01T00:00:00Z
_BLOCK = 512


# libyaml's emitter writes the same bytes as PyYAML's own (tests/unit/ocm checks both), five times as fast.
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):  # type: ignore[valid-type,misc]  # a class chosen at import time
    """Block-style YAML with sorted keys and no aliases: stable bytes for the same descriptor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def descriptor_yaml(descriptor: Mapping[str, Any]) -> bytes:
    return yaml.dump(
        dict(descriptor), Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096
    ).encode("utf-8")


def descriptor_tar(descriptor_bytes: bytes) -> bytes:
    """A USTAR archive with one `component-descriptor.yaml`, laid out as OCM Go writes it (no record padding)."""
    info = tarfile.TarInfo(DESCRIPTOR_FILE)
    info.size = len(descriptor_bytes)
    info.mtime = _OCM_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    header = info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")
    padding = (-len(descriptor_bytes)) % _BLOCK
    return header + descriptor_bytes + b"\0" * padding + b"\0" * (2 * _BLOCK)


def read_descriptor_tar(data: bytes) -> bytes:
    """The YAML of the descriptor entry of a descriptor tar (a leading `/` or `./` is ignored, as OCM does)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == DESCRIPTOR_FILE and member.isfile():
                f = tar.extractfile(member)
                if f is not None:
                    return f.read()
    raise ValueError(f"no {DESCRIPTOR_FILE} in the descriptor layer")
