"""What every command shares: the consoles, the one error guard, and registry options from flags and environment."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.markup import escape

from ..errors import GlOcmError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from ..artefacts.digests import DigestCache
    from ..oci.registry import RetryPolicy, Timeouts
    from ..targets import RegistryOptions
    from ..trust.signer import DigestSigner

__all__ = ["err", "out", "state", "guard", "registry_options", "closing_target", "opened_targets", "digest_cache",
           "make_signer"]


class _LazyConsole:
    """A rich Console made on first use: importing rich.console costs more than the rest of `gl-ocm --help`."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err = cast("Console", _LazyConsole(stderr=True))
out = cast("Console", _LazyConsole())
state = {"verbose": False}


def guard[T](fn: Callable[[], T]) -> T:
    """Run a command body: user errors become one paragraph on stderr and an exit code, never a traceback."""
    try:
        return fn()
    except GlOcmError as e:
        _traceback_if_verbose()
        err.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False, markup=True, soft_wrap=True)
        if e.hint:
            err.print(f"[dim]hint:[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except OSError as e:
        _traceback_if_verbose()
        where = f" {e.filename}" if e.filename else ""
        err.print(
            f"[bold red]error:[/]{escape(where)}: {escape(str(e.strerror or e))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None


def _traceback_if_verbose() -> None:
    """With --verbose, the traceback of the error being handled goes to stderr; the exit code stays the class's."""
    if state["verbose"]:
        import traceback

        err.print(traceback.format_exc().rstrip(), markup=False, highlight=False, soft_wrap=True)


def registry_options(
    username: str | None, password_stdin: bool, plain_http: bool | None, ca_file: Path | None, insecure: bool
) -> RegistryOptions:
    """Registry options from the flags, `GL_OCM_REGISTRY_*` and the docker/podman auth files (the only place)."""
    from ..oci.registry.credentials import auth_file_candidates, credentials_lookup, load_auth_files
    from ..targets import RegistryOptions

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
    timeout, retry = network_bounds(os.environ)
    return RegistryOptions(
        credentials=credentials_lookup(explicit, from_env, files),
        plain_http=plain_http,
        ca_file=ca_file,
        insecure_skip_tls_verify=insecure,
        timeout=timeout,
        retry=retry,
    )


# The bounds on a peer that the environment sets (seconds); `gl-ocm --help` states them and their defaults.
BOUND_VARIABLES = {
    "GL_OCM_CONNECT_TIMEOUT": "connect",
    "GL_OCM_READ_TIMEOUT": "read",
    "GL_OCM_DEADLINE": "operation",
    "GL_OCM_RETRY_BUDGET": "total",
}


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise UsageError(f"{name}={text!r} is no number of seconds", hint=f"e.g. {name}=30; unset it for the default")
    return value


def network_bounds(env: Mapping[str, str]) -> tuple[Timeouts, RetryPolicy]:
    """The read timeouts and deadlines of registry requests: the defaults, changed by `GL_OCM_*` variables."""
    from ..oci.registry import RetryPolicy, Timeouts

    values = {field: _seconds(env, name) for name, field in BOUND_VARIABLES.items()}
    timeout, retry = Timeouts(), RetryPolicy()
    return (
        Timeouts(connect=values["connect"] or timeout.connect, read=values["read"] or timeout.read),
        dataclasses.replace(retry, operation=values["operation"] or retry.operation,
                            total=values["total"] or retry.total),
    )


def digest_cache(enabled: bool) -> DigestCache | None:
    """The digest cache of `--digest-cache`: in `GL_OCM_CACHE_DIR`, else `$XDG_CACHE_HOME/gardenlinux-ocm` (an
    absolute XDG_CACHE_HOME only, as the XDG spec says), else `~/.cache/gardenlinux-ocm`; None when disabled."""
    if not enabled:
        return None
    from ..artefacts.digests import DigestCache

    if directory := os.environ.get("GL_OCM_CACHE_DIR"):
        return DigestCache(Path(directory))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return DigestCache(base / "gardenlinux-ocm")


@contextlib.contextmanager
def scratch_directory(to: str, needed: bool) -> Iterator[Path | None]:
    """A temporary directory for what a publish to `to` writes before it is sent (artifact sets for transport):
    beside a CTF (same disk, so the space it needs is where the CTF goes), else in the system's temporary
    directory; removed afterwards. None, and nothing made, when it is not `needed`."""
    import tempfile

    if not needed:
        yield None
        return

    from ..targets import TargetKind, parse_target

    name = parse_target(to)
    parent = Path(name.location).absolute().parent if name.kind is TargetKind.CTF else Path(tempfile.gettempdir())
    try:
        parent.mkdir(parents=True, exist_ok=True)
        holder = tempfile.TemporaryDirectory(prefix=".gl-ocm-sets.", dir=parent)
    except OSError as e:
        raise UsageError(f"cannot make a temporary directory in {parent}: {e.strerror or e}",
                         hint="make the directory writable, or publish elsewhere") from e
    with holder as path:
        yield Path(path)


@contextlib.contextmanager
def closing_target[T](target: T) -> Iterator[T]:
    """Use a target; one that is a context manager (a registry session, a CTF archive to pack) is closed after.

    A CTF archive is written out only when the block ends without an error.
    """
    if isinstance(target, contextlib.AbstractContextManager):
        with target:
            yield target
    else:
        yield target


@contextlib.contextmanager
def opened_targets(to: str, ocm_repository: str | None, options: RegistryOptions) -> Iterator[tuple[Any, Any]]:
    """The `--to` target and the `--ocm-repository` one (None when not given), both closed after the block."""
    from ..targets import open_target

    with contextlib.ExitStack() as stack:
        target = stack.enter_context(closing_target(open_target(to, options)))
        ocm = None if ocm_repository is None else stack.enter_context(closing_target(open_target(ocm_repository,
                                                                                                 options)))
        yield target, ocm


RegistryFactory = Callable[[], "RegistryOptions"]


def with_registry_options[**P, R](command: Callable[P, R]) -> Callable[..., R]:
    """Give a command the registry options (--username, --password-stdin, --plain-http, --ca-file,
    --insecure-skip-tls-verify), declared once here.

    The command declares a keyword parameter `registry` instead: a callable that builds the `RegistryOptions`, to be
    called inside the command's `guard` (it reads the password from stdin and may refuse a bad combination).
    """
    import functools
    import inspect

    from .options import CaOpt, InsecureOpt, PlainOpt, PwStdinOpt, UserOpt

    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in (
            ("username", UserOpt, None),
            ("password_stdin", PwStdinOpt, False),
            ("plain_http", PlainOpt, None),
            ("ca_file", CaOpt, None),
            ("insecure_skip_tls_verify", InsecureOpt, False),
        )
    ]
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "registry"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        values = [kwargs.pop(p.name) for p in added]
        return command(*args, registry=lambda: registry_options(*values), **kwargs)  # type: ignore[arg-type]

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {k: v for k, v in command.__annotations__.items() if k != "registry"}
    return wrapper


def registry_unset() -> RegistryOptions:
    """The default of a command's `registry` parameter; `with_registry_options` always passes the real one."""
    raise AssertionError("the command is not wrapped by with_registry_options")


def make_signer(key_file: Path | None, password_file: Path | None, command: str | None, output: str,
                public_key: Path | None, *, key_option: str, timeout: float = 60.0) -> DigestSigner | None:
    """The signer the options name: a PEM key in this process, or an external command (`--signer-command`); None
    for neither. Both at once, or an unusable key, is bad input (exit 2) before anything is read or written."""
    import shlex

    if key_file is not None and command is not None:
        raise UsageError(f"{key_option} and --signer-command are two ways to sign; give one",
                         hint="a KMS or HSM: --signer-command; a key file on this machine: " + key_option)
    if key_file is None and command is None:
        if public_key is not None:
            raise UsageError("--signer-public-key checks the signatures of --signer-command, which is not given")
        return None
    from ..ocm.signing import load_private_key, load_public_key
    from ..trust.signer import CommandSigner, KeySigner, SignatureEncoding, SignerInput

    if key_file is not None:
        password = password_file.read_bytes().rstrip(b"\r\n") if password_file else None
        return KeySigner(load_private_key(key_file, password), name=f"private key {key_file}")
    assert command is not None
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise UsageError(f"--signer-command cannot be split into words: {e}", hint="check its quotes") from None
    return CommandSigner(argv, input=SignerInput.DIGEST, encoding=SignatureEncoding(output), timeout=timeout,
                         public_key=load_public_key(public_key) if public_key is not None else None)
