"""One conformance suite for the writable targets, and copy() on small graphs and on a whole release."""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.errors import DigestMismatch, NotFound, UsageError
from gardenlinux_ocm.oci.copy import CopyRoot, copy
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.memory import MemoryTarget
from gardenlinux_ocm.oci.model import EMPTY_DESCRIPTOR, EMPTY_JSON, MediaType, canonical_json, descriptor_for
from gardenlinux_ocm.oci.target import Target
from gardenlinux_ocm.ocm.access import AccessMode, Addressing
from gardenlinux_ocm.plan.source import PlanSource
from gardenlinux_ocm.targets import TargetKind, open_source, open_target, parse_target
from support.release import COMPONENTS, VERSION, publish_args


@pytest.fixture(params=["memory", "layout"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return MemoryTarget() if request.param == "memory" else LayoutTarget(tmp_path / "oci")


class Counting:
    """Wraps a target and records every write (oras-go's storageTracker)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def push(self, repository: str, descriptor: Any, content: Any) -> None:
        self.writes.append(f"push {repository}@{descriptor.digest}")
        self.inner.push(repository, descriptor, content)

    def tag(self, repository: str, descriptor: Any, tag: str, data: bytes | None = None) -> None:
        self.writes.append(f"tag {repository}:{tag}")
        self.inner.tag(repository, descriptor, tag, data)

    def mount(self, repository: str, descriptor: Any, from_repository: str, content: Any = None) -> bool:
        self.writes.append(f"mount {repository}@{descriptor.digest}")
        return bool(self.inner.mount(repository, descriptor, from_repository, content))


def _manifest(layer: bytes) -> tuple[bytes, Any, Any]:
    layer_desc = descriptor_for(layer, "application/octet-stream")
    m = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": [layer_desc.to_dict()],
        }
    )
    return m, descriptor_for(m, MediaType.OCI_MANIFEST), layer_desc


def test_push_verifies_digest_and_size(target: Target) -> None:
    desc = descriptor_for(b"hello", "application/octet-stream")
    with pytest.raises(DigestMismatch):
        target.push("repo", desc, io.BytesIO(b"hellO"))
    with pytest.raises(DigestMismatch):
        target.push("repo", desc, io.BytesIO(b"hello!"))
    assert not target.exists("repo", desc)
    target.push("repo", desc, io.BytesIO(b"hello"))
    assert target.exists("repo", desc) and not target.exists("other", desc)
    with target.fetch("repo", desc) as f:
        assert f.read() == b"hello"


def test_tag_resolve_and_retag(target: Target) -> None:
    m1, d1, l1 = _manifest(b"one")
    m2, d2, l2 = _manifest(b"two")
    for data, desc in ((EMPTY_JSON, EMPTY_DESCRIPTOR), (b"one", l1), (b"two", l2), (m1, d1), (m2, d2)):
        target.push("a/b", desc, io.BytesIO(data))
    with pytest.raises(NotFound):
        target.resolve("a/b", "v1")
    target.tag("a/b", d1, "v1")
    assert target.resolve("a/b", "v1").digest == d1.digest
    target.tag("a/b", d2, "v1")
    target.tag("a/b", d1, "v0")
    assert target.resolve("a/b", "v1").digest == d2.digest
    assert target.tags("a/b") == ["v0", "v1"]
    assert target.repositories() == ["a/b"]
    assert target.resolve("a/b", d1.digest).digest == d1.digest


def test_tagging_a_missing_manifest_fails(target: Target) -> None:
    _, d, _ = _manifest(b"x")
    with pytest.raises(NotFound):
        target.tag("repo", d, "v1")


def test_copy_children_first_and_idempotent(tmp_path: Path) -> None:
    src = MemoryTarget()
    m, d, layer = _manifest(b"payload")
    for data, desc in ((EMPTY_JSON, EMPTY_DESCRIPTOR), (b"payload", layer), (m, d)):
        src.push("src", desc, io.BytesIO(data))
    dst = Counting(LayoutTarget(tmp_path / "oci"))
    roots = [CopyRoot(repository="dst", source_repository="src", descriptor=d, tags=("v1",))]
    stats = copy(src, dst, roots)
    assert dst.writes[-1] == "tag dst:v1" and f"push dst@{d.digest}" not in dst.writes  # stored by the tag
    assert stats.blobs_pushed == 2 and stats.manifests_pushed == 1 and stats.tags_set == 1
    dst.writes.clear()
    again = copy(src, dst, roots)
    assert dst.writes == [] and again.wrote_nothing


def test_layout_index_is_sorted_and_atomic(published: Path) -> None:
    index = json.loads((published / "gardenlinux" / "index.json").read_bytes())
    names = [e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]]
    assert names == sorted(names) and "1473.0" in names and "1473.0-aws-gardener_prod-amd64" in names
    leftovers = [p for p in published.rglob("*") if p.name.startswith(".") or p.suffix in (".lock", ".tmp")]
    assert leftovers == []  # no temporary and no lock file


def test_second_publish_writes_nothing(samples: Path, tmp_path: Path) -> None:
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, Addressing(mode=AccessMode.VALUE))
    target = Counting(LayoutTarget(tmp_path / "oci"))
    first = api.publish(plan, target)
    assert first.stats.blobs_pushed > 0 and first.stats.blobs_mounted > 0  # local blobs are linked, not sent
    assert target.writes.index("tag gardenlinux:1473.0") > max(
        i for i, w in enumerate(target.writes) if w.startswith("push gardenlinux@")
    )
    snapshot = {p: p.read_bytes() for p in (tmp_path / "oci").rglob("index.json")}
    target.writes.clear()
    second = api.publish(plan, target)
    assert target.writes == [] and second.stats.wrote_nothing and second.stats.bytes_pushed == 0
    assert snapshot == {p: p.read_bytes() for p in (tmp_path / "oci").rglob("index.json")}


def test_publish_to_layout_and_copy_to_memory_keeps_digests(published: Path) -> None:
    src = LayoutTarget(published, read_only=True)
    dst = MemoryTarget()
    api.copy_release(src, dst)
    for repo in src.repositories():
        for tag in src.tags(repo):
            assert dst.resolve(repo, tag).digest == src.resolve(repo, tag).digest


def test_plan_source_serves_file_ranges(samples: Path) -> None:
    _, plan = api.plan_release(COMPONENTS, VERSION, samples)
    source = PlanSource(plan)
    name = "aws-gardener_prod-amd64-1473.0-2b1b3a1d.tar"
    data = (samples / name).read_bytes()
    desc = descriptor_for(data, "x")
    with source.fetch("gardenlinux", desc) as f:
        assert f.read() == data


def test_copy_release_tags_referenced_components_first(published: Path, tmp_path: Path) -> None:
    src = LayoutTarget(published, read_only=True)
    dst = Counting(LayoutTarget(tmp_path / "copy"))
    api.copy_release(src, dst, version=VERSION)
    tags = [w.removeprefix("tag ") for w in dst.writes if w.startswith("tag ")]
    root = tags.index("component-descriptors/github.com/gardenlinux/gardenlinux:1473.0")
    assert root == len(tags) - 1
    assert tags.index("component-descriptors/github.com/gardenlinux/gardenlinux/container-images:1473.0") < root
    assert all(not t.startswith("component-descriptors/") for t in tags[: len(tags) - 2])


def test_copy_reports_bytes_once_even_when_a_push_retries(tmp_path: Path) -> None:
    from gardenlinux_ocm.oci.copy import Event, EventKind

    class FlakyOnce(MemoryTarget):
        """Reads half the blob, rewinds and reads it again, as a retried upload does."""

        def push(self, repository: str, descriptor: Any, content: Any) -> None:
            content.read(descriptor.size // 2)
            content.seek(0)
            super().push(repository, descriptor, content)

    src = MemoryTarget()
    payload = bytes(range(256)) * 4096
    m, d, layer = _manifest(payload)
    for data, desc in ((EMPTY_JSON, EMPTY_DESCRIPTOR), (payload, layer), (m, d)):
        src.push("r", desc, io.BytesIO(data))
    events: list[Event] = []
    copy(src, FlakyOnce(), [CopyRoot(repository="r", descriptor=d, tags=("v",))], on_event=events.append)
    sent = sum(e.size for e in events if e.kind is EventKind.BYTES)
    assert sent == len(payload) + len(EMPTY_JSON)


# -- target names
@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("build/oci", "oci-layout:build/oci"),
        ("./x", "oci-layout:./x"),
        ("/abs/path/", "oci-layout:/abs/path"),
        ("build", "oci-layout:build"),
        ("oci:x", "oci-layout:x"),
        ("oci:build/oci", "oci-layout:build/oci"),
        ("host:port/x", "oci-layout:host:port/x"),
    ],
)
def test_a_path_or_skopeo_name_is_a_usage_error_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_target(text)
    assert caught.value.hint is not None and hint in caught.value.hint
    for opener in (open_target, open_source):
        with pytest.raises(UsageError):
            opener(text)


@pytest.mark.parametrize(
    "text", ["127.0.0.1:5000", "localhost", "localhost/gl", "registry:5000/gl", "ghcr.io/gardenlinux", "[::1]:5000"]
)
def test_registry_bases_look_like_hosts(text: str) -> None:
    name = parse_target(text)
    assert name.kind is TargetKind.REGISTRY and name.location == text


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("to", "hint"), [("build/oci", "oci-layout:build/oci"), ("./x", "oci-layout:./x"), ("oci:x", "oci-layout:x")]
)
def test_publish_to_a_path_exits_2_fast_without_network(samples: Path, tmp_path: Path, to: str, hint: str) -> None:
    from typer.testing import CliRunner

    from gardenlinux_ocm.cli import app

    started = time.monotonic()
    result = CliRunner().invoke(app, publish_args(samples, to))
    assert result.exit_code == 2, result.output
    assert hint in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 10
    result = CliRunner().invoke(app, ["copy", f"oci-layout:{tmp_path}", to])
    assert result.exit_code == 2 and hint in result.output
