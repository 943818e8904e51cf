"""`gl-ocm download`: a published flavor's files, streamed out of any target into a directory and checked.

Options -> `oci.download.download` -> output. Errors go through the shared guard, registry options through the
shared builder. Exit codes: 0 every file in place, 1 the target lacks the flavor or holds damaged content, or a file
in the directory differs; 2 bad input (VERSION, --flavor, an unknown --role).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..oci.copy.changes import OnChange
from .common import RegistryFactory, closing_target, guard, out, registry_unset, with_registry_options
from .options import OutputFormat, OutputOpt, VersionArg
from .output import INDENT, fold, human_bytes, listing, print_lines, short_digest

if TYPE_CHECKING:
    from ..oci.download import DownloadResult

__all__ = ["register"]

RELEASE_REPOSITORY = "gardenlinux"


def _print_result(result: DownloadResult, fmt: OutputFormat) -> None:
    """JSON: every file in full. Table: a title, one line per file (name, size, short digest, status), the counts."""
    from ..oci.download import FileStatus

    if fmt is OutputFormat.JSON:
        out.print_json(json.dumps(result.to_dict()))
        return
    width = out.width
    title = f"{result.target}/{result.reference} -> {result.directory}"
    print_lines(fold(title, width, INDENT))
    rows = [(f.file.name, human_bytes(f.file.layer.size), short_digest(f.file.layer.digest), f.status.value)
            for f in result.files]
    print_lines(listing(rows, width))
    written, unchanged = result.count(FileStatus.WRITTEN), result.count(FileStatus.UNCHANGED)
    size = sum(f.file.layer.size for f in result.files if f.status is FileStatus.WRITTEN)
    out.print(f"{written} written ({human_bytes(size)}), {unchanged} unchanged", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `download` to the app."""

    @app.command("download")
    @with_registry_options
    def download_cmd(
        target: Annotated[str, typer.Argument(
            metavar="TARGET", help="oci-layout:DIR, ctf:PATH or a registry base (HOST, optional :PORT and /PREFIX).")],
        version: VersionArg,
        flavor: Annotated[str, typer.Option(
            "--flavor", metavar="CNAME-ARCH", help="The flavor, e.g. aws-gardener_prod-amd64.", show_default=False)],
        output_dir: Annotated[Path, typer.Option(
            "--output-dir", "-o", metavar="DIR", help="Directory to write the files into (created when missing).",
            show_default=False)],
        role: Annotated[list[str] | None, typer.Option(
            "--role", metavar="ROLE", help="Only the files of this role, e.g. kernel or rootfs (repeatable) "
            "[default: every file].", show_default=False)] = None,
        repository: Annotated[str, typer.Option(
            "--repository", metavar="NAME", help="The repository of the flavor manifests below TARGET.")
        ] = RELEASE_REPOSITORY,
        overwrite: Annotated[bool, typer.Option(
            "--overwrite", help="Replace files in DIR that have other content (default: refuse, exit 1, write "
            "nothing).")] = False,
        output: OutputOpt = OutputFormat.TABLE,
        registry: RegistryFactory = registry_unset,
    ) -> None:
        """Download a published flavor's files, each checked, into a directory.

        Reads the flavor manifest VERSION-CNAME-ARCH and streams each layer (or those of --role) into DIR under its
        title, the original file name; a file is kept only when its size and digest match. A file already there
        with the same content is left alone: a second run writes nothing. Exit code 0 when every file is in place,
        1 when the flavor is missing, its content is damaged or a file in DIR differs, 2 for bad input.

        \b
        Examples:
          gl-ocm download oci-layout:build/oci 1473.0 \\
            --flavor aws-gardener_prod-amd64 -o out
          gl-ocm download ghcr.io/gardenlinux 1473.0 \\
            --flavor kvm-gardener_prod-amd64 --role kernel --role rootfs -o boot
        """
        from ..oci.download import download
        from ..oci.model import REPOSITORY_RE
        from ..spec.version import check_version
        from ..targets import open_source

        def run() -> DownloadResult:
            check_version(version)
            if not REPOSITORY_RE.match(repository):
                raise UsageError(f"--repository {repository!r} is not an OCI repository name",
                                 hint=f"e.g. --repository {RELEASE_REPOSITORY} (lower-case path components)")
            opts = registry()
            with closing_target(open_source(target, opts)) as src:
                return download(src, output_dir, version=version, flavor=flavor, repository=repository,
                                roles=role or (), on_change=OnChange.OVERWRITE if overwrite else OnChange.FAIL)

        result: DownloadResult = guard(run)
        _print_result(result, output)
