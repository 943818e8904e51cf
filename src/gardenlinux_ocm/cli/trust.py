"""The `gl-ocm verify` and `gl-ocm sign` commands: options and keys -> `verify` / `sign_published` -> output.

Errors go through the shared guard (message + hint on stderr, exit code per error class) and registry options through
the shared builder, so credentials are handled in one place. Exit codes: 0 verified or signed,
1 something failed, 2 bad input (usage, unreadable or unsuitable keys).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UsageError
from ..ocm.algorithms import ALGORITHM_HELP, DEFAULT_SIGNATURE_NAME, PSS_WARNING, SignatureAlgorithm
from .common import (
    RegistryFactory,
    closing_target,
    err,
    guard,
    make_signer,
    out,
    registry_unset,
    with_registry_options,
)
from .options import (
    JobsOpt,
    OutputFormat,
    OutputOpt,
    SignerCommandOpt,
    SignerOutput,
    SignerOutputOpt,
    SignerPublicKeyOpt,
    SignerTimeoutOpt,
)
from .output import INDENT, fold, print_lines, shorten_digests

if TYPE_CHECKING:
    from ..trust.model import Check, VerifyReport
    from ..trust.sign import SignResult

__all__ = ["register", "parse_component", "Show"]


TargetArg = Annotated[str, typer.Argument(
    help="oci-layout:DIR, ctf:PATH, ca:PATH or a registry base (HOST, optional :PORT and /PREFIX).")]


def parse_component(text: str | None, *, require_version: bool) -> tuple[str | None, str | None]:
    """`COMPONENT[:VERSION]` -> (component, version); raises `UsageError` for an empty part or a missing version."""
    if text is None:
        return None, None
    name, sep, version = text.strip().partition(":")
    if not name or (sep and not version):
        raise UsageError(f"{text!r} is not COMPONENT[:VERSION]", hint="e.g. github.com/gardenlinux/gardenlinux:1473.0")
    if require_version and not version:
        raise UsageError(f"{text!r} names no version", hint=f"write {name}:VERSION")
    from ..oci.model import REPOSITORY_RE, TAG_RE, version_to_tag

    if not REPOSITORY_RE.match(f"component-descriptors/{name}"):
        raise UsageError(f"{text!r}: {name!r} is no component name", hint="e.g. github.com/gardenlinux/gardenlinux "
                         "(lower-case letters, digits, '.', '_', '-' and '/')")
    if version and not TAG_RE.match(version_to_tag(version)):
        raise UsageError(f"{text!r}: {version!r} is no component version (it cannot be an OCI tag)",
                         hint="e.g. github.com/gardenlinux/gardenlinux:1473.0")
    return name, version or None


def _key_pairs(keys: list[Path], names: list[str]) -> list[tuple[str | None, Any]]:
    """Pair keys with signature names: none (any signature), one for all keys, or one per key."""
    if keys and names and len(names) not in (1, len(keys)):
        raise UsageError(f"{len(keys)} --public-key but {len(names)} --signature-name",
                         hint="give one --signature-name per --public-key (in order), one for all keys, or none")
    from ..ocm.signing import load_public_key

    loaded = [load_public_key(k) for k in keys]
    if not names:
        return [(None, k) for k in loaded]
    return [(names[0] if len(names) == 1 else names[i], k) for i, k in enumerate(loaded)]


class Show(StrEnum):
    """What the table output of `verify` lists: the failures (after counts per kind of check), or every check."""

    FAILURES = "failures"
    ALL = "all"


_STYLE = {"ok": "green", "failed": "bold red", "skipped": "dim", "warning": "yellow"}
_LABEL = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "warning": "WARNING"}
def _print_check(check: Check, width: int, *, full: bool) -> None:
    """One check: status, kind and subject on the first line(s), the detail below (digests shortened unless full)."""
    label = _LABEL[check.status]
    head = f"{label:<8}{check.kind.value:<10}"
    indent = INDENT if full else len(head)
    subject, detail = (check.subject, check.detail) if full else (shorten_digests(check.subject),
                                                                 shorten_digests(check.detail))
    print_lines(fold(subject, width, len(head), head), _STYLE[check.status], len(label))
    if detail:
        print_lines(fold(detail, width, indent, " " * indent))


def _print_counts(report: VerifyReport) -> None:
    from rich.table import Table

    table = Table()
    table.add_column("check")
    counts = report.counts()
    warned = any(c[4] for c in counts)
    for col in ("passed", "failed", "skipped", *(("warnings",) if warned else ())):
        table.add_column(col, justify="right")
    for kind, passed, failed, skipped, warnings in counts:
        table.add_row(kind.value, str(passed), f"[bold red]{failed}[/]" if failed else "0", str(skipped),
                      *((f"[yellow]{warnings}[/]" if warnings else "0",) if warned else ()))
    out.print(table)


def _print_report(report: VerifyReport, fmt: OutputFormat, show: Show) -> None:
    """JSON: every check. Table: counts per kind and every failure in full, or (`--show all`) every check."""
    if fmt is OutputFormat.JSON:
        out.print_json(json.dumps(report.to_dict()))
        return
    width = out.width
    title = f"{report.component}:{report.version or '?'} on {report.target}" + (" (deep)" if report.deep else "")
    print_lines(fold(title, width, INDENT), "bold", len(title))
    if show is Show.ALL:
        for check in report.checks:
            _print_check(check, width, full=False)
    _print_counts(report)
    if show is Show.FAILURES and report.warnings:
        print_lines([f"{len(report.warnings)} warning(s):"], "yellow", width)
        for check in report.warnings:
            _print_check(check, width, full=True)
    if show is Show.FAILURES and report.failures:
        print_lines([f"{len(report.failures)} failed check(s):"], "bold red", width)
        for check in report.failures:
            _print_check(check, width, full=True)
    failed, skipped = len(report.failures), sum(c.skipped for c in report.checks)
    if report.ok:
        warned = f", {len(report.warnings)} with warnings" if report.warnings else ""
        out.print(f"[green]verified[/]: {len(report.checks) - skipped} checks passed{warned}, {skipped} skipped")
    else:
        out.print(f"[bold red]verification failed[/]: {failed} of {len(report.checks)} checks failed")


def _print_signed(result: SignResult, fmt: OutputFormat) -> None:
    rows = [{"component": f"{c.name}:{c.version}", "reference": c.reference, "before": c.before, "after": c.after}
            for c in result.components]
    if fmt is OutputFormat.JSON:
        out.print_json(json.dumps({"target": result.target, "signature": result.signature_name, "signed": rows,
                                    "manifests_pushed": result.stats.manifests_pushed,
                                    "tags_set": result.stats.tags_set,
                                    "images_signed": {"signed": result.images_signed,
                                                      "already": result.images_already_signed}}))
        return
    width = out.width
    title = f"signed as {result.signature_name!r} on {result.target}"
    print_lines(fold(title, width, INDENT), "bold", len(title))
    for row in rows:
        before, after = shorten_digests(row["before"]), shorten_digests(row["after"])
        change = f"{before} -> {after}" if row["before"] != row["after"] else f"{after} (unchanged)"
        print_lines(fold(row["component"], width, INDENT, "  "))
        print_lines(fold(change, width, 2 * INDENT, " " * INDENT))
    out.print(f"{result.stats.manifests_pushed} manifests pushed, {result.stats.tags_set} tags set", highlight=False)
    out.print(f"signed (cosign format): {result.images_signed} manifests, {result.images_already_signed} already "
              "signed with this key", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `verify` and `sign` to the app."""

    @app.command("verify")
    @with_registry_options
    def verify_cmd(
        target: TargetArg,
        component: Annotated[str | None, typer.Argument(
            help="COMPONENT[:VERSION]; default: the release component (or the archive's only one), newest version.",
            show_default=False)] = None,
        deep: Annotated[bool, typer.Option("--deep", help="Download and re-hash every blob (streaming).")] = False,
        public_key: Annotated[list[Path] | None, typer.Option(
            "--public-key", "-k", exists=True, dir_okay=False,
            help="PEM RSA public key or X.509 certificate to verify signatures with (repeatable).")] = None,
        signature_name: Annotated[list[str] | None, typer.Option(
            "--signature-name", "-s", help="Signature to check: one per --public-key, one for all, or alone "
            "(then only its digest is checked) (repeatable).")] = None,
        output: OutputOpt = OutputFormat.TABLE,
        show: Annotated[Show, typer.Option(
            "--show", help="Table output: failures (counts per kind of check, then every failure in full) or all "
            "(every check).")] = Show.FAILURES,
        reference_base: Annotated[list[str] | None, typer.Option(
            "--reference-base", metavar="HOST[/PREFIX]",
            help="A base that accesses name for content on TARGET itself (repeatable), e.g. the registry a layout "
            "was built for. Accesses naming other registries are checked there.")] = None,
        image_signatures: Annotated[bool, typer.Option(
            "--image-signatures/--no-image-signatures",
            help="With --public-key, also check the cosign-format signature (sha256-<hex>.sig) of every manifest "
            "and index a resource names.")] = True,
        require_referrers: Annotated[bool, typer.Option(
            "--require-referrers",
            help="Fail when a file published as an OCI referrer is not one on the target (a copy made by a tool "
            "that does not carry referrers, such as ocm transfer); without it that is a warning.")] = False,
        jobs: JobsOpt = 8,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Verify a published release: descriptors, references, every resource, the release index, signatures.

        Exit code 0 when everything verified (warnings included), 1 when a check failed, 2 for bad input.

        \b
        Examples:
          gl-ocm verify oci-layout:build/oci
          gl-ocm verify oci-layout:build/oci \\
            github.com/gardenlinux/gardenlinux:1473.0 --deep --public-key key.pub
          gl-ocm verify ca:component-archive --public-key rsa.pub
        """
        from ..targets import addressing_for, open_source, registry_opener
        from ..trust.verify import verify

        def run() -> VerifyReport:
            name, version = parse_component(component, require_version=False)
            keys = _key_pairs(public_key or [], signature_name or [])
            opts = registry()
            bases = [addressing_for(target, base).base for base in reference_base or []]
            with closing_target(open_source(target, opts)) as src:
                return verify(src, name, version, deep=deep, public_keys=keys, signature_names=signature_name or [],
                              reference_bases=bases, open_registry=registry_opener(opts),
                              image_signatures=image_signatures, require_referrers=require_referrers, jobs=jobs)

        report: VerifyReport = guard(run)
        _print_report(report, output, show)
        if not report.ok:
            raise typer.Exit(1)

    @app.command("sign")
    @with_registry_options
    def sign_cmd(
        target: Annotated[str, typer.Argument(
            help="oci-layout:DIR or a registry base (HOST, optional :PORT and /PREFIX).")],
        component: Annotated[str, typer.Argument(
            help="COMPONENT:VERSION, e.g. github.com/gardenlinux/gardenlinux:1473.0.")],
        private_key: Annotated[Path | None, typer.Option("--private-key", "-K", exists=True, dir_okay=False,
                                                         help="PEM RSA private key (PKCS#1 or PKCS#8).")] = None,
        algorithm: Annotated[SignatureAlgorithm, typer.Option(
            "--algorithm", "-S", help=ALGORITHM_HELP)
        ] = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
        signature_name: Annotated[str, typer.Option("--signature-name", "-s", help="Name of the signature.")
                                  ] = DEFAULT_SIGNATURE_NAME,
        key_password_file: Annotated[Path | None, typer.Option(
            "--key-password-file", exists=True, dir_okay=False, envvar="GL_OCM_KEY_PASSWORD_FILE",
            help="File holding the password of an encrypted private key.")] = None,
        signer_command: SignerCommandOpt = None,
        signer_output: SignerOutputOpt = SignerOutput.RAW,
        signer_public_key: SignerPublicKeyOpt = None,
        signer_timeout: SignerTimeoutOpt = 60.0,
        output: OutputOpt = OutputFormat.TABLE,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Sign a published component version and its references; re-signing with another name keeps the others.

        Reference digests first, then jsonNormalisation/v3 + SHA-256, signed with the key; the signed component
        versions are written back and re-tagged. Every OCI manifest and index their resources name on TARGET also
        gets a cosign-format signature (sha256-<hex>.sig): again with the same key adds nothing, another key adds
        its signature. What does not verify is not signed.

        \b
        Examples:
          gl-ocm sign oci-layout:build/oci \\
            github.com/gardenlinux/gardenlinux:1473.0 -K key.pem
          gl-ocm sign ghcr.io/gardenlinux github.com/gardenlinux/gardenlinux:1473.0 \\
            --signer-command 'kms-sign --key release' --signer-public-key release.pub
        """
        from ..targets import open_target, registry_opener
        from ..trust.sign import sign_published

        def run() -> SignResult:
            name, version = parse_component(component, require_version=True)
            key = make_signer(private_key, key_password_file, signer_command, signer_output, signer_public_key,
                              key_option="--private-key", timeout=signer_timeout)
            if key is None:
                raise UsageError("nothing to sign with: give --private-key or --signer-command")
            if algorithm is SignatureAlgorithm.RSASSA_PSS:
                err.print(PSS_WARNING, highlight=False)
            opts = registry()
            assert name is not None and version is not None
            with closing_target(open_target(target, opts)) as dst:
                return sign_published(dst, name, version, key, algorithm=algorithm, name=signature_name,
                                      open_registry=registry_opener(opts))

        result: SignResult = guard(run)
        _print_signed(result, output)
