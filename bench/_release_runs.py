"""The measured commands of `bench/release.py`: skopeo, `gl-ocm publish` (and again), the fan-out and the plan alone,
each as its own process under GNU time (wall time, peak RSS), each against a fresh registry and with a digest cache
of its own; and one counted publish through the fault proxy of the tests (no faults), for the requests by class and
the manifest bytes sent."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _release_gen import Case

from support.fault_proxy import FaultProxy, path_class
from support.registry import MANIFEST_ACCEPT, RegistryServer

__all__ = ["FANOUT_JOBS", "Bench", "Counted", "Run"]

GNU_TIME = "/usr/bin/time"
FANOUT_JOBS = 8  # concurrent flavor jobs, as tools/release-workflow.sh; the containers job runs beside them
_GL_OCM = [sys.executable, "-m", "gardenlinux_ocm"]
# skopeo remembers where it saw a blob and would mount it instead of sending it; each run starts without that.
_SKOPEO_CACHES = (Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
                  Path.home() / ".local/share/containers/cache/blob-info-cache-v1.boltdb")
_TIMEOUT = 3600.0
_CACHE_VARIABLE = "GL_OCM_CACHE_DIR"  # where gl-ocm keeps the digests of files it has hashed


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One measured command (or group of concurrent ones): wall time, peak RSS of the largest process, outputs."""

    seconds: float
    rss_mib: float
    stdout: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Counted:
    """What the registry saw of one command: requests by `METHOD class`, and manifests PUT (count, bytes) against
    the distinct manifests they stored (count, bytes)."""

    requests: dict[str, int]
    manifest_puts: int
    manifest_bytes_sent: int
    manifests_stored: int
    manifest_bytes_stored: int
    repeated: tuple[str, ...]  # the references PUT of each manifest PUT more than once, `repo:a repo:b`
    stats: dict[str, Any]


