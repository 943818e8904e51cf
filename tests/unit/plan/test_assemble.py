"""Per-flavor publish and assemble on an OCI layout: the one-shot digests, from partial build outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from gardenlinux_ocm import api
from gardenlinux_ocm.cli import app
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.plan.model import ReleasePlan
from support.release import COMPONENTS, VERSION, publish_args

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())




def _only(samples: Path, tmp_path: Path, flavor: str) -> Path:
    """A build output holding one flavor's files only, as a flavor job's runner has it."""
    out = tmp_path / f"art-{flavor}"
    out.mkdir()
    base = flavor.rsplit("-", 1)
    for f in samples.glob(f"{base[0]}-{base[1]}-{VERSION}-*"):
        shutil.copy(f, out / f.name)
    return out


def test_flavor_jobs_from_their_own_files_then_assemble_equal_the_one_shot_publish(
    samples: Path, tmp_path: Path, published_plan: tuple[Path, ReleasePlan]
) -> None:
    layout = tmp_path / "oci"
    spec, _ = api.plan_release(COMPONENTS, VERSION, samples)
    for flavor in spec.flavors:
        _cli(*publish_args(_only(samples, tmp_path, flavor.name), f"oci-layout:{layout}", "--flavor", flavor.name))
    _cli(*publish_args(samples, f"oci-layout:{layout}", "--containers"))
    _cli("assemble", VERSION, "--to", f"oci-layout:{layout}", "--components", str(COMPONENTS))
    one_shot, plan = published_plan
    target, reference = LayoutTarget(layout, read_only=True), LayoutTarget(one_shot, read_only=True)
    for root in plan.roots:
        for tag in root.tags:
            assert target.resolve(root.repository, tag).digest == reference.resolve(root.repository, tag).digest
    assert api.verify(target, deep=True).ok


def test_a_flavor_published_from_another_spec_is_refused(samples: Path, tmp_path: Path, components: Path) -> None:
    layout = tmp_path / "oci"
    _cli(*publish_args(samples, f"oci-layout:{layout}"))
    release = components / "releases" / f"{VERSION}.yaml"
    release.write_text(release.read_text().replace("platformVariant: vmware", "platformVariant: esx"))
    # the flavor manifests do not depend on the variant: assembling with the changed spec moves only the component
    out = _cli("assemble", VERSION, "--to", f"oci-layout:{layout}", "--components", str(components), code=1)
    assert "already point at other content" in out and "component-descriptors/github.com/gardenlinux/gardenlinux" in out
    release.write_text(release.read_text().replace("features: [_boot,", "features: [_boot, _fips,", 1))
    out = _cli("assemble", VERSION, "--to", f"oci-layout:{layout}", "--components", str(components), code=2)
    assert "but this spec makes" in out and "publish it again with --flavor" in out


def test_bad_flavor_selections_exit_2(samples: Path, tmp_path: Path) -> None:
    target = f"oci-layout:{tmp_path / 'oci'}"
    out = _cli(*publish_args(samples, target, "--flavor", "aws-gardener_prod-amd46"), code=2)
    assert "not a flavor of release 1473.0" in out and "aws-gardener_prod-amd64" in out
    out = _cli(*publish_args(samples, target, "--flavor", "aws-gardener_prod-amd64", "--sign-key", str(samples)),
               code=2)
    assert not (tmp_path / "oci").exists()
