"""Peers that lie: a registry or token service on loopback that misbehaves on purpose, and hand-made archives.

Each case runs `gl-ocm` in a subprocess against a `HostilePeer` that serves the published release 1473.0 as a
registry would, except for the one answer the case spoils (or against an archive or signer made for the case). It
asserts the exit code, one paragraph without a traceback, that nothing was written, the time bound and the child's
peak RSS. The bounds are set small through the environment (`GL_OCM_READ_TIMEOUT`, `GL_OCM_DEADLINE`,
`GL_OCM_RETRY_BUDGET`), as a user would set them.

The classes: documents nested 100,000 deep (manifests, token answers, artifact-index.json); hostile YAML
descriptors (50,000 deep, alias bombs) from a registry, a CTF and a component archive; endless and huge bodies;
stalls (over-long header lines, broken chunked bodies, silence after the headers, trickles, 500 on every
`_catalog`, blob GETs that never complete); damaged compression; redirects to `file:` and malformed URLs; partial
writes (download half-way, a CTF that lacks a blob, a registry that lies about a blob); aliases that are release
tags; credentials and token realms; signers that never exit or print without end. Commands: verify, copy,
download, sign, publish, assemble, tag, attach-images, cloud-profile.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.ocm.ctf import CtfTarget
from gardenlinux_ocm.ocm.serialise import descriptor_tar
from support.hostile_peer import Answer, HostilePeer, Misbehaviour, Run, run_gl_ocm
from support.published import VALID_YAML
from support.release import COMPONENTS, VERSION, publish_args

COMPONENT = f"github.com/gardenlinux/gardenlinux:{VERSION}"
BOUNDS = {"GL_OCM_CONNECT_TIMEOUT": "2", "GL_OCM_READ_TIMEOUT": "1", "GL_OCM_DEADLINE": "3",
          "GL_OCM_RETRY_BUDGET": "5"}
SECONDS = 20  # interpreter start, the deadline of one operation, a read timeout, and slack for a loaded machine
PEAK_MIB = 100
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def peer(published: Path) -> Iterator[HostilePeer]:
    with HostilePeer(published) as p:
        yield p


@pytest.fixture
def home(tmp_path: Path) -> str:
    directory = tmp_path / "home"
    directory.mkdir()
    return str(directory)


def flavor(published: Path) -> str:
    """A flavor of the published release, CNAME-ARCH."""
    prefix = f"{VERSION}-"
    tags = LayoutTarget(published, read_only=True).tags("gardenlinux")
    return next(t[len(prefix):] for t in tags if t.startswith(prefix) and "container" not in t and "." not in t[7:])


def refused(run: Run, code: int, *expected: str) -> str:
    """The run failed with `code` in bounded time and memory, with one paragraph (error, hint) on stderr; `verify`
    reports a failed check in its report instead."""
    print(f"\n{run.seconds:.1f} s, {run.peak_mib:.0f} MiB: {' '.join(run.output.split())[-300:]}")  # with -s
    assert run.code == code, run.output
    assert "Traceback" not in run.output, run.output
    assert run.seconds < SECONDS, f"{run.seconds:.1f} s: {run.output}"
    assert run.peak_mib < PEAK_MIB, f"{run.peak_mib:.0f} MiB: {run.output}"
    # Log lines, warnings (one line each at 1000 columns) and the progress line a transfer starts with are not
    # part of the error's paragraph.
    lines = [line for line in run.stderr.splitlines()
             if not line.startswith(("WARNING ", "INFO ", "warning: ", "copying: up to ", "publishing: up to "))]
    if "verification failed:" in run.stdout and not "".join(lines).strip():
        flat = " ".join(run.stdout.split())
        assert all(e in flat for e in expected), flat
        return flat
    text = "\n".join(lines).strip()
    assert text.startswith("error:"), run.stderr
    assert "\n\n" not in text, run.stderr
    flat = " ".join(text.split())
    for e in expected:
        assert e in flat, flat
    return flat


def _tree(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()} if directory.exists() else {}


# -- class 1: documents nested 100,000 deep ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "copy", "download"])
def test_a_deeply_nested_manifest_is_refused(peer: HostilePeer, published: Path, tmp_path: Path, home: str,
                                             command: str) -> None:
    out = tmp_path / "out"
    if command == "verify":
        peer.on("*", r"^/v2/component-descriptors/.*/manifests/", Answer.json_bytes(DEEP))
        args = ["verify", peer.host, COMPONENT]
    elif command == "copy":
        peer.on("*", r"/manifests/", Answer.json_bytes(DEEP))
        args = ["copy", peer.host, f"oci-layout:{out}"]
    else:
        peer.on("*", r"^/v2/gardenlinux/manifests/", Answer.json_bytes(DEEP))
        args = ["download", peer.host, VERSION, "--flavor", flavor(published), "-o", str(out)]
    refused(run_gl_ocm(args, home=home, env=BOUNDS), 1, "nested deeper than 64 levels")
    assert _tree(out) == {}


@pytest.mark.parametrize("body", [b'{"token": ' + b"[" * 100_000, None], ids=["deep", "endless"])
def test_a_hostile_token_answer_is_refused(peer: HostilePeer, home: str, body: bytes | None) -> None:
    realm = f'Bearer realm="http://{peer.host}/token",service="hostile"'
    peer.on("GET", r"^/v2/$", Answer(status=401, headers={"WWW-Authenticate": realm}))
    if body is None:
        peer.on("GET", r"^/token", Answer.json_bytes(b'{"token": "', media_type="application/json",
                                                     misbehaviour=Misbehaviour.ENDLESS))
        expected = "more than 256 KiB"
    else:
        peer.on("GET", r"^/token", Answer.json_bytes(body, media_type="application/json"))
        expected = "nested deeper than 64 levels"
    refused(run_gl_ocm(["verify", peer.host, COMPONENT], home=home, env=BOUNDS), 1, expected)



_WRITES = ("PUT", "POST", "PATCH", "DELETE")
SPOILED = {
    "deep-manifest": ("nested deeper than 64 levels",),
    "silent-manifest": ("deadline",),
    "endless-token": ("more than 256 KiB",),
}


def _spoil(peer: HostilePeer, how: str) -> None:
    if how == "deep-manifest":
        peer.on("*", r"/manifests/", Answer.json_bytes(DEEP))
    elif how == "silent-manifest":
        peer.on("*", r"/manifests/", Answer(misbehaviour=Misbehaviour.SILENT))
    else:
        realm = f'Bearer realm="http://{peer.host}/token",service="hostile"'
        peer.on("GET", r"^/v2/$", Answer(status=401, headers={"WWW-Authenticate": realm}))
        peer.on("GET", r"^/token", Answer.json_bytes(b'{"token": "', media_type="application/json",
                                                     misbehaviour=Misbehaviour.ENDLESS))


@pytest.mark.parametrize("how", sorted(SPOILED))
@pytest.mark.parametrize("command", ["publish", "assemble", "tag", "attach-images", "cloud-profile", "sign"])
def test_every_command_that_reads_a_registry_survives_it(peer: HostilePeer, samples: Path, tmp_path: Path,
                                                         home: str, key_files: tuple[Path, Path], command: str,
                                                         how: str) -> None:
    """Each command that reads the target meets each kind of hostile answer: exit 1, bounded, no write request."""
    _spoil(peer, how)
    images = tmp_path / "images.yaml"
    images.write_text(VALID_YAML)
    args = {
        "publish": [*publish_args(samples, peer.host), "--no-digest-cache"],
        "assemble": ["assemble", VERSION, "--components", str(COMPONENTS), "--to", peer.host],
        "tag": ["tag", peer.host, VERSION, "--alias", "latest"],
        "attach-images": ["attach-images", peer.host, VERSION, str(images)],
        "cloud-profile": ["cloud-profile", peer.host, VERSION, "-p", "aws"],
        "sign": ["sign", peer.host, COMPONENT, "-K", str(key_files[0])],
    }[command]
    text = refused(run_gl_ocm(args, home=home, env=BOUNDS), 1)
    assert any(e in text for e in SPOILED[how]), text
    assert [s for s in peer.seen if s.method in _WRITES] == []


def test_endless_bodies_on_answers_that_are_not_documents_cost_no_memory(peer: HostilePeer, home: str) -> None:
    """The /v2/ probe's body and an error answer's body are read up to 64 KiB, however long they are."""
    peer.on("GET", r"^/v2/$", Answer.json_bytes(b"{", media_type="application/json",
                                                  misbehaviour=Misbehaviour.ENDLESS))
    peer.on("GET", r"^/v2/component-descriptors/.*/manifests/", Answer(status=500, misbehaviour=Misbehaviour.ENDLESS))
    text = refused(run_gl_ocm(["verify", peer.host, COMPONENT], home=home, env=BOUNDS), 1, "500")
    assert "deadline" in text

# -- class 5: stalls ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "path"),
    [
        (Misbehaviour.LONG_HEADER, r"/manifests/"),
        (Misbehaviour.BROKEN_CHUNKED, r"/manifests/"),
        (Misbehaviour.STALL, r"/manifests/"),
        (Misbehaviour.SILENT, r"/manifests/"),
        (Misbehaviour.TRICKLE, r"/manifests/"),
        (Misbehaviour.STALL, r"/blobs/"),
        (Misbehaviour.SILENT, r"/blobs/"),
        (Misbehaviour.TRICKLE, r"/blobs/"),
        (Misbehaviour.BROKEN_CHUNKED, r"/blobs/"),
        (Misbehaviour.LONG_HEADER, r"/blobs/"),
    ],
    ids=["long-header", "broken-chunked", "stall-after-headers", "silent", "trickle", "blob-stall", "blob-silent",
         "blob-trickle", "blob-broken-chunked", "blob-long-header"],
)
def test_a_stalled_registry_ends_in_bounded_time(peer: HostilePeer, published: Path, tmp_path: Path, home: str,
                                                 misbehaviour: Misbehaviour, path: str) -> None:
    body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
    peer.on("GET", path, Answer.json_bytes(body, misbehaviour=misbehaviour, interval=0.4))
    out = tmp_path / "out"
    run = run_gl_ocm(["download", peer.host, VERSION, "--flavor", flavor(published), "-o", str(out)],
                     home=home, env=BOUNDS)
    refused(run, 1)
    assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


def test_a_catalog_that_always_fails_ends_at_the_deadline(peer: HostilePeer, tmp_path: Path, home: str) -> None:
    peer.on("GET", r"^/v2/_catalog", Answer(status=500, body=b"no"))
    out = tmp_path / "out"
    text = refused(run_gl_ocm(["copy", peer.host, f"oci-layout:{out}"], home=home, env=BOUNDS), 1, "_catalog")
    assert "deadline" in text or "budget" in text
    assert _tree(out) == {}


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf"])
def test_a_bound_that_is_no_number_of_seconds_is_bad_input(peer: HostilePeer, home: str, value: str) -> None:
    run = run_gl_ocm(["verify", peer.host, COMPONENT], home=home, env={**BOUNDS, "GL_OCM_DEADLINE": value})
    refused(run, 2, f"GL_OCM_DEADLINE={value!r} is no number of seconds")
    assert peer.seen == []


# -- class 7: redirects elsewhere -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "why"),
    [("file:///etc/passwd", "is no http(s) URL"), ("http://[::1", "is malformed")],
    ids=["file", "malformed"],
)
def test_a_blob_redirect_elsewhere_is_refused(peer: HostilePeer, published: Path, tmp_path: Path, home: str,
                                              location: str, why: str) -> None:
    peer.on("GET", r"/blobs/", Answer.redirect(location))
    out = tmp_path / "out"
    run = run_gl_ocm(["download", peer.host, VERSION, "--flavor", flavor(published), "-o", str(out)],
                     home=home, env=BOUNDS)
    refused(run, 1, why, "refused")
    assert _tree(out) == {}


# -- hand-made archives -------------------------------------------------------------------------------------------


def test_a_ctf_with_a_damaged_deflate_stream_is_refused(tmp_path: Path, home: str, published: Path) -> None:
    ctf = tmp_path / "release.tgz"
    good = run_gl_ocm(["copy", f"oci-layout:{published}", f"ctf:{ctf}"], home=home)
    assert good.code == 0, good.output
    data = bytearray(ctf.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeros in the middle of the deflate stream
    ctf.write_bytes(bytes(data))
    out = tmp_path / "out"
    refused(run_gl_ocm(["copy", f"ctf:{ctf}", f"oci-layout:{out}"], home=home), 2, "cannot decompress")
    assert _tree(out) == {}


def test_a_damaged_tgz_ctf_as_a_target_is_refused_and_left_alone(tmp_path: Path, home: str, published: Path) -> None:
    """The tar inside may end before the damage shows: the gzip trailer's CRC is checked all the same."""
    ctf = tmp_path / "release.tgz"
    assert run_gl_ocm(["copy", f"oci-layout:{published}", f"ctf:{ctf}"], home=home).code == 0
    data = bytearray(ctf.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    ctf.write_bytes(bytes(data))
    refused(run_gl_ocm(["copy", f"oci-layout:{published}", f"ctf:{ctf}"], home=home), 1,
            "cannot read the existing archive")
    assert ctf.read_bytes() == bytes(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "release.tgz"]  # no work directory left


def _archive(directory: Path, descriptor: str) -> Path:
    directory.mkdir()
    (directory / "component-descriptor.yaml").write_text(descriptor)
    (directory / "blobs").mkdir()
    return directory


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ("meta: {schemaVersion: v2}\ncomponent: " + "[" * 50_000, "nested deeper than 64 levels"),
        ("meta: {schemaVersion: v2}\ncomponent:\n  name: x\n  labels:\n    - &a [lol, lol, lol]\n    - [*a, *a, *a]\n",
         "anchors or aliases"),
    ],
    ids=["deep", "aliases"],
)
@pytest.mark.parametrize("command", ["cloud-profile", "verify", "copy"])
def test_a_hostile_descriptor_in_a_component_archive_is_refused(tmp_path: Path, home: str, descriptor: str,
                                                               expected: str, command: str) -> None:
    archive = _archive(tmp_path / "ca", descriptor)
    out = tmp_path / "out"
    args = {
        "cloud-profile": ["cloud-profile", f"ca:{archive}", VERSION, "-p", "aws"],
        "verify": ["verify", f"ca:{archive}"],
        "copy": ["copy", f"ca:{archive}", f"oci-layout:{out}"],
    }[command]
    refused(run_gl_ocm(args, home=home), 1, expected)
    assert _tree(out) == {}



