"""Credentials from auth files, environment and command line: precedence, host matching, decoding, errors."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from gardenlinux_ocm.errors import UsageError
from gardenlinux_ocm.oci.registry.credentials import (
    auth_file_candidates,
    credentials_lookup,
    load_auth_files,
    normalise_host,
)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_candidates_in_precedence_order(tmp_path: Path) -> None:
    env = {
        "REGISTRY_AUTH_FILE": str(tmp_path / "explicit.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    assert auth_file_candidates(env, tmp_path / "home") == [
        tmp_path / "explicit.json",
        tmp_path / "run" / "containers" / "auth.json",
        tmp_path / "docker" / "config.json",
        tmp_path / "home" / ".docker" / "config.json",
    ]


def test_candidates_without_environment_is_home_only(tmp_path: Path) -> None:
    assert auth_file_candidates({"DOCKER_CONFIG": ""}, tmp_path) == [tmp_path / ".docker" / "config.json"]


def test_candidates_drop_duplicates(tmp_path: Path) -> None:
    home_file = tmp_path / ".docker" / "config.json"
    assert auth_file_candidates({"REGISTRY_AUTH_FILE": str(home_file)}, tmp_path) == [home_file]


def test_earlier_file_wins_and_missing_files_are_skipped(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", {"auths": {"127.0.0.1:5000": {"auth": _auth("alice", "one")}}})
    second = _write(
        tmp_path / "b.json",
        {"auths": {"127.0.0.1:5000": {"auth": _auth("bob", "two")}, "ghcr.io": {"auth": _auth("carol", "3")}}},
    )
    files = load_auth_files([tmp_path / "missing.json", first, second])
    assert files == {"127.0.0.1:5000": ("alice", "one"), "ghcr.io": ("carol", "3")}


def test_ports_are_matched_exactly(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "auth.json",
        {
            "auths": {
                "127.0.0.1:5999": {"auth": _auth("other", "x")},
                "127.0.0.1:5000": {"auth": _auth("alice", "secret1")},
            }
        },
    )
    lookup = credentials_lookup(None, None, load_auth_files([path]))
    assert lookup("127.0.0.1:5000") == ("alice", "secret1")
    assert lookup("127.0.0.1:5999") == ("other", "x")
    assert lookup("127.0.0.1") is None
    assert lookup("127.0.0.1:6000") is None


def test_docker_style_keys_and_plain_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": _auth("hub", "pw")},
                "https://registry.example.com:8443/v2/": {"username": "u", "password": "p:with:colons"},
                "quay.io/some-org": {"auth": _auth("scoped", "ignored")},
            }
        },
    )
    lookup = credentials_lookup(None, None, load_auth_files([path]))
    assert lookup("registry-1.docker.io") == ("hub", "pw")
    assert lookup("registry.example.com:8443") == ("u", "p:with:colons")
    assert lookup("quay.io") is None


def test_base64_auth_is_decoded_with_colons_in_the_password(tmp_path: Path) -> None:
    unpadded = _auth("alice", "se:cr:et").rstrip("=")
    path = _write(tmp_path / "auth.json", {"auths": {"h:1": {"auth": unpadded}}})
    assert load_auth_files([path]) == {"h:1": ("alice", "se:cr:et")}


def test_precedence_explicit_over_environment_over_files(tmp_path: Path) -> None:
    files = {"h:1": ("file-user", "file-pw")}
    assert credentials_lookup(("cli", "a"), ("env", "b"), files)("h:1") == ("cli", "a")
    assert credentials_lookup(None, ("env", "b"), files)("h:1") == ("env", "b")
    assert credentials_lookup(None, None, files)("h:1") == ("file-user", "file-pw")
    assert credentials_lookup(None, None, files)("other:2") is None


def test_credential_helpers_are_skipped_with_a_debug_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(
        tmp_path / "config.json",
        {"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}, "auths": {"gcr.io": {}}},
    )
    with caplog.at_level(logging.DEBUG, logger="gardenlinux_ocm.oci.registry.credentials"):
        assert load_auth_files([path]) == {}
    text = caplog.text
    assert "credsStore" in text and "credHelpers" in text


def test_bad_json_names_the_file_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text('{"auths": {"h:1": {"auth": "c2VjcmV0LXBhc3N3b3Jk"}}, oops')
    with pytest.raises(UsageError) as info:
        load_auth_files([path])
    text = str(info.value)
    assert str(path) in text and "not valid JSON" in text
    assert "c2VjcmV0LXBhc3N3b3Jk" not in text and "oops" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_bad_base64_names_the_file_and_host(tmp_path: Path) -> None:
    path = _write(tmp_path / "auth.json", {"auths": {"h:1": {"auth": "not base64 !!"}}})
    with pytest.raises(UsageError) as info:
        load_auth_files([path])
    assert str(path) in str(info.value) and "'h:1'" in str(info.value)
    assert "not base64 !!" not in str(info.value)


def test_auth_without_colon_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "auth.json", {"auths": {"h:1": {"auth": base64.b64encode(b"justuser").decode()}}})
    with pytest.raises(UsageError, match="not 'user:password'"):
        load_auth_files([path])


def test_auths_must_be_an_object(tmp_path: Path) -> None:
    path = _write(tmp_path / "auth.json", {"auths": ["h:1"]})
    with pytest.raises(UsageError, match="'auths' is not a JSON object"):
        load_auth_files([path])


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://localhost:5000/v2/", "localhost:5000"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("GHCR.IO", "ghcr.io"),
        ("[::1]:5000", "[::1]:5000"),
        ("quay.io/org", None),
        ("", None),
    ],
)
def test_normalise_host(key: str, host: str | None) -> None:
    assert normalise_host(key) == host
