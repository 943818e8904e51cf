"""Names of the OCM signature algorithms and media types: plain enums, importable without any crypto library."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SignatureAlgorithm", "SignatureMediaType", "DEFAULT_SIGNATURE_NAME"]

DEFAULT_SIGNATURE_NAME = "gardenlinux"


class SignatureAlgorithm(StrEnum):
    """RSA signature algorithms OCM knows, by their wire names."""

    RSASSA_PKCS1_V1_5 = "RSASSA-PKCS1-V1_5"
    RSASSA_PSS = "RSASSA-PSS"

    @property
    def media_type(self) -> SignatureMediaType:
        """The media type of a hex-encoded signature made with this algorithm."""
        if self is SignatureAlgorithm.RSASSA_PSS:
            return SignatureMediaType.RSA_PSS
        return SignatureMediaType.RSA


class SignatureMediaType(StrEnum):
    """Media types of `signature.signature.value`."""

    RSA = "application/vnd.ocm.signature.rsa"
    RSA_PSS = "application/vnd.ocm.signature.rsa.pss"
    PEM = "application/x-pem-file"
