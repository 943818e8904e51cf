"""Signers: who makes an RSASSA-PKCS1-v1_5 / SHA-256 signature, so that the private key may live in a KMS or an HSM.

`Signer.sign(payload)` signs SHA-256(payload): cosign's simple-signing payloads. `DigestSigner.sign_digest(digest)`
signs a SHA-256 digest computed by the caller: the same signature for `sha256(payload)`, and the primitive OCM
signs a normalised descriptor's digest with (`ocm.signing.sign_digest`), which a payload signer cannot serve.

- `KeySigner`: a PEM private key in this process (read by `ocm.signing.load_private_key`); both methods.
- `CommandSigner`: an external program, run without a shell, that gets the payload (`SignerInput.PAYLOAD`, e.g.
  `openssl dgst -sha256 -sign KEY`) or the 32-byte digest (`SignerInput.DIGEST`, e.g. `openssl pkeyutl -sign
  -inkey KEY -pkeyopt digest:sha256`, a KMS's "sign digest" call) on stdin and prints the signature on stdout, raw
  or base64. It runs within a time limit and may print at most `max_output` bytes; the first `MAX_STDERR` bytes
  of its stderr go to ours as they come (a prompt to touch a token stays visible), the rest is read and dropped,
  so an endless stderr neither floods the terminal nor blocks the command. Errors name the command (argv[0]) and
  never show what went in or came out.

Given a public key, each signature is checked right after it is made, so a signer holding another key (or using
another algorithm) fails at once instead of publishing signatures nobody can verify.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..errors import SigningError
from ..ocm.signing import load_private_key

__all__ = ["Signer", "DigestSigner", "KeySigner", "CommandSigner", "SignerInput", "SignatureEncoding"]

_DIGEST_SIZE = 32  # SHA-256
MAX_STDERR = 4 << 10
_READ = 1 << 16
_COMMAND_HINT = ("run the command by hand with a payload on stdin: it must exit 0 and print only the "
                 "RSASSA-PKCS1-v1_5 SHA-256 signature")


@runtime_checkable
class Signer(Protocol):
    """Makes RSASSA-PKCS1-v1_5 signatures over SHA-256(payload)."""

    @property
    def name(self) -> str:
        """How the signer is named in messages (never with key material)."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """The raw signature over SHA-256(payload). Raises `SigningError`."""
        ...


@runtime_checkable
class DigestSigner(Signer, Protocol):
    """A signer that also signs a digest the caller computed (what OCM descriptor signatures need)."""

    def sign_digest(self, digest: bytes) -> bytes:
        """The raw RSASSA-PKCS1-v1_5 signature for a 32-byte SHA-256 digest. Raises `SigningError`."""
        ...


class SignerInput(StrEnum):
    PAYLOAD = "payload"  # stdin gets the payload; the command hashes it
    DIGEST = "digest"  # stdin gets the 32 raw bytes of SHA-256(payload)


class SignatureEncoding(StrEnum):
    RAW = "raw"
    BASE64 = "base64"  # what KMS command-line clients print (`aws kms sign ... --output text`)


class KeySigner:
    """Signs with an RSA private key held in this process."""

    def __init__(self, private_key: rsa.RSAPrivateKey, *, name: str = "private key") -> None:
        self._key = private_key
        self._name = name

    @classmethod
    def from_file(cls, path: Path, password: bytes | None = None) -> KeySigner:
        """Read a PEM RSA private key (PKCS#1 or PKCS#8, optionally encrypted)."""
        return cls(load_private_key(path, password), name=f"private key {path}")

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The key itself, for the signature algorithms only an in-process key offers (RSASSA-PSS)."""
        return self._key

    def sign(self, payload: bytes) -> bytes:
        return self._key.sign(payload, padding.PKCS1v15(), hashes.SHA256())

    def sign_digest(self, digest: bytes) -> bytes:
        _check_digest(digest)
        return self._key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


class CommandSigner:
    """Signs by running an external command: input on stdin, signature on stdout, within `timeout` seconds."""

    def __init__(self, argv: Sequence[str], *, input: SignerInput = SignerInput.PAYLOAD,  # noqa: A002 - the mode
                 encoding: SignatureEncoding = SignatureEncoding.RAW, timeout: float = 60.0,
                 max_output: int = 16 << 10, public_key: rsa.RSAPublicKey | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        if not argv or not argv[0]:
            raise SigningError("the signing command is empty", hint="give the program and its arguments")
        if timeout <= 0 or max_output <= 0:
            raise SigningError("the signing command's timeout and output limit must be positive")
        self._argv = tuple(argv)
        self._input = SignerInput(input)
        self._encoding = SignatureEncoding(encoding)
        self._timeout = timeout
        self._max_output = max_output
        self._public_key = public_key
        self._env = dict(env) if env is not None else None

    @property
    def name(self) -> str:
        return f"signing command {self._argv[0]}"

    @property
    def signs_digests(self) -> bool:
        """Whether `sign_digest` works: the command reads digests (`SignerInput.DIGEST`)."""
        return self._input is SignerInput.DIGEST

    def sign(self, payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        signature = self._run(payload if self._input is SignerInput.PAYLOAD else digest)
        self._check(signature, digest)
        return signature

    def sign_digest(self, digest: bytes) -> bytes:
        _check_digest(digest)
        if self._input is not SignerInput.DIGEST:
            raise SigningError(
                f"{self.name} reads payloads, so it cannot sign a digest computed beforehand (as OCM signatures need)",
                hint="use a command that signs a SHA-256 digest given on stdin, e.g. "
                     "`openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256`, with the digest input mode")
        signature = self._run(digest)
        self._check(signature, digest)
        return signature

    # -- internals ---------------------------------------------------------------------------------------------------

    def _run(self, data: bytes) -> bytes:
        try:
            proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self._env,
                                    start_new_session=True)  # its own group: killed as a whole
        except OSError as e:
            raise SigningError(f"cannot run {self.name}: {e.strerror or type(e).__name__}",
                               hint="check the program's path and that it is executable") from None
        try:
            output = self._collect(proc, data)
        finally:
            _kill(proc)
        return self._decode(output)

    def _collect(self, proc: subprocess.Popen[bytes], data: bytes) -> bytes:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        writer = threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True)
        writer.start()
        deadline = time.monotonic() + self._timeout
        chunks: list[bytes] = []
        total = 0
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
        forwarded = 0
        with selectors.DefaultSelector() as selector:
            selector.register(out, selectors.EVENT_READ)
            selector.register(err, selectors.EVENT_READ)
            open_fds = {out, err}
            while out in open_fds:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out()
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fd, _READ)
                    if not chunk:
                        selector.unregister(key.fd)
                        open_fds.discard(key.fd)
                    elif key.fd == err:
                        forwarded = _forward(chunk, forwarded)
                    else:
                        total += len(chunk)
                        if total > self._max_output:
                            raise SigningError(f"{self.name} printed more than {self._max_output} bytes; a "
                                               "signature is a few hundred, so nothing was signed",
                                               hint=_COMMAND_HINT)
                        chunks.append(chunk)
        try:
            code = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            raise self._timed_out() from None
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise SigningError(f"{self.name} {how}; nothing was signed", hint=_COMMAND_HINT)
        return b"".join(chunks)

    def _timed_out(self) -> SigningError:
        return SigningError(f"{self.name} did not finish within {self._timeout:g} s and was stopped; nothing was "
                            "signed", hint="check that the command reads stdin to its end and does not wait for "
                                           "a prompt (a password, a touch of the token)")

    def _decode(self, output: bytes) -> bytes:
        if self._encoding is SignatureEncoding.BASE64:
            try:
                output = base64.b64decode(b"".join(output.split()), validate=True)
            except binascii.Error:
                raise SigningError(f"{self.name} printed something that is not base64; nothing was signed",
                                   hint="drop the base64 encoding option if the command prints raw bytes") from None
        if not output:
            raise SigningError(f"{self.name} exited 0 but printed no signature; nothing was signed",
                               hint=_COMMAND_HINT)
        return output

    def _check(self, signature: bytes, digest: bytes) -> None:
        if self._public_key is None:
            return
        try:
            self._public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except InvalidSignature:
            raise SigningError(
                f"the signature made by {self.name} does not verify with the given public key: the command signs "
                "with another key, or not with RSASSA-PKCS1-v1_5 over SHA-256; nothing was signed",
                hint="give the public key of the key the command uses, and check its input mode (payload or "
                     "digest)") from None


def _forward(chunk: bytes, forwarded: int) -> int:
    """Pass the signer's stderr on to ours up to `MAX_STDERR` bytes in all; returns how many bytes went so far."""
    room = MAX_STDERR - forwarded
    if room > 0:
        text = chunk[:room] + (b"\n[further output of the signing command dropped]\n" if len(chunk) > room else b"")
        binary = getattr(sys.stderr, "buffer", None)
        with contextlib.suppress(OSError, ValueError):
            if binary is not None:
                binary.write(text)
                binary.flush()
            else:  # a text-only stream (a test runner's)
                sys.stderr.write(text.decode("utf-8", "replace"))
    return forwarded + len(chunk)


def _feed(stdin: IO[bytes], data: bytes) -> None:
    """Write the input and close stdin; a command that exits without reading it is no error here."""
    with contextlib.suppress(OSError):  # BrokenPipeError included
        stdin.write(data)
    with contextlib.suppress(OSError):
        stdin.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the command and the children it started (its process group) while it still runs, then reap it.

    Only a group whose leader has not been reaped yet is signalled (a zombie keeps its id), so the id cannot have
    been reused; children that outlived the leader while holding stdout are stopped with it.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _check_digest(digest: bytes) -> None:
    if len(digest) != _DIGEST_SIZE:
        raise SigningError(f"a SHA-256 digest has {_DIGEST_SIZE} bytes, not {len(digest)}")
