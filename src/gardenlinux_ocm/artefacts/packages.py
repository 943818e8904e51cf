"""A flavor's package list (`.manifest`, one `dpkg-query` line `name version` per package) -> (name, version) pairs.

The build writes it; glci publishes it as the `package-versions` and `debianPackages` labels, and so do we. The file
is read whole but bounded (a real list has about 500 lines); every malformed line is reported, with its number.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Package", "read_package_list", "parse_package_list", "MAX_PACKAGE_LIST"]

Package = tuple[str, str]  # (name, version)
MAX_PACKAGE_LIST = 16 << 20
_MAX_REPORTED = 5


def read_package_list(path: Path) -> tuple[tuple[Package, ...], list[str]]:
    """The packages of the file, in file order, and its problems (each naming the file and line); empty lines skip."""
    with path.open("rb") as f:
        data = f.read(min(os.fstat(f.fileno()).st_size, MAX_PACKAGE_LIST) + 1)
    return parse_package_list(data, path.name)


def parse_package_list(data: bytes, name: str) -> tuple[tuple[Package, ...], list[str]]:
    """`read_package_list` on bytes already read (a blob of a published flavor); `name` is shown in problems."""
    if len(data) > MAX_PACKAGE_LIST:
        return (), [f"{name}: larger than {MAX_PACKAGE_LIST >> 20} MiB, not a package list"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return (), [f"{name}: not UTF-8 text (byte {e.start}), not a package list of `name version` lines"]
    packages: list[Package] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            problems.append(f"{name}: line {number}: {line.strip()[:80]!r} is not `name version`")
            continue
        packages.append((fields[0], fields[1]))
    if len(problems) > _MAX_REPORTED:
        problems = [*problems[:_MAX_REPORTED], f"{name}: {len(problems) - _MAX_REPORTED} more malformed lines"]
    return tuple(packages), problems
