"""gardenlinux-update's selection and signature check, step for step, over plain HTTP (requests).

Follows gardenlinux/package-gardenlinux-update:src/main.go (the version with `--verification-key`, default
`/etc/gardenlinux/oci_signing_key.pem`) and src/types.go:

1. `getCname`: `GARDENLINUX_CNAME` from os-release with the suffix `-<GARDENLINUX_VERSION>` trimmed.
2. `getManifestDigestByCname`: resolve the tag (the version asked for) to the index; the first entry of `manifests`
   whose `annotations.cname` starts with that cname (an entry without annotations has cname "" and never matches);
   none is an error. `types.go` reads the entry's `platform."os.version"` too (main.go only parses it; we return it).
3. `verifyManifest`: fetch the manifest tagged `sha256-<hex>.sig`; take **only `layers[0]`**; base64-decode its
   `dev.cosignproject.cosign/signature` annotation; fetch the blob named by the layer digest (the signed message);
   its `critical.image.docker-manifest-digest` must equal the manifest digest; SHA-256 of the message must equal
   the layer digest; `rsa.VerifyPKCS1v15(key, SHA256, hash, signature)` with the first PEM block of the key file
   parsed as PKIX (`x509.ParsePKIXPublicKey`).
4. `getLayerByMediaType`: the first layer of the flavor manifest with media type `application/io.gardenlinux.uki`;
   none, an empty digest or size 0 is an error.

oras-go's `Repository.Resolve`/`Fetch` are HEAD/GET `/v2/<repo>/manifests/<ref>` with the manifest media types in
`Accept`, and check the fetched bytes against the descriptor; `Blobs().Resolve`/`Fetch` do the same for blobs. The
exit codes of main.go are kept on `UpdateRefused.code`: 2 system failure (wrong signature, no layer), 3 network
(anything not found).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

__all__ = ["ERR_SYSTEM_FAILURE", "ERR_NETWORK_PROBLEMS", "UKI_MEDIA_TYPE", "Update", "UpdateRefused", "cname_of",
           "select_update"]

ERR_INVALID_ARGUMENTS, ERR_SYSTEM_FAILURE, ERR_NETWORK_PROBLEMS = 1, 2, 3
UKI_MEDIA_TYPE = "application/io.gardenlinux.uki"
_ACCEPT = ", ".join([  # oras-go's defaultManifestMediaTypes
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.artifact.manifest.v1+json",
])
_TIMEOUT = 30.0
_PEM_BLOCK = re.compile(rb"-----BEGIN [^-]*-----\r?\n(.*?)-----END [^-]*-----", re.DOTALL)


class UpdateRefused(Exception):
    """gardenlinux-update would exit with `code` (and this message) instead of installing the UKI."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    cname: str  # of the index entry picked
    manifest_digest: str
    os_version: str
    uki_digest: str
    uki_size: int


def _parse_os_release(data: str) -> dict[str, str]:
    """main.go `parseOsRelease`: KEY=VALUE lines, `"` then `'` trimmed from both ends of the value."""
    result = {}
    for line in data.split("\n"):
        if line == "" or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        result[key] = value.strip('"').strip("'")
    return result


def cname_of(os_release: str) -> tuple[str, str]:
    """main.go `getCname`: (cname without `-<version>`, version)."""
    fields = _parse_os_release(os_release)
    if "GARDENLINUX_VERSION" not in fields:
        raise UpdateRefused(ERR_INVALID_ARGUMENTS, "GARDENLINUX_VERSION missing from os-release")
    if "GARDENLINUX_CNAME" not in fields:
        raise UpdateRefused(ERR_INVALID_ARGUMENTS, "GARDENLINUX_CNAME missing from os-release")
    version, cname = fields["GARDENLINUX_VERSION"], fields["GARDENLINUX_CNAME"]
    suffix = "-" + version
    return (cname[: -len(suffix)] if cname.endswith(suffix) else cname), version


class _Repository:
    """The two oras-go calls main.go makes, over plain HTTP without auth (a loopback test registry)."""

    def __init__(self, base_url: str, repository: str) -> None:
        self._url = f"{base_url.rstrip('/')}/v2/{repository}"
        self._session = requests.Session()
        self._session.trust_env = False

    def manifest(self, reference: str) -> bytes:
        head = self._session.head(f"{self._url}/manifests/{reference}", headers={"Accept": _ACCEPT},
                                  timeout=_TIMEOUT)
        if head.status_code != 200:
            raise UpdateRefused(ERR_NETWORK_PROBLEMS, f"{reference}: HEAD manifest answered {head.status_code}")
        digest = head.headers["Docker-Content-Digest"]
        body = self._session.get(f"{self._url}/manifests/{digest}", headers={"Accept": _ACCEPT}, timeout=_TIMEOUT)
        return self._checked(body, digest, int(head.headers.get("Content-Length", len(body.content))))

    def blob(self, digest: str) -> bytes:
        head = self._session.head(f"{self._url}/blobs/{digest}", timeout=_TIMEOUT)
        if head.status_code != 200:
            raise UpdateRefused(ERR_NETWORK_PROBLEMS, f"{digest}: HEAD blob answered {head.status_code}")
        body = self._session.get(f"{self._url}/blobs/{digest}", timeout=_TIMEOUT)
        return self._checked(body, digest, int(head.headers["Content-Length"]))

    @staticmethod
    def _checked(response: requests.Response, digest: str, size: int) -> bytes:
        if response.status_code != 200:
            raise UpdateRefused(ERR_NETWORK_PROBLEMS, f"{digest}: GET answered {response.status_code}")
        data = response.content
        if len(data) != size or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise UpdateRefused(ERR_NETWORK_PROBLEMS, f"{digest}: content does not match its descriptor")
        return data


