"""`gl-ocm download` from a real registry: the same files as `oras pull`, and flat memory for a 256 MiB file.

The peak RSS is that of the download process alone: a small launcher starts it and reads its rusage (`os.wait4`),
because a child forked straight from pytest would count pytest's resident pages as its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from support.consumers import oras
from support.registry import RegistryServer
from support.release import VERSION, publish_args
from support.tools import go_tool

pytestmark = pytest.mark.registry
runner = CliRunner()
FLAVOR = "aws-gardener_prod-amd64"
TAG = f"{VERSION}-{FLAVOR}"
BIG = 256 << 20
PEAK_RSS_LIMIT = 150 << 20
# Runs argv[1:] and prints its exit code and peak RSS in KiB: the child is forked from this small process.
_LAUNCHER = ("import os, subprocess, sys\n"
             "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
             "_, status, usage = os.wait4(child.pid, 0)\n"
             "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_download_and_oras_pull_give_the_same_files(registry: RegistryServer, samples: Path, tmp_path: Path) -> None:
    base = f"{registry.host}/download-oras"
    _cli(*publish_args(samples, base, "--flavor", FLAVOR))
    ours, theirs = tmp_path / "gl-ocm", tmp_path / "oras"
    report = json.loads(_cli("download", base, VERSION, "--flavor", FLAVOR, "-o", str(ours), "--output", "json"))
    assert {f["status"] for f in report["files"]} == {"written"}
    oras(go_tool("oras"), "pull", "--plain-http", f"{base}/gardenlinux:{TAG}", "-o", str(theirs))
    assert _tree(ours) == _tree(theirs)
    assert sorted(_tree(ours)) == sorted(p.name for p in samples.glob(f"{FLAVOR}-{VERSION}-*"))
    again = json.loads(_cli("download", base, VERSION, "--flavor", FLAVOR, "-o", str(ours), "--output", "json"))
    assert {f["status"] for f in again["files"]} == {"unchanged"}


def test_a_256_mib_file_downloads_in_bounded_memory(registry: RegistryServer, samples: Path, tmp_path: Path) -> None:
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    for path in samples.glob(f"{FLAVOR}-{VERSION}-*"):
        shutil.copy(path, artefacts / path.name)
    [image] = artefacts.glob("*.raw")
    block = os.urandom(1 << 20)
    with image.open("wb") as f:
        for i in range(BIG >> 20):
            f.write(i.to_bytes(8, "big") + block[8:])  # every MiB differs
    with image.open("rb") as f:
        expected = hashlib.file_digest(f, "sha256").hexdigest()
    base = f"{registry.host}/download-big"
    _cli(*publish_args(artefacts, base, "--flavor", FLAVOR))

    out = tmp_path / "out"
    command = [sys.executable, "-m", "gardenlinux_ocm", "download", base, VERSION, "--flavor", FLAVOR,
               "--role", "raw", "-o", str(out)]
    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True,
                              timeout=600, check=True)
    code, peak_kib = (int(word) for word in launched.stdout.split())
    assert code == 0, launched.stderr
    with (out / image.name).open("rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == expected
    assert peak_kib << 10 < PEAK_RSS_LIMIT, f"peak RSS {peak_kib >> 10} MiB for a {BIG >> 20} MiB file"