class Bench:
    """Runs the commands of one case with a shared environment; registries live under `workdir/registries`."""

    def __init__(self, workdir: Path, jobs: int | None) -> None:
        self.workdir = workdir
        self.jobs = () if jobs is None else ("--jobs", str(jobs))
        (workdir / "registries").mkdir(parents=True, exist_ok=True)
        (workdir / "tmp").mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GL_OCM_")}
        self.env["TMPDIR"] = str(workdir / "tmp")

    # -- processes ---------------------------------------------------------------------------------------------------

    def run(self, *commands: list[str], cache: Path | None = None) -> Run:
        """Start the commands at once under GNU time, wait for all; exit naming the first that failed.

        gl-ocm's digest cache is `cache`, or else an empty one: a first publish hashes every file, as after a build."""
        with tempfile.TemporaryDirectory(dir=self.workdir / "tmp") as tmp:
            env = {**self.env, _CACHE_VARIABLE: str(cache or Path(tmp) / "digest-cache")}
            procs = []
            started = time.perf_counter()
            for i, cmd in enumerate(commands):
                out, err = (Path(tmp) / f"{i}.out").open("wb"), (Path(tmp) / f"{i}.err").open("wb")
                procs.append(subprocess.Popen([GNU_TIME, "-f", "%M", "-o", f"{tmp}/{i}.rss", *cmd], env=env,
                                              stdin=subprocess.DEVNULL, stdout=out, stderr=err))
                out.close()
                err.close()
            codes = [p.wait(timeout=_TIMEOUT) for p in procs]
            seconds = time.perf_counter() - started
            for i, code in enumerate(codes):
                if code != 0:
                    err_text = (Path(tmp) / f"{i}.err").read_text(errors="replace")[-4000:]
                    raise SystemExit(f"failed (exit {code}): {' '.join(commands[i])}\n{err_text}")
            rss = max(int((Path(tmp) / f"{i}.rss").read_text().split()[-1]) for i in range(len(commands)))
            stdout = tuple((Path(tmp) / f"{i}.out").read_text() for i in range(len(commands)))
        return Run(seconds=seconds, rss_mib=rss / 1024, stdout=stdout)  # GNU time: KiB

    @contextlib.contextmanager
    def digest_cache(self) -> Iterator[Path]:
        """An empty directory for gl-ocm's digest cache, shared by the commands given it, removed afterwards."""
        directory = Path(tempfile.mkdtemp(prefix="digest-cache-", dir=self.workdir / "tmp"))
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    @contextlib.contextmanager
    def registry(self) -> Iterator[RegistryServer]:
        """A fresh registry whose storage is under the work directory (the file system of the artefacts); removed
        after the run."""
        directory = Path(tempfile.mkdtemp(prefix="registry-", dir=self.workdir / "registries"))
        try:
            with RegistryServer(workdir=directory) as server:
                yield server
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    # -- the commands ------------------------------------------------------------------------------------------------

    def skopeo(self, case: Case, host: str) -> Run:
        for cache in _SKOPEO_CACHES:
            cache.unlink(missing_ok=True)
        return self.run(["skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
                         case.skopeo_source, f"docker://{host}/gardenlinux:{case.version}"])

    def _publish_args(self, case: Case, host: str, *extra: str) -> list[str]:
        return [*_GL_OCM, "publish", case.version, "--to", host, "--artefacts", str(case.artefacts),
                "--components", str(case.components), *self.jobs, *extra]

    def publish(self, case: Case, host: str, cache: Path | None = None) -> Run:
        return self.run(self._publish_args(case, host, "--output", "json"), cache=cache)

    def fanout(self, case: Case, host: str) -> tuple[Run, Run]:
        """The flavor jobs (each a share of the flavors) and the containers job at once, then assemble."""
        shares = [case.flavors[i::FANOUT_JOBS] for i in range(FANOUT_JOBS)]
        jobs = [self._publish_args(case, host, *(a for f in share for a in ("--flavor", f))) for share in shares]
        publish = self.run(*jobs, self._publish_args(case, host, "--containers"))
        assemble = self.run([*_GL_OCM, "assemble", case.version, "--to", host, "--components", str(case.components),
                             *self.jobs])
        return publish, assemble

    def plan(self, case: Case) -> Run:
        """What publish does before its first request: scan and hash the build output, render the descriptors."""
        return self.run([*_GL_OCM, "render", case.version, "--artefacts", str(case.artefacts), "--components",
                         str(case.components), "--format", "json", "--output-file", os.devnull])

    # -- checks and counts -------------------------------------------------------------------------------------------

    @staticmethod
    def check(case: Case, server: RegistryServer, expected: str) -> None:
        """The release index the command left on the registry is the layout's (every command sends the same)."""
        found = server.tag_manifest_digest("gardenlinux", case.version)
        if found != expected:
            raise SystemExit(f"{case.name}: the registry holds gardenlinux:{case.version} at {found}, not {expected}")

    def counted(self, case: Case, expected: str) -> dict[str, Counted]:
        """skopeo to one registry, publish and publish again to another, each through a fresh proxy, counted."""
        out: dict[str, Counted] = {}
        with self.registry() as server, FaultProxy(server.url, max_connections=64) as proxy:
            self.skopeo(case, proxy.host)
            self.check(case, server, expected)
            out["skopeo"] = _count(proxy, server, {})
        with self.registry() as server, FaultProxy(server.url, max_connections=64) as proxy, \
                self.digest_cache() as cache:
            for name in ("publish", "republish"):  # one proxy: the descriptors name its address both times
                proxy.reset()
                run = self.publish(case, proxy.host, cache)
                self.check(case, server, expected)
                out[name] = _count(proxy, server, json.loads(run.stdout[0]).get("stats", {}))
        return out


def _count(proxy: FaultProxy, server: RegistryServer, stats: dict[str, Any]) -> Counted:
    """The proxy's counts, and the size and digest of each manifest PUT, read back from the registry by its
    reference (a fresh registry, where no tag moves: what a reference holds is what was sent to it)."""
    puts = [urllib.parse.urlsplit(target).path for method, target in proxy.seen
            if method == "PUT" and path_class(target) == "manifests"]
    stored: dict[str, int] = {}
    references: dict[str, list[str]] = {}
    sent = 0
    for path in puts:
        response = server.raw_get(path, headers={"Accept": MANIFEST_ACCEPT}, method="HEAD")
        response.raise_for_status()
        size, digest = int(response.headers["Content-Length"]), response.headers["Docker-Content-Digest"]
        sent += size
        stored[digest] = size
        repository, _, reference = path.removeprefix("/v2/").rpartition("/manifests/")
        references.setdefault(digest, []).append(f"{repository}:{reference}")
    requests = Counter({f"{m} {c}": n for (m, c), n in proxy.counts.items()})
    return Counted(requests=dict(sorted(requests.items())), manifest_puts=len(puts), manifest_bytes_sent=sent,
                   manifests_stored=len(stored), manifest_bytes_stored=sum(stored.values()),
                   repeated=tuple(" ".join(refs) for refs in references.values() if len(refs) > 1), stats=stats)