BOMB = ("meta: {schemaVersion: v2}\ncomponent:\n  name: github.com/gardenlinux/gardenlinux\n  version: '1473.0'\n"
        "  labels:\n" + "".join(f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(12)))


def _hostile_component(target: LayoutTarget | CtfTarget, descriptor: str) -> None:
    """Store a component version of the release whose descriptor is `descriptor`, as OCM's OCI mapping has it."""
    layer_bytes = descriptor_tar(descriptor.encode())
    layer = descriptor_for(layer_bytes, MediaType.OCM_DESCRIPTOR_YAML_TAR)
    config_bytes = canonical_json({"componentDescriptorLayer": layer.to_dict()})
    config = descriptor_for(config_bytes, MediaType.OCM_CONFIG)
    manifest_bytes = canonical_json({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                                     "config": config.to_dict(), "layers": [layer.to_dict()]})
    manifest = descriptor_for(manifest_bytes, MediaType.OCI_MANIFEST)
    repository = "component-descriptors/github.com/gardenlinux/gardenlinux"
    for desc, data in ((layer, layer_bytes), (config, config_bytes), (manifest, manifest_bytes)):
        target.push(repository, desc, io.BytesIO(data))
    target.tag(repository, manifest, VERSION)


@pytest.mark.parametrize("descriptor", [BOMB, "component: " + "[" * 50_000], ids=["alias-bomb", "deep"])
@pytest.mark.parametrize("where", ["registry", "ctf"])
@pytest.mark.parametrize("command", ["verify", "cloud-profile"])
def test_a_hostile_descriptor_on_a_registry_or_in_a_ctf_is_refused(tmp_path: Path, home: str, descriptor: str,
                                                                   where: str, command: str) -> None:
    if where == "ctf":
        ctf = tmp_path / "ctf"
        with CtfTarget(ctf) as target:
            _hostile_component(target, descriptor)
        base, peer = f"ctf:{ctf}", None
    else:
        layout = tmp_path / "oci"
        _hostile_component(LayoutTarget(layout), descriptor)
        peer = HostilePeer(layout).start()
        base = peer.host
    try:
        args = ["verify", base, COMPONENT] if command == "verify" else ["cloud-profile", base, VERSION, "-p", "aws"]
        refused(run_gl_ocm(args, home=home, env=BOUNDS), 1, "anchor" if descriptor is BOMB else "deeper than 64")
    finally:
        if peer is not None:
            peer.stop()


