"""Signers: a PEM key in the process, or a command that holds the key outside it (here openssl in a shell script)."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gardenlinux_ocm.errors import SigningError
from gardenlinux_ocm.ocm.signing import load_public_key, sign_digest, verify_digest
from gardenlinux_ocm.trust.signer import CommandSigner, DigestSigner, KeySigner, SignatureEncoding, Signer, SignerInput
from support.tools import require

PAYLOAD = b'{"critical":{"identity":{"docker-reference":"r/x"},"secret-looking":"PAYLOAD-MARKER"},"optional":null}'


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _verify(public: rsa.RSAPublicKey, signature: bytes, payload: bytes = PAYLOAD) -> None:
    public.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture
def public(key_files: tuple[Path, Path]) -> rsa.RSAPublicKey:
    return load_public_key(key_files[1])


@pytest.fixture
def openssl() -> str:
    return require("openssl")


# -- the key in the process --------------------------------------------------------------------------------------------
def test_key_signer_signs_sha256_of_the_payload(key_files: tuple[Path, Path], public: rsa.RSAPublicKey) -> None:
    signer = KeySigner.from_file(key_files[0])
    assert isinstance(signer, Signer) and isinstance(signer, DigestSigner)
    signature = signer.sign(PAYLOAD)
    _verify(public, signature)
    assert signer.sign_digest(hashlib.sha256(PAYLOAD).digest()) == signature  # PKCS#1 v1.5 is deterministic
    assert str(key_files[0]) in signer.name


def test_key_signer_serves_ocm_digest_signatures(key_files: tuple[Path, Path]) -> None:
    """OCM signs the descriptor digest itself (pre-hashed): `sign_digest` gives the value `ocm.signing` gives."""
    signer = KeySigner.from_file(key_files[0])
    digest_hex = hashlib.sha256(b"normalised descriptor").hexdigest()
    ours = signer.sign_digest(bytes.fromhex(digest_hex))
    private = serialization.load_pem_private_key(key_files[0].read_bytes(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert ours.hex() == sign_digest(private, digest_hex, "RSASSA-PKCS1-V1_5")["value"]
    assert verify_digest(signer.public_key, digest_hex, {"algorithm": "RSASSA-PKCS1-V1_5", "value": ours.hex(),
                                                         "mediaType": "application/vnd.ocm.signature.rsa"})
    with pytest.raises(SigningError, match="32 bytes"):
        signer.sign_digest(b"short")


# -- a command holding the key -----------------------------------------------------------------------------------------
def test_command_signer_with_openssl_dgst(tmp_path: Path, key_files: tuple[Path, Path], public: rsa.RSAPublicKey,
                                          openssl: str) -> None:
    script = _script(tmp_path, "sign", f'exec {openssl} dgst -sha256 -sign "{key_files[0]}"')
    signer = CommandSigner([str(script)], public_key=public)
    _verify(public, signer.sign(PAYLOAD))
    assert signer.name == f"signing command {script}" and not signer.signs_digests
    with pytest.raises(SigningError, match="reads payloads") as excinfo:
        signer.sign_digest(hashlib.sha256(PAYLOAD).digest())
    assert "pkeyutl" in (excinfo.value.hint or "")


def test_command_signer_with_a_digest_command_serves_both(tmp_path: Path, key_files: tuple[Path, Path],
                                                          public: rsa.RSAPublicKey, openssl: str) -> None:
    script = _script(tmp_path, "sign-digest", f'exec {openssl} pkeyutl -sign -inkey "{key_files[0]}" '
                                              "-pkeyopt digest:sha256")
    signer = CommandSigner([str(script)], input=SignerInput.DIGEST, public_key=public)
    signature = signer.sign(PAYLOAD)
    _verify(public, signature)
    digest = hashlib.sha256(b"descriptor").digest()
    public.verify(signer.sign_digest(digest), digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert signer.signs_digests and isinstance(signer, DigestSigner)


def test_command_signer_reads_base64(tmp_path: Path, key_files: tuple[Path, Path], public: rsa.RSAPublicKey,
                                     openssl: str) -> None:
    script = _script(tmp_path, "sign-b64", f'{openssl} dgst -sha256 -sign "{key_files[0]}" | base64')
    _verify(public, CommandSigner([str(script)], encoding=SignatureEncoding.BASE64).sign(PAYLOAD))
    raw = _script(tmp_path, "sign-raw", f'exec {openssl} dgst -sha256 -sign "{key_files[0]}"')
    with pytest.raises(SigningError, match="not base64"):
        CommandSigner([str(raw)], encoding=SignatureEncoding.BASE64).sign(PAYLOAD)


def test_a_command_with_another_key_fails_the_public_key_check(tmp_path: Path, public: rsa.RSAPublicKey,
                                                                openssl: str) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    script = _script(tmp_path, "sign", f'exec {openssl} dgst -sha256 -sign "{other}"')
    assert CommandSigner([str(script)]).sign(PAYLOAD)  # without a key to check against, it goes through
    with pytest.raises(SigningError, match="does not verify with the given public key"):
        CommandSigner([str(script)], public_key=public).sign(PAYLOAD)


def _refused(signer: CommandSigner, *expected: str) -> SigningError:
    with pytest.raises(SigningError) as excinfo:
        signer.sign(PAYLOAD)
    text = str(excinfo.value)
    for e in expected:
        assert e in text, text
    assert "PAYLOAD-MARKER" not in text and "STDOUT-MARKER" not in text and "ENV-MARKER" not in text, text
    assert "\n" not in excinfo.value.message
    return excinfo.value


def test_a_failing_command(tmp_path: Path) -> None:
    script = _script(tmp_path, "fail", "cat >/dev/null; echo STDOUT-MARKER; echo oops >&2; exit 3")
    _refused(CommandSigner([str(script), "--key-id", "k"], env={"TOKEN": "ENV-MARKER"}),
             f"signing command {script} exited with status 3", "nothing was signed")


def test_a_silent_command(tmp_path: Path) -> None:
    _refused(CommandSigner([str(_script(tmp_path, "silent", "cat >/dev/null"))]), "printed no signature")


def test_a_command_that_prints_too_much(tmp_path: Path) -> None:
    script = _script(tmp_path, "chatty", "while :; do echo STDOUT-MARKER; done")
    _refused(CommandSigner([str(script)], max_output=4096), "more than 4096 bytes")


def test_a_hanging_command_is_stopped_in_time(tmp_path: Path) -> None:
    """It and the children it started are killed: `sleep` would otherwise hold stdout open for a minute."""
    marker = tmp_path / "pid"
    script = _script(tmp_path, "hang", f'sleep 60 & echo $! > "{marker}"; wait')
    start = time.monotonic()
    _refused(CommandSigner([str(script)], timeout=1.0), "did not finish within 1 s")
    assert time.monotonic() - start < 8
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_child_left_holding_stdout_is_stopped_too(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    script = _script(tmp_path, "orphan", f'sleep 60 & echo $! > "{marker}"; exit 0')
    _refused(CommandSigner([str(script)], timeout=1.0), "did not finish within 1 s")
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is dead


def test_a_command_that_is_not_there(tmp_path: Path) -> None:
    _refused(CommandSigner([str(tmp_path / "missing")]), "cannot run signing command", "missing")
    not_executable = tmp_path / "plain"
    not_executable.write_text("echo")
    _refused(CommandSigner([str(not_executable)]), "cannot run signing command")


def test_a_command_that_exits_without_reading_stdin(tmp_path: Path) -> None:
    """The input is written from a thread; a command that ignores it (a KMS call taking a file) is no error."""
    script = _script(tmp_path, "ignore", "printf sig")
    assert CommandSigner([str(script)]).sign(PAYLOAD * 2000) == b"sig"


@pytest.mark.parametrize("argv", [[], [""]])
def test_an_empty_command_is_refused(argv: list[str]) -> None:
    with pytest.raises(SigningError, match="empty"):
        CommandSigner(argv)
