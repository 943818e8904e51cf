"""Where basic credentials may go in the bearer-token flow: HTTPS anywhere, plain HTTP only to the registry's host."""

from __future__ import annotations

import pytest

from gardenlinux_ocm.oci.registry.auth import may_send_credentials


@pytest.mark.parametrize(
    ("api", "realm", "allowed"),
    [
        ("https://registry-1.docker.io/v2/", "https://auth.docker.io/token", True),  # another host, over HTTPS
        ("https://ghcr.io/v2/", "https://ghcr.io/token", True),
        ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5001/token", True),  # its own host, another port
        ("https://127.0.0.1:5000/v2/", "http://127.0.0.1:5001/token", True),  # loopback: never leaves the machine
        ("http://registry.lan:5000/v2/", "http://registry.lan/token", True),  # a plain-HTTP registry's own host
        ("https://registry.example/v2/", "http://registry.example/token", False),  # a downgrade on the network
        ("http://localhost:5000/v2/", "http://127.0.0.1:5001/token", False),  # another host by name
        ("http://127.0.0.1:5000/v2/", "http://attacker.example/token", False),
        ("https://ghcr.io/v2/", "http://auth.example/token", False),
        ("https://ghcr.io/v2/", "ftp://ghcr.io/token", False),
        ("https://ghcr.io/v2/", "http://[::1/token", False),  # malformed
        ("https://ghcr.io/v2/", "/token", False),  # no host
    ],
)
def test_credentials_go_to_a_realm_over_https_or_to_the_registrys_own_host(api: str, realm: str,
                                                                           allowed: bool) -> None:
    assert may_send_credentials(api, realm) is allowed
