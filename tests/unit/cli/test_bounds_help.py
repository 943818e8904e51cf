"""`gl-ocm --help` (and docs/cli.md) states the bounds on peers with the numbers the code uses."""

from __future__ import annotations

import re

from gardenlinux_ocm.bounded import LIMITS, MAX_DEPTH
from gardenlinux_ocm.cli.app import BOUNDS_EPILOG
from gardenlinux_ocm.cli.common import BOUND_VARIABLES, make_signer, network_bounds
from gardenlinux_ocm.oci.registry import RetryPolicy, Timeouts


def _stated(name: str) -> float:
    match = re.search(rf"{name}\s.*?\[default: ([0-9.]+)\]", BOUNDS_EPILOG, re.S)
    assert match, name
    return float(match[1])


def test_the_help_states_the_defaults_of_the_code() -> None:
    timeout, retry = Timeouts(), RetryPolicy()
    defaults = {"connect": timeout.connect, "read": timeout.read, "operation": retry.operation, "total": retry.total}
    for name, field in BOUND_VARIABLES.items():
        assert _stated(name) == defaults[field], name
    assert f"[{make_signer.__kwdefaults__['timeout']:g}]" in BOUNDS_EPILOG
    assert f"manifests and indexes {LIMITS.manifest >> 20} MiB" in BOUNDS_EPILOG
    assert f"component descriptors {LIMITS.descriptor >> 20} MiB" in BOUNDS_EPILOG
    assert f"token answers {LIMITS.token >> 10} KiB" in BOUNDS_EPILOG
    assert f"at most {MAX_DEPTH} levels" in " ".join(BOUNDS_EPILOG.split())


def test_the_variables_set_the_bounds() -> None:
    timeout, retry = network_bounds({"GL_OCM_READ_TIMEOUT": "2.5", "GL_OCM_DEADLINE": "7", "GL_OCM_RETRY_BUDGET": ""})
    assert timeout == Timeouts(read=2.5) and retry == RetryPolicy(operation=7)