def test_a_ctf_with_a_deep_artifact_index_is_refused(tmp_path: Path, home: str) -> None:
    ctf = tmp_path / "ctf"
    (ctf / "blobs").mkdir(parents=True)
    (ctf / "artifact-index.json").write_bytes(b'{"schemaVersion": 1, "artifacts": ' + b"[" * 100_000)
    out = tmp_path / "out"
    refused(run_gl_ocm(["copy", f"ctf:{ctf}", f"oci-layout:{out}"], home=home), 1, "nested deeper than 64")
    assert _tree(out) == {}

# -- external signers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signer", "expected"),
    [("sleep 30", "did not finish within 1 s"), ("yes", "more than"),
     ("sh -c 'yes error >&2'", "did not finish within 1 s")],
    ids=["never-exits", "endless-output", "endless-stderr"],
)
def test_a_hostile_signer_is_stopped(published: Path, tmp_path: Path, home: str, signer: str, expected: str) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    before = _tree(layout)
    run = run_gl_ocm(["sign", f"oci-layout:{layout}", COMPONENT, "--signer-command", signer, "--signer-timeout", "1"],
                     home=home)
    assert len(run.stderr) < 8 << 10, len(run.stderr)  # the signer's stderr is passed on up to 4 KiB
    run = dataclasses.replace(run, stderr=run.stderr[run.stderr.find("error: signing command"):])  # ours, after it
    refused(run, 2, expected)
    assert _tree(layout) == before


