"""Names of the OCM signature algorithms and media types: plain enums, importable without any crypto library."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SignatureAlgorithm", "SignatureMediaType", "DEFAULT_SIGNATURE_NAME", "ALGORITHM_HELP", "PSS_WARNING"]

DEFAULT_SIGNATURE_NAME = "gardenlinux"
ALGORITHM_HELP = ("RSASSA-PKCS1-V1_5 (the OCM CLI default; every OCM client verifies it) or RSASSA-PSS (OCM v1 "
                  "cannot verify it: it refuses the media type application/vnd.ocm.signature.rsa.pss).")
PSS_WARNING = ("warning: an RSASSA-PSS signature cannot be verified by the OCM v1 CLI (ocm verify refuses "
               "application/vnd.ocm.signature.rsa.pss, its own PSS signatures included); gl-ocm, gardener-ocm and "
               "the OCM v2 CLI verify it. Keep the default RSASSA-PKCS1-V1_5 where OCM v1 verifies.")


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
