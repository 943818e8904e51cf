"""The `gl-ocm` command line: options, environment and credentials -> an `api` call -> output and exit code.

Exit codes: 0 success, 1 failure (a target, a verification), 2 bad input or usage (spec, artefacts, arguments).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from . import __version__, api
from .cli_options import (
    CaOpt,
    ComponentsOpt,
    InsecureOpt,
    JobsOpt,
    OutputFormat,
    OutputOpt,
    PlainOpt,
    PwStdinOpt,
    UserOpt,
)
from .errors import GlOcmError, UsageError
from .oci.copy import CopyStats, Event, EventKind
from .ocm.signing import SignatureAlgorithm, load_private_key
from .sign import DEFAULT_SIGNATURE_NAME, sign_plan
from .targets import DEFAULT_TARGET, RegistryOptions, open_source, open_target

app = typer.Typer(
    name="gl-ocm",
    help="Publish Garden Linux releases as OCI artefacts and OCM component versions, and verify them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True)
out = Console()
_state = {"verbose": False}


class RenderFormat(StrEnum):
    YAML = "yaml"
    JSON = "json"




def _version_callback(value: bool) -> None:
    if value:
        out.print(f"gl-ocm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details; show tracebacks.")] = False,
) -> None:
    _state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _guard[T](fn: Callable[[], T]) -> T:
    """Run a command body: user errors become one paragraph on stderr and an exit code, never a traceback."""
    try:
        return fn()
    except GlOcmError as e:
        if _state["verbose"]:
            raise
        err.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False, markup=True, soft_wrap=True)
        if e.hint:
            err.print(f"[dim]hint:[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except OSError as e:
        if _state["verbose"]:
            raise
        where = f" {e.filename}" if e.filename else ""
        err.print(
            f"[bold red]error:[/]{escape(where)}: {escape(str(e.strerror or e))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None


def _registry_options(
    username: str | None, password_stdin: bool, plain_http: bool | None, ca_file: Path | None, insecure: bool
) -> RegistryOptions:
    from .oci.credentials import auth_file_candidates, credentials_lookup, load_auth_files

    explicit = None
    if password_stdin and not username:
        raise UsageError("--password-stdin needs --username")
    if username:
        if not password_stdin:
            raise UsageError("--username needs --password-stdin (passwords are never taken as arguments)")
        explicit = (username, sys.stdin.readline().rstrip("\r\n"))
    env_user, env_pass = os.environ.get("GL_OCM_REGISTRY_USERNAME"), os.environ.get("GL_OCM_REGISTRY_PASSWORD")
    from_env = (env_user, env_pass) if env_user and env_pass is not None else None
    files = load_auth_files(auth_file_candidates(os.environ, Path.home()))
    return RegistryOptions(
        credentials=credentials_lookup(explicit, from_env, files),
        plain_http=plain_http,
        ca_file=ca_file,
        insecure_skip_tls_verify=insecure,
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[Event], None]]:
    """Byte progress on a terminal; otherwise one quiet line per tag set (blobs are summed up at the end)."""
    if enabled and err.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("transferring", total=None)

            def on_bar(e: Event) -> None:
                if e.kind is EventKind.PLANNED:
                    bar.update(task, total=e.size)
                elif e.kind in (EventKind.BYTES, EventKind.BLOB_MOUNTED, EventKind.BLOB_SKIPPED):
                    bar.advance(task, e.size)  # pushed blobs advance byte by byte as they are read

            yield on_bar
        return

    def on_line(e: Event) -> None:
        if enabled and e.kind is EventKind.TAGGED and e.descriptor is not None:
            err.print(f"published {e.repository}:{e.tag} {e.descriptor.digest}", highlight=False, soft_wrap=True)

    yield on_line


def _stats_dict(stats: CopyStats) -> dict[str, int]:
    return {k: getattr(stats, k) for k in stats.__dataclass_fields__}


@app.command()
def lint(components: ComponentsOpt = Path("components")) -> None:
    """Validate the component specs in COMPONENTS against their JSON Schemas and each other.

    Example: gl-ocm lint --components components
    """
    versions = _guard(lambda: api.lint(components))
    out.print(f"ok: {components}/gardenlinux.yaml and {len(versions)} release(s): {', '.join(versions)}")


@app.command("sample-artefacts")
def sample_artefacts(
    version: Annotated[str, typer.Argument(help="Release version, e.g. 1473.0.")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Directory to write the files into.")],
    components: ComponentsOpt = Path("components"),
) -> None:
    """Write small deterministic build outputs for every flavor and container of a release.

    Example: gl-ocm sample-artefacts 1473.0 -o build/artefacts/1473.0
    """
    files = _guard(lambda: api.sample_artefacts(components, version, output_dir))
    out.print(f"wrote {len(files)} files to {output_dir}")


def _default_artefacts(version: str) -> Path:
    return Path("build") / "artefacts" / version


@app.command()
def render(
    version: Annotated[str, typer.Argument(help="Release version, e.g. 1473.0.")],
    artefacts: Annotated[
        Path | None,
        typer.Option("--artefacts", "-a", help="Build output directory \\[default: build/artefacts/VERSION]."),
    ] = None,
    fmt: Annotated[RenderFormat, typer.Option("--format", "-f", help="yaml or json.")] = RenderFormat.YAML,
    output_file: Annotated[
        Path | None, typer.Option("--output-file", "-o", help="Write here instead of stdout.")
    ] = None,
    components: ComponentsOpt = Path("components"),
) -> None:
    """Render the OCM component descriptors of a release (byte-identical for the same spec and artefacts).

    Example: gl-ocm render 1473.0 --format json -o descriptors.json
    """
    _, plan = _guard(lambda: api.plan_release(components, version, artefacts or _default_artefacts(version)))
    if fmt is RenderFormat.JSON:
        text = json.dumps([c.descriptor for c in plan.components], indent=2, sort_keys=True) + "\n"
        data = text.encode()
    else:
        data = b"---\n".join(c.descriptor_yaml for c in plan.components)
    if output_file:
        _guard(lambda: output_file.write_bytes(data))
        err.print(f"wrote {len(plan.components)} component descriptors to {output_file}")
    else:
        sys.stdout.buffer.write(data)


def _summary(plan: Any, stats: CopyStats, target: str, fmt: OutputFormat) -> None:
    rows = [
        {
            "kind": r.kind.value,
            "name": r.label,
            "reference": f"{r.repository}:{r.tags[0]}",
            "digest": r.descriptor.digest,
        }
        for r in plan.roots
    ]
    if fmt is OutputFormat.JSON:
        out.print_json(
            json.dumps({"target": target, "version": plan.version, "published": rows, "stats": _stats_dict(stats)})
        )
        return
    table = Table(title=f"Garden Linux {plan.version} on {target}")
    table.add_column("kind")
    table.add_column("reference", overflow="fold")
    table.add_column("digest", no_wrap=True)
    for row in rows:
        table.add_row(row["kind"], row["reference"], row["digest"][:19] + "…")
    out.print(table)
    out.print(
        f"{stats.blobs_pushed} blobs pushed ({stats.bytes_pushed} bytes), {stats.blobs_mounted} mounted, "
        f"{stats.blobs_skipped} already present; {stats.manifests_pushed} manifests pushed; "
        f"{stats.tags_set} tags set, {stats.tags_unchanged} unchanged",
        highlight=False,
    )


@app.command()
def publish(
    version: Annotated[str, typer.Argument(help="Release version, e.g. 1473.0.")],
    to: Annotated[
        str,
        typer.Option(
            "--to", "-t", help="oci-layout:DIR or a registry base HOST\\[:PORT]\\[/PREFIX].", envvar="GL_OCM_TARGET"
        ),
    ] = DEFAULT_TARGET,
    artefacts: Annotated[
        Path | None,
        typer.Option("--artefacts", "-a", help="Build output directory \\[default: build/artefacts/VERSION]."),
    ] = None,
    components: ComponentsOpt = Path("components"),
    jobs: JobsOpt = 4,
    output: OutputOpt = OutputFormat.TABLE,
    username: UserOpt = None,
    password_stdin: PwStdinOpt = False,
    plain_http: PlainOpt = None,
    ca_file: CaOpt = None,
    insecure_skip_tls_verify: InsecureOpt = False,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            "--sign-key",
            exists=True,
            dir_okay=False,
            envvar="GL_OCM_SIGN_KEY",
            help="Sign the component versions with this PEM RSA private key before publishing.",
        ),
    ] = None,
    sign_algorithm: Annotated[
        SignatureAlgorithm,
        typer.Option("--sign-algorithm", help="RSASSA-PKCS1-V1_5 (the OCM CLI default) or RSASSA-PSS."),
    ] = SignatureAlgorithm.RSASSA_PKCS1_V1_5,
    signature_name: Annotated[
        str, typer.Option("--signature-name", help="Name of the signature.")
    ] = DEFAULT_SIGNATURE_NAME,
    key_password_file: Annotated[
        Path | None,
        typer.Option(
            "--key-password-file",
            exists=True,
            dir_okay=False,
            envvar="GL_OCM_KEY_PASSWORD_FILE",
            help="File holding the password of an encrypted --sign-key.",
        ),
    ] = None,
) -> None:
    """Publish a release: flavor manifests, container images, the release index and the OCM component versions.

    Everything is validated before the first byte is written; a second run of the same release writes nothing.

    Examples:
      gl-ocm publish 1473.0
      gl-ocm publish 1473.0 --to 127.0.0.1:5000 --artefacts build/artefacts/1473.0
    """

    def run() -> api.PublishResult:
        _, plan = api.plan_release(components, version, artefacts or _default_artefacts(version))
        if sign_key is not None:  # the key is checked before any I/O on the target
            password = key_password_file.read_bytes().rstrip(b"\r\n") if key_password_file else None
            plan = sign_plan(plan, load_private_key(sign_key, password), algorithm=sign_algorithm, name=signature_name)
        target = open_target(
            to, _registry_options(username, password_stdin, plain_http, ca_file, insecure_skip_tls_verify)
        )
        with _progress(output is OutputFormat.TABLE) as on_event:
            return api.publish(plan, target, jobs=jobs, on_event=on_event)

    result = _guard(run)
    _summary(result.plan, result.stats, result.target, output)


@app.command("copy")
def copy_cmd(
    source: Annotated[str, typer.Argument(help="oci-layout:DIR or a registry base.")],
    target: Annotated[str, typer.Argument(help="oci-layout:DIR or a registry base.")],
    version: Annotated[str | None, typer.Option("--version", help="Copy only this release.")] = None,
    jobs: JobsOpt = 4,
    output: OutputOpt = OutputFormat.TABLE,
    username: UserOpt = None,
    password_stdin: PwStdinOpt = False,
    plain_http: PlainOpt = None,
    ca_file: CaOpt = None,
    insecure_skip_tls_verify: InsecureOpt = False,
) -> None:
    """Copy releases (every repository, tag and component version) between two targets, digests unchanged.

    Example: gl-ocm copy oci-layout:build/oci 127.0.0.1:5000/mirror --version 1473.0
    """

    def run() -> CopyStats:
        opts = _registry_options(username, password_stdin, plain_http, ca_file, insecure_skip_tls_verify)
        src, dst = open_source(source, opts), open_target(target, opts)
        with _progress(output is OutputFormat.TABLE) as on_event:
            return api.copy_release(src, dst, version=version, jobs=jobs, on_event=on_event)

    stats = _guard(run)
    if output is OutputFormat.JSON:
        out.print_json(json.dumps({"source": source, "target": target, "stats": _stats_dict(stats)}))
    else:
        out.print(
            f"copied {source} -> {target}: {stats.blobs_pushed} blobs pushed ({stats.bytes_pushed} bytes), "
            f"{stats.blobs_mounted} mounted, {stats.blobs_skipped} present, "
            f"{stats.manifests_pushed} manifests, {stats.tags_set} tags set",
            highlight=False,
        )


def _register_trust_commands() -> None:
    """`verify` and `sign` live in cli_trust.py; registered here so `gl-ocm --help` lists every command."""
    try:
        from .cli_trust import register
    except ImportError:  # pragma: no cover - only while the module does not exist yet
        return
    register(app, guard=_guard, registry_options=_registry_options)


_register_trust_commands()


def main() -> None:
    app(prog_name="gl-ocm")


if __name__ == "__main__":
    main()
