"""A real `docker-registry` (CNCF distribution 2.8) on loopback for integration tests.

`RegistryServer` writes a config into a temporary directory, starts `docker-registry serve CONFIG` on a free
127.0.0.1 port and waits until `GET /v2/` answers. Three modes:

- `anonymous`: plain http, no auth;
- `htpasswd`: TLS with a private CA made here, plus basic auth (bcrypt cost 4; default user alice/secret1);
- `token`: TLS plus bearer-token auth; a `TokenIssuer` (signer cert chained to the same CA) runs in-process.

The `raw_get` / `tag_manifest_digest` helpers let a test look at what the registry holds without the code under test.
Another registry (olareg, which serves the OCI 1.1 referrers API) runs through the same class with its own `argv`.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .fault_proxy import free_port
from .token_issuer import TokenIssuer

__all__ = ["ALICE", "BOB", "MANIFEST_ACCEPT", "RegistryError", "RegistryMode", "RegistryServer", "TestPki",
           "olareg_argv"]

ALICE = ("alice", "secret1")
BOB = ("bob", "secret2")

# Every manifest type distribution 2.8 serves; HEAD/GET without an index type in Accept 404s on an index.
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

_READY_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0
_REQUEST_TIMEOUT = 10.0
_START_ATTEMPTS = 3  # a free port can be taken between probing and binding


class RegistryError(RuntimeError):
    """The registry process did not start or answer; the message carries the tail of its log."""


class RegistryMode(enum.StrEnum):
    ANONYMOUS = "anonymous"
    HTPASSWD = "htpasswd"
    TOKEN = "token"


class TestPki:
    """A private CA with a TLS server cert (SAN 127.0.0.1, localhost) and a token-signing cert, all made in memory."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self._not_before = now - datetime.timedelta(minutes=5)
        self._not_after = now + datetime.timedelta(days=2)
        self.ca_key = _rsa_key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gl-ocm test CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key())
        self.ca_cert = (
            self._builder(ca_name, ca_name, self.ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(ca_ski, critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.server_key = _rsa_key()
        self.server_cert = (
            self._leaf("127.0.0.1", self.server_key)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        # No EKU on the signer: distribution verifies the x5c chain with Go's default (serverAuth) usage,
        # which a cert without EKU satisfies and e.g. a codeSigning-only cert does not.
        self.signer_key = _rsa_key()
        self.signer_cert = (
            self._leaf("gl-ocm token signer", self.signer_key)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )

    def write(self, directory: Path) -> dict[str, Path]:
        """Write ca.crt, server.crt, server.key into `directory`; return their paths by stem."""
        files = {
            "ca": (directory / "ca.crt", _pem_cert(self.ca_cert)),
            "server_cert": (directory / "server.crt", _pem_cert(self.server_cert)),
            "server_key": (directory / "server.key", _pem_key(self.server_key)),
        }
        for path, data in files.values():
            path.write_bytes(data)
        (directory / "server.key").chmod(0o600)
        return {name: path for name, (path, _) in files.items()}

    def _builder(self, subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
        )

    def _leaf(self, common_name: str, key: rsa.RSAPrivateKey) -> x509.CertificateBuilder:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        ca_ski = self.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (
            self._builder(name, self.ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        )


class RegistryServer:
    """One `docker-registry serve` process on 127.0.0.1 with its own storage; use `with` or `start()`/`stop()`."""

    def __init__(
        self,
        mode: RegistryMode | str = RegistryMode.ANONYMOUS,
        *,
        users: Mapping[str, str] | None = None,
        executable: str = "docker-registry",
        workdir: Path | None = None,
        argv: Callable[[RegistryServer, Path], list[str]] | None = None,
    ) -> None:
        self.mode = RegistryMode(mode)
        self.argv = argv  # the command line from (server, config file), for registries that are not distribution
        self.users = dict(users if users is not None else [ALICE])
        self.executable = executable
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="gl-ocm-registry-"))
        self.storage = self.workdir / "data"
        self.log_file = self.workdir / "registry.log"
        self.ca_file: Path | None = None
        self.cert_dir: Path | None = None  # holds only ca.crt: skopeo --cert-dir / --dest-cert-dir
        self.issuer: TokenIssuer | None = None
        self.port = 0
        self._pki: TestPki | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: requests.Session | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Write the config, start the process and wait for `/v2/`; raise `RegistryError` with the log tail."""
        if self._proc is not None:
            return self
        try:
            self._prepare()
            for attempt in range(1, _START_ATTEMPTS + 1):
                self.port = free_port()
                config = self._write_config()
                if self._launch(config, last_attempt=attempt == _START_ATTEMPTS):
                    return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Terminate the registry by PID (kill after a timeout), stop the issuer, remove the temporary directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
        if self.issuer is not None:
            self.issuer.stop()
            self.issuer = None
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.mode is not RegistryMode.ANONYMOUS

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`: the netloc for image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """`http(s)://127.0.0.1:PORT` without a trailing slash."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def verify(self) -> str | bool:
        """The `verify=` value for requests: the CA file in TLS modes, else True."""
        return str(self.ca_file) if self.ca_file is not None else True

    @property
    def credentials(self) -> tuple[str, str] | None:
        """A read-write user (alice) for the auth modes, None for anonymous."""
        if self.mode is RegistryMode.ANONYMOUS:
            return None
        if self.mode is RegistryMode.TOKEN or ALICE[0] in self.users:
            return ALICE[0], self.users.get(ALICE[0], ALICE[1])
        return next(iter(self.users.items()))

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no registry log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- inspection helpers ------------------------------------------------------------------------------------------

    def raw_get(self, path: str, *, headers: Mapping[str, str] | None = None, method: str = "GET") -> requests.Response:
        """Request `path` (e.g. `/v2/repo/tags/list`) as the read-write user, bearer token fetched if challenged."""
        session = self._http()
        url = self.url + path
        hdrs = dict(headers or {})
        response = session.request(method, url, headers=hdrs, auth=self._basic_auth(), timeout=_REQUEST_TIMEOUT)
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer ") and self.issuer is not None:
            user, password = self.credentials or ALICE
            scope = _parse_challenge(challenge).get("scope", "")
            token = self.issuer.fetch_token(scope.split() if scope else [], auth=(user, password))
            hdrs["Authorization"] = f"Bearer {token}"
            response = session.request(method, url, headers=hdrs, timeout=_REQUEST_TIMEOUT)
        return response

    def tag_manifest_digest(self, repo: str, tag: str) -> str | None:
        """The digest the registry serves for `repo:tag` (HEAD manifests, any manifest type), None if absent."""
        response = self.raw_get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}, method="HEAD")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    # -- internals ---------------------------------------------------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False  # ignore REQUESTS_CA_BUNDLE and proxy variables: loopback, our CA
            session.verify = self.verify
            self._session = session
        return self._session

    def _basic_auth(self) -> tuple[str, str] | None:
        return self.credentials if self.mode is RegistryMode.HTPASSWD else None

    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        if not self.tls:
            return
        self._pki = TestPki()
        paths = self._pki.write(self.workdir)
        self.ca_file = paths["ca"]
        self.cert_dir = self.workdir / "certs.d"
        self.cert_dir.mkdir(exist_ok=True)
        shutil.copy(self.ca_file, self.cert_dir / "ca.crt")  # skopeo reads *.crt only
        if self.mode is RegistryMode.HTPASSWD:
            (self.workdir / "htpasswd").write_text("".join(_htpasswd_line(u, p) for u, p in self.users.items()))
        elif self.mode is RegistryMode.TOKEN:
            self.issuer = TokenIssuer(signer_key=self._pki.signer_key, signer_cert=self._pki.signer_cert).start()

    def _write_config(self) -> Path:
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "redirect": {"disable": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "gl-ocm-test-registry-secret"},
        }
        if self.tls:
            config["http"]["tls"] = {
                "certificate": str(self.workdir / "server.crt"),
                "key": str(self.workdir / "server.key"),
            }
        if self.mode is RegistryMode.HTPASSWD:
            config["auth"] = {"htpasswd": {"realm": "gl-ocm-test", "path": str(self.workdir / "htpasswd")}}
        elif self.mode is RegistryMode.TOKEN:
            assert self.issuer is not None
            config["auth"] = {
                "token": {
                    "realm": self.issuer.realm,
                    "service": self.issuer.service,
                    "issuer": self.issuer.issuer,
                    "rootcertbundle": str(self.ca_file),
                }
            }
        path = self.workdir / "config.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def _launch(self, config: Path, *, last_attempt: bool) -> bool:
        """Start the process and poll `/v2/`; False if it lost the race for its port and may be retried."""
        # REGISTRY_* variables override the config file; keep the caller's out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env["OTEL_TRACES_EXPORTER"] = "none"  # distribution v3 would otherwise try to export traces
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv(self, config) if self.argv else [self.executable, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        session = self._http()
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail, code = self.log_tail(), self._proc.returncode
                self._proc = None
                if "address already in use" in tail and not last_attempt:
                    return False
                raise RegistryError(f"{self.executable} exited ({code}) before it was ready on {self.host}:\n{tail}")
            try:
                status = session.get(self.url + "/v2/", timeout=1.0).status_code
            except requests.RequestException:
                status = None
            if status in (200, 401):
                return True
            time.sleep(0.05)
        raise RegistryError(
            f"{self.executable} did not answer GET {self.url}/v2/ within {_READY_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=_STOP_TIMEOUT)


def _htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line at cost 4 (the registry runs bcrypt on every request; higher costs slow tests)."""
    try:
        import bcrypt  # type: ignore[import-not-found]  # optional, not a project dependency
    except ImportError:
        tool = shutil.which("htpasswd")
        if tool is None:
            raise RegistryError("htpasswd mode needs the Python package bcrypt or `htpasswd` (apache2-utils)") from None
        result = subprocess.run(
            [tool, "-Bbn", "-C", "4", user, password], capture_output=True, text=True, check=True, timeout=30
        )
        return result.stdout.strip() + "\n"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


def _parse_challenge(header: str) -> dict[str, str]:
    """Parameters of a `Bearer k="v",k2="v2"` challenge (values have no embedded quotes in distribution's)."""
    _, _, params = header.partition(" ")
    result: dict[str, str] = {}
    for part in params.split('",'):
        key, _, value = part.strip().partition("=")
        result[key.strip()] = value.strip().strip('"')
    return result


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def olareg_argv(server: RegistryServer, config: Path) -> list[str]:
    """olareg's command line (it takes flags, not distribution's config file): plain http, deletes allowed."""
    return [server.executable, "serve", "--addr", "127.0.0.1", "--port", str(server.port), "--dir",
            str(server.storage), "--api-delete", "--store-type", "dir"]
