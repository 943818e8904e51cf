"""The repository stands alone: tests, benchmarks and build files read nothing outside it."""

from __future__ import annotations

import hashlib
import re
import subprocess

from support.release import DATA, REPO

# A path leaving the checkout: the sibling shared folder, a parent of the repository, or an absolute home.
# (Relative `../x` strings stay allowed: the tests use them as hostile input.)
OUTSIDE = re.compile(r"""\.\./shared|REPO\.parent|/\s*["']shared["']|["']/(work|home|root)/""")


def _tracked(*paths: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_nothing_reads_outside_the_repository() -> None:
    files = [f for f in _tracked("tests", "bench", "tools", "Makefile", ".ci") if not f.startswith("tests/data/")]
    assert files, "git ls-files found nothing: not a checkout?"
    hits = []
    for name in files:
        text = (REPO / name).read_text(encoding="utf-8", errors="replace")
        hits += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert hits == []


def test_every_oracle_is_listed_with_its_digest() -> None:
    """tests/data/ocm/README.md names each oracle's source; its SHA-256 list must match the files byte for byte."""
    root = DATA / "ocm"
    readme = (root / "README.md").read_text(encoding="utf-8")
    listed = dict((m.group(2), m.group(1)) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE))
    present = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p != root / "README.md"
    }
    assert listed == present
