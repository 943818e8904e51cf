"""Option declarations shared by every `gl-ocm` command (one spelling, one help text)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..oci.copy.changes import OnChange
from ..ocm.access import LOCAL_BASE, AccessMode

__all__ = [
    "RenderFormat",
    "OutputFormat",
    "ComponentsOpt",
    "OutputOpt",
    "JobsOpt",
    "UserOpt",
    "PwStdinOpt",
    "PlainOpt",
    "CaOpt",
    "InsecureOpt",
    "OnChangeOpt",
    "VersionArg",
    "ArtefactsOpt",
    "AccessOpt",
    "ReferenceBaseOpt",
    "OcmRepositoryOpt",
    "DigestCacheOpt",
    "SignerCommandOpt",
    "SignerOutput",
    "SignerOutputOpt",
    "SignerPublicKeyOpt",
]


class RenderFormat(StrEnum):
    YAML = "yaml"
    JSON = "json"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


ComponentsOpt = Annotated[
    Path,
    typer.Option(
        "--components", "-c", metavar="DIR", help="Directory of the component specs.", envvar="GL_OCM_COMPONENTS"
    ),
]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", help="table for people, json for machines.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N", help="Parallel transfers.")]
UserOpt = Annotated[
    str | None, typer.Option("--username", metavar="USER", help="Registry user; the password is read from stdin.")
]
PwStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")]
PlainOpt = Annotated[
    bool | None,
    typer.Option("--plain-http/--no-plain-http", help="Force plain HTTP (default: only for loopback registries)."),
]
CaOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-file", exists=True, dir_okay=False, metavar="FILE", help="PEM bundle of CAs to trust for the registry."
    ),
]
def _release_version(value: str) -> str:
    """A VERSION argument is checked while the command line is parsed: bad input is exit 2 before any I/O."""
    from ..spec.version import check_version
    from .common import guard

    return guard(lambda: check_version(value, what="VERSION"))


def version_option(value: str | None) -> str | None:
    """A `--version` option checked while the command line is parsed, as a VERSION argument is."""
    from ..spec.version import check_version
    from .common import guard

    return None if value is None else guard(lambda: check_version(value, what="--version"))


VersionArg = Annotated[str, typer.Argument(metavar="VERSION", help="Release version, e.g. 1473.0.", show_default=False,
                                           callback=_release_version)]
ArtefactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--artefacts",
        "-a",
        metavar="DIR",
        help="Build output directory [default: build/artefacts/VERSION].",
        show_default=False,
    ),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure-skip-tls-verify", help="Do not verify TLS certificates.")]
OnChangeOpt = Annotated[
    OnChange,
    typer.Option(
        "--on-change",
        help="When a tag the target already has would point at other content: fail (exit 1, nothing written) or "
        "overwrite (move the tag).",
    ),
]
AccessOpt = Annotated[
    AccessMode | None,
    typer.Option(
        "--access",
        help="How descriptors point at the artefacts: reference (ociArtifact and ociBlob in the artefact "
        "repository), value (files as localBlob: the OCM repository carries a copy) or transport (every resource a "
        "localBlob, OCI artefacts as OCM artifact sets: resolvable inside a CTF by OCM's tools) [default: transport "
        "for a ctf: target without --reference-base, else reference].",
        show_default=False,
    ),
]
ReferenceBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--reference-base",
        metavar="HOST[/PREFIX]",
        help=f"Registry base that the accesses name [default: the --to registry; {LOCAL_BASE} for oci-layout: and "
        "ctf: targets, rewritten by gl-ocm copy].",
        show_default=False,
    ),
]
OcmRepositoryOpt = Annotated[
    str | None,
    typer.Option(
        "--ocm-repository",
        metavar="TARGET",
        help="Where the component versions go (a registry base, oci-layout:DIR or ctf:PATH) [default: --to].",
        envvar="GL_OCM_OCM_REPOSITORY",
        show_default=False,
    ),
]
DigestCacheOpt = Annotated[
    bool,
    typer.Option(
        "--digest-cache/--no-digest-cache",
        envvar="GL_OCM_DIGEST_CACHE",
        help="Take the digests of files unchanged since the last run from the cache in $GL_OCM_CACHE_DIR "
        "[default: $XDG_CACHE_HOME/gardenlinux-ocm or ~/.cache/gardenlinux-ocm].",
    ),
]
SignerCommandOpt = Annotated[
    str | None,
    typer.Option(
        "--signer-command",
        metavar="COMMAND",
        envvar="GL_OCM_SIGNER_COMMAND",
        help="Sign through this command instead of a key file (a KMS or HSM holds the key): it gets a SHA-256 "
        "digest (32 bytes) on stdin and prints the RSASSA-PKCS1-v1_5 signature, e.g. "
        "'openssl pkeyutl -sign -inkey key.pem -pkeyopt digest:sha256'. Split like a shell line, run without one.",
    ),
]
class SignerOutput(StrEnum):
    RAW = "raw"
    BASE64 = "base64"


SignerOutputOpt = Annotated[SignerOutput, typer.Option("--signer-output", help="What --signer-command prints.")]
SignerTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--signer-timeout",
        metavar="SECONDS",
        min=0.001,
        envvar="GL_OCM_SIGNER_TIMEOUT",
        help="Stop --signer-command after this long per signature (it fails, nothing is written); it may print "
        "at most 16 KiB.",
    ),
]
SignerPublicKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--signer-public-key",
        exists=True,
        dir_okay=False,
        help="PEM public key of --signer-command: every signature is checked with it as soon as it is made.",
    ),
]
