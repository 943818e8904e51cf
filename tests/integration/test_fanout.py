"""Publishing the way Garden Linux builds: one job per flavor, concurrently, then assemble, on a real registry.

Eight processes publish the flavors at the same time (each its share, with `--flavor`), a ninth the containers;
`gl-ocm assemble` then computes the release index and component from what the registry holds. The digests must be
those of a one-shot publish, on Debian's distribution 2.8 and on distribution v3.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.oci.registry import RegistryTarget
from gardenlinux_ocm.plan.model import ReleasePlan
from gardenlinux_ocm.targets import addressing_for
from support.registry import RegistryServer
from support.release import COMPONENTS, VERSION, publish_args

pytestmark = pytest.mark.registry
JOBS = 8


def _gl_ocm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gardenlinux_ocm", *args], capture_output=True, text=True,
                          timeout=300)


def _tags(base: str, plan: ReleasePlan) -> dict[str, str | None]:
    target = RegistryTarget(base=base, credentials=lambda host: None)
    out: dict[str, str | None] = {}
    for root in plan.roots:
        for tag in root.tags:
            try:
                out[f"{root.repository}:{tag}"] = target.resolve(root.repository, tag).digest
            except Exception:  # noqa: BLE001 - absent
                out[f"{root.repository}:{tag}"] = None
    target.close()
    return out


@pytest.fixture(params=["distribution-2.8", "distribution-v3"])
def server(request: pytest.FixtureRequest) -> RegistryServer:
    fixture = "registry" if request.param == "distribution-2.8" else "registry_v3"
    value: RegistryServer = request.getfixturevalue(fixture)
    return value


def test_eight_concurrent_flavor_jobs_then_assemble_give_the_one_shot_digests(
    server: RegistryServer, samples: Path, request: pytest.FixtureRequest
) -> None:
    base = f"{server.host}/fanout-{request.node.callspec.id}"
    spec, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
    flavors = [f.name for f in spec.flavors]
    shares = [flavors[i::JOBS] for i in range(JOBS)]
    late = shares[-1].pop()  # published after a first assemble

    def job(names: list[str]) -> subprocess.CompletedProcess[str]:
        return _gl_ocm(*publish_args(samples, base, *[a for n in names for a in ("--flavor", n)]))

    with ThreadPoolExecutor(max_workers=JOBS + 1) as pool:
        runs = list(pool.map(job, shares)) + [pool.submit(_gl_ocm, *publish_args(samples, base, "--containers"))
                                               .result()]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs if r.returncode]

    early = _gl_ocm("assemble", VERSION, "--to", base, "--components", str(COMPONENTS))
    assert early.returncode == 1 and late in early.stderr and "nothing was assembled" in early.stderr
    assert _tags(base, plan)[f"gardenlinux:{VERSION}"] is None  # nothing written

    assert job([late]).returncode == 0
    first = _gl_ocm("assemble", VERSION, "--to", base, "--components", str(COMPONENTS))
    assert first.returncode == 0, first.stderr
    expected = {f"{r.repository}:{t}": r.descriptor.digest for r in plan.roots for t in r.tags}
    assert _tags(base, plan) == expected

    again = _gl_ocm("assemble", VERSION, "--to", base, "--components", str(COMPONENTS), "--output", "json")
    assert again.returncode == 0 and '"tags_set": 0' in again.stdout and '"manifests_pushed": 0' in again.stdout
    rerun = job(shares[0])  # a flavor job run again changes nothing
    assert rerun.returncode == 0 and _tags(base, plan) == expected