# -- class 8: all or nothing ----------------------------------------------------------------------------------------


def _flavor_layers(published: Path, name: str) -> list[dict[str, object]]:
    target = LayoutTarget(published, read_only=True)
    descriptor = target.resolve("gardenlinux", f"{VERSION}-{name}")
    with target.fetch("gardenlinux", descriptor) as f:
        layers: list[dict[str, object]] = json.loads(f.read())["layers"]
    return layers


@pytest.mark.parametrize("lie", ["digest", "size"])
def test_a_download_that_fails_half_way_keeps_no_file(peer: HostilePeer, published: Path, tmp_path: Path, home: str,
                                                      lie: str) -> None:
    name = flavor(published)
    last = _flavor_layers(published, name)[-1]
    size = int(str(last["size"]))
    body = b"x" * size if lie == "digest" else b"x" * (size + 10)
    peer.on("GET", f"/blobs/{last['digest']}", Answer(body=body))
    out = tmp_path / "out"
    refused(run_gl_ocm(["download", peer.host, VERSION, "--flavor", name, "-o", str(out)], home=home, env=BOUNDS), 1)
    assert not out.exists()  # every other file was complete and checked, but none is kept under its name


def test_a_download_from_a_damaged_layout_keeps_no_file(published: Path, tmp_path: Path, home: str) -> None:
    layout = tmp_path / "oci"
    shutil.copytree(published, layout)
    name = flavor(published)
    last = _flavor_layers(published, name)[-1]
    blob = layout / "gardenlinux" / "blobs" / "sha256" / str(last["digest"]).removeprefix("sha256:")
    blob.unlink()  # a hard link: write a new file, not into the shared one
    blob.write_bytes(b"x" * int(str(last["size"])))
    out = tmp_path / "out"
    refused(run_gl_ocm(["download", f"oci-layout:{layout}", VERSION, "--flavor", name, "-o", str(out)], home=home), 1,
            "does not match its descriptor")
    assert not out.exists()


