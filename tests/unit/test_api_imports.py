"""Publishing without signing does not load what only signing and verifying need (cryptography, the OCM model)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_api_and_the_cli_load_no_signing_libraries() -> None:
    code = (
        "import json, sys, gardenlinux_ocm.api, gardenlinux_ocm.cli.app;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                           text=True).stdout))
    assert not loaded & {"cryptography", "ocm", "rfc8785"}


def test_signing_and_verifying_load_on_first_use() -> None:
    from gardenlinux_ocm import api, trust
    from gardenlinux_ocm.trust.sign import sign_plan
    from gardenlinux_ocm.trust.verify import verify

    assert api.sign_plan is sign_plan and api.verify is verify and trust.verify is verify