def _manifest_digest_by_cname(repo: _Repository, tag: str, cname: str) -> tuple[str, str, str]:
    index: dict[str, Any] = json.loads(repo.manifest(tag))
    for entry in index.get("manifests") or []:
        entry_cname = str((entry.get("annotations") or {}).get("cname", ""))
        if entry_cname.startswith(cname):
            return str(entry["digest"]), entry_cname, str((entry.get("platform") or {}).get("os.version", ""))
    raise UpdateRefused(ERR_NETWORK_PROBLEMS, "no manifest found for cname " + cname)


def _verify_manifest(repo: _Repository, digest: str, key_pem: bytes) -> None:
    signature_tag = digest.replace("sha256:", "sha256-", 1) + ".sig"
    signature_manifest = json.loads(repo.manifest(signature_tag))
    if not signature_manifest.get("layers"):
        raise UpdateRefused(ERR_SYSTEM_FAILURE, "panic: index out of range [0] with length 0")  # Go exits 2
    layer = signature_manifest["layers"][0]  # the first signature only, as main.go does
    try:
        signature = base64.b64decode(str((layer.get("annotations") or {}).get(
            "dev.cosignproject.cosign/signature", "")), validate=True)
        message_hash_from_manifest = bytes.fromhex(str(layer["digest"]).removeprefix("sha256:"))
    except (binascii.Error, ValueError) as e:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, f"Error: {e}") from e
    message = repo.blob(str(layer["digest"]))
    try:
        signed_digest = json.loads(message)["critical"]["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError) as e:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, f"Error unmarshalling signature message: {e}") from e
    if digest != signed_digest:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, f"Error during signature verification, the digest of the manifest "
                                                f"to be verified {digest} is not equal to the digest that is in the "
                                                f"signed message {signed_digest}")
    local_hash = hashlib.sha256(message).digest()
    if local_hash != message_hash_from_manifest:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, "Error: the locally computed digest of the signed message does not "
                                                "match the digest from the signature manifest")
    public_key = _verification_key(key_pem)
    try:
        public_key.verify(signature, local_hash, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, "Invalid signature: crypto/rsa: verification error") from None


def _verification_key(key_pem: bytes) -> rsa.RSAPublicKey:
    """`pem.Decode` (the first block, whatever its label) then `x509.ParsePKIXPublicKey`, asserted to be RSA."""
    match = _PEM_BLOCK.search(key_pem)
    if match is None:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, "Error decoding pemdata.")
    try:
        key = serialization.load_der_public_key(base64.b64decode(b"".join(match.group(1).split()), validate=True))
    except (binascii.Error, ValueError) as e:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, f"Error parsing key: {e}") from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise UpdateRefused(ERR_SYSTEM_FAILURE, "panic: interface conversion: not an *rsa.PublicKey")
    return key


def _layer_by_media_type(repo: _Repository, digest: str, media_type: str) -> tuple[str, int]:
    manifest = json.loads(repo.manifest(digest))
    for layer in manifest.get("layers") or []:
        if layer.get("mediaType") == media_type:
            return str(layer.get("digest", "")), int(layer.get("size", 0))
    raise UpdateRefused(ERR_NETWORK_PROBLEMS, "no layer found for media type " + media_type)


def select_update(base_url: str, repository: str, version: str, os_release: str, key_pem: bytes,
                  media_type: str = UKI_MEDIA_TYPE) -> Update:
    """main.go `main` up to the download: pick the flavor, verify its signature, pick the UKI layer.

    Raises `UpdateRefused` wherever gardenlinux-update exits non-zero.
    """
    cname, _current = cname_of(os_release)
    repo = _Repository(base_url, repository)
    digest, entry_cname, os_version = _manifest_digest_by_cname(repo, version, cname)
    _verify_manifest(repo, digest, key_pem)
    layer, size = _layer_by_media_type(repo, digest, media_type)
    if layer == "" or size == 0:
        raise UpdateRefused(ERR_SYSTEM_FAILURE, f"No layer found for {cname} version: {version} and mediatype"
                                                f"{media_type}")
    return Update(cname=entry_cname, manifest_digest=digest, os_version=os_version, uki_digest=layer, uki_size=size)
