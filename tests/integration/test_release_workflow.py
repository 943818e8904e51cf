"""The release workflow on one machine: `tools/release-workflow.sh` against a real registry.

The script runs what `.github/workflows/release.yml` runs (eight concurrent flavor jobs and a containers job,
assemble, sign with a key it generates, verify). Afterwards the release must verify with that key, and every tag must
point where a one-shot publish signed with the same key points: PKCS#1 v1.5 signatures are deterministic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.oci.registry import RegistryTarget
from gardenlinux_ocm.ocm.signing import load_private_key, load_public_key
from gardenlinux_ocm.plan.model import RootKind
from gardenlinux_ocm.targets import addressing_for
from gardenlinux_ocm.trust.model import CheckKind
from support.registry import RegistryServer
from support.release import COMPONENTS, REPO, VERSION

pytestmark = pytest.mark.registry
SCRIPT = REPO / "tools" / "release-workflow.sh"
RELEASE = "github.com/gardenlinux/gardenlinux"


def _script(work: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)  # gl-ocm and python3 of this venv
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "WORK_DIR": str(work),
           "PYTHON": sys.executable, **extra}
    for name in ("GL_OCM_TARGET", "GL_OCM_OCM_REPOSITORY", "GL_OCM_COMPONENTS", "GL_OCM_SIGN_KEY",
                 "GL_OCM_SIGNER_COMMAND"):
        env.pop(name, None)
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("signer", ["key", "command"])
def test_the_release_workflow_script_publishes_signs_and_verifies_the_one_shot_release(
    registry: RegistryServer, samples: Path, tmp_path: Path, signer: str
) -> None:
    """With a key file, or through --signer-command as the workflow's KMS path: the same signed release."""
    base = f"{registry.host}/release-workflow-{signer}"
    work = tmp_path / "work"
    run = _script(work, VERSION, base, SIGN_WITH_COMMAND="1" if signer == "command" else "0")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in (work / "logs").iterdir()) == ["containers.log"] + [
        f"publish-{n}.log" for n in range(8)]
    assert "signed and verified" in run.stdout

    target = RegistryTarget(base=base, credentials=lambda host: None)
    try:
        key = load_public_key(work / "key.pub")
        report = api.verify(target, RELEASE, VERSION, deep=True, public_keys=[("gardenlinux", key)])
        assert report.ok, [c.to_dict() for c in report.failures]
        signatures = [c for c in report.checks if c.kind is CheckKind.SIGNATURE]
        assert signatures and all(c.ok and not c.skipped for c in signatures)

        _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
        signed = api.sign_plan(plan, load_private_key(work / "key.pem"))
        expected = {f"{r.repository}:{t}": r.descriptor.digest for r in signed.roots for t in r.tags}
        found = {ref: target.resolve(*ref.rsplit(":", 1)).digest for ref in expected}
    finally:
        target.close()
    assert found == expected
    kinds = {r.kind for r in signed.roots}
    assert kinds == {RootKind.FLAVOR, RootKind.CONTAINER, RootKind.CONTAINER_INDEX, RootKind.INDEX, RootKind.COMPONENT,
                     RootKind.REFERRER, RootKind.REFERRERS}  # the gdch flavors' SBOMs, with their fallback tags
    unsigned = {f"{r.repository}:{t}": r.descriptor.digest for r in plan.roots for t in r.tags}
    assert {ref for ref in expected if expected[ref] != unsigned[ref]} == {
        f"{r.repository}:{t}" for r in plan.roots if r.kind is RootKind.COMPONENT for t in r.tags}


def test_a_failed_job_fails_the_script_before_assemble(registry: RegistryServer, tmp_path: Path) -> None:
    run = _script(tmp_path / "work", VERSION, f"{registry.host}/release-workflow-failed", "not/a-target")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "9 job(s) failed" in run.stderr and "nothing was assembled" in run.stderr
    assert "not/a-target" in run.stderr  # each failed job's log is shown
    assert not (tmp_path / "work" / "key.pem").exists()
