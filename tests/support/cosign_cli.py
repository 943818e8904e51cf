"""The pinned cosign CLI (`make tools`) with a HOME and TUF root of its own, keys imported into its format."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .tools import go_tool

__all__ = ["Cosign"]

_COSIGN_TIMEOUT = 120


class Cosign:
    """The pinned cosign binary with a private HOME; keys imported into cosign's format on demand."""

    def __init__(self, home: Path) -> None:
        self.binary = go_tool("cosign")
        self.home = home
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TUF_ROOT": str(home / "tuf"),
                    "COSIGN_PASSWORD": "test", "COSIGN_YES": "true"}

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, cwd=self.home,
                              env={**self.env, **(env or {})}, timeout=_COSIGN_TIMEOUT)

    def verify(self, reference: str, public_key: Path) -> subprocess.CompletedProcess[str]:
        return self.run("verify", "--key", str(public_key), "--insecure-ignore-tlog=true", reference)

    def imported(self, private_key: Path) -> Path:
        """cosign's `--key` takes only its own encrypted format: import the PEM key once."""
        prefix = self.home / ("import-" + private_key.parent.name)
        if not prefix.with_suffix(".key").exists():
            result = self.run("import-key-pair", "--key", str(private_key), "--output-key-prefix", str(prefix))
            assert result.returncode == 0, result.stderr
        return prefix.with_suffix(".key")

    def sign(self, reference: str, private_key: Path, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run("sign", "--tlog-upload=false", "--key", str(self.imported(private_key)), *extra, reference,
                          env=env)
        assert result.returncode == 0, result.stderr
        return result
