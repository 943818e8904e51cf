"""Registry credentials from the docker/podman auth files, the environment and the command line.

Nothing here reads `os.environ` or guesses paths: the CLI passes the environment mapping and the home directory in,
and hands the resulting lookup to `RegistryTarget`. Credential helpers (`credHelpers`, `credsStore`) and identity
tokens are not supported; entries that use them are skipped with a debug log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ...errors import UsageError

__all__ = ["Credentials", "auth_file_candidates", "load_auth_files", "credentials_lookup", "normalise_host"]

_log = logging.getLogger(__name__)

type Credentials = tuple[str, str]  # (username, password)

# Docker Hub answers under several names; docker writes its credentials under "https://index.docker.io/v1/".
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def auth_file_candidates(env: Mapping[str, str], home: Path) -> list[Path]:
    """The auth files to read, highest precedence first (whether they exist or not).

    Precedence:
      1. `$REGISTRY_AUTH_FILE` (podman, skopeo, buildah);
      2. `${XDG_RUNTIME_DIR}/containers/auth.json` (where `podman login` writes by default);
      3. `$DOCKER_CONFIG/config.json`;
      4. `~/.docker/config.json` (where `docker login` writes by default).
    Unset or empty variables contribute no candidate. A host found in an earlier file wins over later files.
    """
    candidates: list[Path] = []
    if value := env.get("REGISTRY_AUTH_FILE"):
        candidates.append(Path(value))
    if value := env.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(value) / "containers" / "auth.json")
    if value := env.get("DOCKER_CONFIG"):
        candidates.append(Path(value) / "config.json")
    candidates.append(home / ".docker" / "config.json")
    # The same file may be named twice (e.g. REGISTRY_AUTH_FILE=~/.docker/config.json): keep the first.
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def normalise_host(key: str) -> str | None:
    """The `HOST[:PORT]` an auth-file key stands for, or None for a key scoped to a namespace.

    Accepts the forms docker and podman write: `127.0.0.1:5000`, `https://index.docker.io/v1/`, `http://host/v2`.
    Docker Hub's aliases all map to `docker.io`.
    """
    host = key.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if host.endswith(suffix):
            host = host[: -len(suffix)]
    if not host or "/" in host:
        return None
    host = host.lower()
    return "docker.io" if host in _DOCKER_HUB_ALIASES else host


def load_auth_files(paths: Iterable[Path]) -> dict[str, Credentials]:
    """Read docker/podman auth files into `{HOST[:PORT]: (username, password)}`; earlier files win.

    Missing files are skipped. A file that is not valid JSON, or an entry whose `auth` is not base64 of
    `user:password`, raises `UsageError` naming the file (and the host), never its content.
    """
    result: dict[str, Credentials] = {}
    for path in paths:
        for host, creds in _read_auth_file(path).items():
            result.setdefault(host, creds)
    return result


def credentials_lookup(
    explicit: Credentials | None,
    env_user_pass: Credentials | None,
    files: Mapping[str, Credentials],
) -> Callable[[str], Credentials | None]:
    """A lookup `HOST[:PORT] -> (username, password) | None` for `RegistryTarget`.

    Precedence: `explicit` (`--username` with `--password-stdin`) > `env_user_pass` (`GL_OCM_REGISTRY_USERNAME` /
    `GL_OCM_REGISTRY_PASSWORD`) > the auth files (matched by exact `HOST[:PORT]`). The first two answer for every
    host; the auth files only for the host they name.
    """
    files = dict(files)

    def lookup(host: str) -> Credentials | None:
        if explicit is not None:
            return explicit
        if env_user_pass is not None:
            return env_user_pass
        key = normalise_host(host)
        return files.get(key) if key is not None else None

    return lookup


def _read_auth_file(path: Path) -> dict[str, Credentials]:
    hint = f"fix or remove {path}, or point REGISTRY_AUTH_FILE elsewhere"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _log.debug("auth file %s does not exist", path)
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read registry auth file {path}: {type(e).__name__}", hint=hint) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        # Not chained: the decode error keeps the whole document (passwords) in its `doc` attribute.
        raise UsageError(
            f"registry auth file {path} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})", hint=hint
        ) from None
    if not isinstance(document, dict):
        raise UsageError(f"registry auth file {path} is not a JSON object", hint=hint)
    for key in ("credHelpers", "credsStore"):
        if document.get(key):
            _log.debug("auth file %s: %s skipped (credential helpers are not supported)", path, key)
    auths = document.get("auths", {})
    if not isinstance(auths, dict):
        raise UsageError(f"registry auth file {path}: 'auths' is not a JSON object", hint=hint)
    result: dict[str, Credentials] = {}
    for key, entry in auths.items():
        host = normalise_host(str(key))
        if host is None:
            _log.debug("auth file %s: entry %r skipped (only HOST[:PORT] keys are supported)", path, key)
            continue
        creds = _entry_credentials(entry, path=path, key=str(key), hint=hint)
        if creds is not None:
            result.setdefault(host, creds)
    return result


def _entry_credentials(entry: Any, *, path: Path, key: str, hint: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise UsageError(f"registry auth file {path}: entry {key!r} is not a JSON object", hint=hint)
    auth = entry.get("auth")
    if auth:
        try:
            text = str(auth).strip()
            decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise UsageError(
                f"registry auth file {path}: entry {key!r} has an 'auth' value that is not base64", hint=hint
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise UsageError(
                f"registry auth file {path}: entry {key!r} has an 'auth' value that is not 'user:password'", hint=hint
            )
        return username, password
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and name and isinstance(secret, str):
        return name, secret
    if entry.get("identitytoken"):
        _log.debug("auth file %s: entry %r uses an identity token, which is not supported; skipped", path, key)
    else:
        _log.debug("auth file %s: entry %r has no credentials; skipped", path, key)
    return None