def test_a_copy_from_a_registry_that_lies_about_a_blob_moves_no_tag(peer: HostilePeer, published: Path,
                                                                    tmp_path: Path, home: str) -> None:
    last = _flavor_layers(published, flavor(published))[-1]
    peer.on("GET", f"/blobs/{last['digest']}", Answer(body=b"x" * int(str(last["size"]))))
    out = tmp_path / "out"
    refused(run_gl_ocm(["copy", peer.host, f"oci-layout:{out}"], home=home, env=BOUNDS), 1, "digest")
    assert not list(out.rglob("index.json"))  # blobs checked on the way may be stored, but no tag is set


def test_a_copy_from_a_ctf_that_lacks_a_blob_writes_nothing(published: Path, tmp_path: Path, home: str) -> None:
    ctf = tmp_path / "ctf"
    assert run_gl_ocm(["copy", f"oci-layout:{published}", f"ctf:{ctf}"], home=home).code == 0
    last = _flavor_layers(published, flavor(published))[-1]
    (ctf / "blobs" / str(last["digest"]).replace(":", ".")).unlink()
    out = tmp_path / "out"
    refused(run_gl_ocm(["copy", f"ctf:{ctf}", f"oci-layout:{out}"], home=home), 1, "the source does not hold it")
    assert _tree(out) == {}


