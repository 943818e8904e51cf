"""RSA key pairs as PEM files, made fresh for a test run (nothing secret is kept in the repository)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_key_pair"]


def write_key_pair(out: Path) -> tuple[Path, Path]:
    """A 2048-bit RSA key pair in `out`: (`key.pem`, PKCS#8 private key; `key.pub`, PEM public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (out / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (out / "key.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return out / "key.pem", out / "key.pub"
