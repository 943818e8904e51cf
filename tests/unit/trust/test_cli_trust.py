"""`gl-ocm verify` and `gl-ocm sign` as a person runs them: 80 columns, short output, whole digests, exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gardenlinux_ocm.oci.layout import REF_NAME
from gardenlinux_ocm.trust.model import CheckKind
from support.release import VERSION

RELEASE = "github.com/gardenlinux/gardenlinux"
FLAVOR = f"{VERSION}-aws-gardener_prod-amd64"
_STATUS = ("ok", "FAILED", "skipped")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def layout(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "oci")
    return tmp_path / "oci"


def _gl_ocm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process at 80 columns, as a terminal user would see it (without colours)."""
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("LINES", None)
    return subprocess.run([sys.executable, "-m", "gardenlinux_ocm", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def _assert_readable(text: str) -> None:
    """No line wider than 80 columns; every digest whole (64 hex digits) or shortened on purpose (ending in …)."""
    assert max(len(line) for line in text.splitlines()) <= 80
    digests = list(re.finditer(r"sha256:([0-9a-f]*)(…?)", text))
    broken = [m.group(0) for m in digests if len(m.group(1)) != 64 and not (m.group(2) and len(m.group(1)) >= 8)]
    assert not broken, broken


def _write_key(path: Path, key: rsa.RSAPrivateKey, password: bytes | None = None) -> Path:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


def test_a_clean_release_prints_a_short_summary(published: Path) -> None:
    result = _gl_ocm("verify", f"oci-layout:{published}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 40, result.stdout
    assert lines[0].startswith(f"{RELEASE}:{VERSION} on oci-layout:")
    kinds = [kind for kind in CheckKind if re.search(rf"│ {kind.value} +│ +\d+ │ +0 │", result.stdout)]
    assert kinds == [CheckKind.COMPONENT, CheckKind.SCHEMA, CheckKind.REFERENCE, CheckKind.RESOURCE,
                     CheckKind.INDEX, CheckKind.SIZE, CheckKind.REFERRER]
    assert re.fullmatch(r"verified: \d+ checks passed, 3 skipped", lines[-1])
    assert not any(line.startswith(_STATUS) for line in lines)  # no check is listed when all pass
    _assert_readable(result.stdout)


def test_show_all_lists_every_check_with_whole_digests(published: Path) -> None:
    report = json.loads(_gl_ocm("verify", f"oci-layout:{published}", "--output", "json").stdout)
    assert set(report) == {"target", "component", "version", "deep", "ok", "checks"}  # the JSON shape is kept
    assert {tuple(c) for c in report["checks"]} == {("kind", "component", "subject", "status", "detail")}
    result = _gl_ocm("verify", f"oci-layout:{published}", "--show", "all")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(_STATUS)]
    assert [(row.split()[0], row.split()[1]) for row in rows] == [
        ({"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[c["status"]], c["kind"]) for c in report["checks"]]
    assert "sha256:" in result.stdout
    _assert_readable(result.stdout)


def test_failures_are_printed_in_full_at_80_columns(layout: Path) -> None:
    index = json.loads((layout / "gardenlinux" / "index.json").read_bytes())
    [manifest] = [m["digest"] for m in index["manifests"] if m["annotations"][REF_NAME] == FLAVOR]
    layers = json.loads((layout / "gardenlinux" / "blobs" / "sha256" / manifest[7:]).read_bytes())["layers"]
    blob = layout / "gardenlinux" / "blobs" / "sha256" / layers[0]["digest"][7:]
    blob.write_bytes(b"short")
    result = _gl_ocm("verify", f"oci-layout:{layout}")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) < 40
    assert "3 failed check(s):" in result.stdout  # the file's resource, its flavor manifest, the release index
    assert len([line for line in result.stdout.splitlines() if layers[0]["digest"] in line]) == 3
    assert " ".join(result.stdout.split()).count(f"is 5 bytes, its descriptor says {layers[0]['size']}") == 2
    assert " ".join(result.stdout.split()).count(f"is 5 bytes, the access says {layers[0]['size']}") == 1
    assert re.fullmatch(r"verification failed: 3 of \d+ checks failed", result.stdout.splitlines()[-1])
    _assert_readable(result.stdout)


def test_sign_output_at_80_columns(layout: Path, key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    result = _gl_ocm("sign", f"oci-layout:{layout}", f"{RELEASE}:{VERSION}", "--private-key",
                     str(_write_key(tmp_path / "key.pem", key)))
    assert result.returncode == 0, result.stderr
    assert f"  {RELEASE}/container-images:{VERSION}" in result.stdout.splitlines()
    assert result.stdout.count(" -> sha256:") == 2
    _assert_readable(result.stdout)


def test_a_private_key_given_as_public_key_is_refused(published: Path, key: rsa.RSAPrivateKey,
                                                      tmp_path: Path) -> None:
    result = _gl_ocm("verify", f"oci-layout:{published}", "--public-key", str(_write_key(tmp_path / "k.pem", key)))
    assert result.returncode == 2
    assert "holds a private key, not a public key or certificate" in result.stderr
    assert "openssl pkey -in KEY -pubout" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_encrypted_key_without_password_names_the_option(published: Path, key: rsa.RSAPrivateKey,
                                                           tmp_path: Path) -> None:
    encrypted = _write_key(tmp_path / "enc.pem", key, b"secret")
    result = _gl_ocm("sign", f"oci-layout:{published}", f"{RELEASE}:{VERSION}", "--private-key", str(encrypted))
    assert result.returncode == 2
    assert "is encrypted and no password was given" in result.stderr and "--key-password-file" in result.stderr
    wrong = tmp_path / "password"
    wrong.write_text("guess\n")
    result = _gl_ocm("sign", f"oci-layout:{published}", f"{RELEASE}:{VERSION}", "--private-key", str(encrypted),
                     "--key-password-file", str(wrong))
    assert result.returncode == 2 and "wrong password" in result.stderr and "--key-password-file" in result.stderr


def test_verbose_adds_the_traceback_and_keeps_exit_code_2(published: Path, key: rsa.RSAPrivateKey,
                                                         tmp_path: Path) -> None:
    private = _write_key(tmp_path / "k.pem", key)
    result = _gl_ocm("--verbose", "verify", f"oci-layout:{published}", "--public-key", str(private))
    assert result.returncode == 2, result.stderr
    assert "Traceback" in result.stderr and "holds a private key" in result.stderr