# -- class 9: aliases on a registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["1474.0", "1473.0-aws-gardener_prod-amd64", "1473.0-container-amd64",
                                   "latest.sig", "sha256-" + "b" * 64])
def test_an_alias_that_is_a_release_tag_is_refused_before_any_request(peer: HostilePeer, home: str,
                                                                     alias: str) -> None:
    refused(run_gl_ocm(["tag", peer.host, VERSION, "--alias", alias], home=home, env=BOUNDS), 2, repr(alias))
    assert peer.seen == []


# -- class 11: credentials and token realms ------------------------------------------------------------------------

USER, PASSWORD, TOKEN = "alice", "Pa55-not-to-be-seen", "tok-not-to-be-seen-0123456789"
CREDENTIALS = {"GL_OCM_REGISTRY_USERNAME": USER, "GL_OCM_REGISTRY_PASSWORD": PASSWORD}


def _secrets() -> list[str]:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [PASSWORD, basic, TOKEN]


def test_credentials_never_go_over_plain_http_to_another_host(peer: HostilePeer, home: str) -> None:
    realm = f'Bearer realm="http://{peer.host}/token",service="hostile"'  # 127.0.0.1, the registry named localhost
    peer.on("GET", r"^/v2/$", Answer(status=401, headers={"WWW-Authenticate": realm}))
    peer.on("GET", r"^/token", Answer.json_bytes(json.dumps({"token": TOKEN}).encode(), media_type="application/json"))
    run = run_gl_ocm(["--verbose", "verify", f"localhost:{peer.port}", COMPONENT], home=home,
                     env={**BOUNDS, **CREDENTIALS})
    assert run.code == 1, run.output
    assert "refusing to send the credentials" in run.output and "another host" in run.output
    assert not [s for s in peer.seen if s.path.startswith("/token")]
    assert not [s for s in peer.seen if "Authorization" in s.headers]
    assert not any(secret in run.output for secret in _secrets())


def test_verbose_logs_never_show_a_credential(peer: HostilePeer, home: str) -> None:
    """The registry's own host, another port in real life: the token flow runs, and no log line shows a secret."""
    realm = f'Bearer realm="http://{peer.host}/token",service="hostile"'
    peer.on("GET", r"^/v2/$", Answer(status=401, headers={"WWW-Authenticate": realm}))
    peer.on("GET", r"^/token", Answer.json_bytes(json.dumps({"token": TOKEN}).encode(), media_type="application/json"))
    peer.on("*", r"/manifests/", Answer(status=500, body=f"Authorization: Bearer {TOKEN} rejected".encode()))
    run = run_gl_ocm(["--verbose", "verify", peer.host, COMPONENT], home=home, env={**BOUNDS, **CREDENTIALS})
    assert run.code == 1, run.output
    assert "DEBUG" in run.output  # the logs were on
    asked = [s for s in peer.seen if s.path.startswith("/token")]
    assert asked and asked[0].headers.get("Authorization", "").startswith("Basic ")
    assert any(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in peer.seen)
    leaked = [secret for secret in _secrets() if secret in run.output]
    assert not leaked, run.output
