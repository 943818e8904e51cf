"""A flaky registry: publish, verify and copy through a fault-injecting proxy in front of a real registry.

Random faults of every kind (500, 503, 429 with Retry-After, resets, truncated answers) at fixed seeds, truncated
manifest and blob reads, a 503 outage, a Retry-After beyond the cap, a final failure among many uploads, a cut upload
in a registry -> registry copy and the manifest-PUT race of concurrent publishers. Every run is bounded: the retry
policy has deadlines, the rounds are few and fixed.
"""

from __future__ import annotations

import io
import statistics
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gardenlinux_ocm import api
from gardenlinux_ocm.errors import RegistryError, TargetError
from gardenlinux_ocm.oci.graph import successors
from gardenlinux_ocm.oci.layout import LayoutTarget
from gardenlinux_ocm.oci.model import Descriptor, MediaType, descriptor_for
from gardenlinux_ocm.oci.registry import RegistryTarget, RetryPolicy
from gardenlinux_ocm.oci.target import ReadOnlyTarget
from gardenlinux_ocm.ocm.access import LOCAL_BASE
from gardenlinux_ocm.plan.model import ReleasePlan
from gardenlinux_ocm.targets import addressing_for
from support.artefact import artefact
from support.fault_proxy import Fault, FaultKind, FaultProxy, chaos_faults
from support.registry import RegistryServer
from support.release import COMPONENTS, VERSION

pytestmark = pytest.mark.registry

# Deadlines short enough that a hang fails the test in minutes, long enough for every fault plan below.
BOUNDED = RetryPolicy(operation=60.0, total=240.0)
FAST = RetryPolicy(base_delay=0.01, max_delay=0.2, operation=20.0, total=60.0)
CHAOS_RUNS = 3
CHAOS_RATE = 0.2


@pytest.fixture(scope="module")
def source(registry: RegistryServer, samples: Path) -> str:
    """Release 1473.0 published directly (no proxy) to the session registry, accesses naming it; returns its base.

    Read through a proxy, the accesses name the direct base: verify is told (`reference_bases`) that it is the same
    registry, so every read goes through the proxy.
    """
    base = f"{registry.host}/faults-src"
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(base))
    with _target(base) as target:
        api.publish(plan, target)
    return base


def _target(base: str, retry: RetryPolicy = FAST) -> RegistryTarget:
    return RegistryTarget(base=base, credentials=lambda host: None, retry=retry)


def _base(registry: RegistryServer | FaultProxy, name: str) -> str:
    return f"{registry.host}/{name}-{uuid.uuid4().hex[:8]}"


def _expected(plan: ReleasePlan) -> dict[str, str]:
    return {f"{r.repository}:{t}": r.descriptor.digest for r in plan.roots for t in r.tags}


def _tags_on(target: ReadOnlyTarget, plan: ReleasePlan) -> dict[str, str]:
    return {f"{r.repository}:{t}": target.resolve(r.repository, t).digest for r in plan.roots for t in r.tags}


def _assert_whole(target: ReadOnlyTarget, repo: str, desc: Descriptor) -> None:
    assert target.exists(repo, desc), f"{repo}@{desc.digest} missing"
    with target.fetch(repo, desc) as f:
        data = f.read()
    for child in successors(desc, data):
        _assert_whole(target, repo, child)


def _assert_release(registry: RegistryServer, base_path: str, plan: ReleasePlan) -> None:
    """Directly on the registry: every tag at the clean digest, every graph complete."""
    with _target(f"{registry.host}/{base_path}") as direct:
        assert _tags_on(direct, plan) == _expected(plan)
        for root in plan.roots:
            _assert_whole(direct, root.repository, root.descriptor)


def _push_artefact(target: RegistryTarget, repo: str, layer: bytes, tag: str = "v1") -> Descriptor:
    layer_desc, _, manifest_desc, manifest = artefact(layer)
    target.push(repo, layer_desc, io.BytesIO(layer))
    target.push(repo, descriptor_for(b"{}", MediaType.OCI_EMPTY), io.BytesIO(b"{}"))
    target.push(repo, manifest_desc, io.BytesIO(manifest))
    target.tag(repo, manifest_desc, tag)
    return manifest_desc


# -- random faults of every kind ------------------------------------------------------------------------------------


def test_publish_at_20_percent_faults_completes_with_the_clean_digests(
    registry: RegistryServer, fault_proxy: Any, plan: ReleasePlan
) -> None:
    # 429s carry Retry-After: 0 here: honoured waits of 1 s would be most of the time (see bench/registry_faults.py,
    # which measures both); this test is about what the tool adds.
    proxy: FaultProxy = fault_proxy(registry)
    clean_base = _base(proxy, "clean")
    started = time.monotonic()
    with _target(clean_base, BOUNDED) as target:
        api.publish(plan, target)
    clean = time.monotonic() - started
    times = []
    for seed in range(1, CHAOS_RUNS + 1):
        proxy.set_chaos(CHAOS_RATE, chaos_faults(retry_after=0), seed=seed)
        proxy.reset()
        base = _base(proxy, f"chaos{seed}")
        started = time.monotonic()
        with _target(base, BOUNDED) as target:
            result = api.publish(plan, target)
        times.append(time.monotonic() - started)
        injected = {i.kind for i in proxy.injected}
        assert len(proxy.injected) > 100 and {FaultKind.ERROR, FaultKind.RESET, FaultKind.TRUNCATE} <= injected
        assert result.stats.manifests_pushed == len(plan.roots) and result.stats.tags_set == len(_expected(plan))
        proxy.set_chaos(0.0)
        _assert_release(registry, base.partition("/")[2], plan)
    assert statistics.median(times) <= 3 * clean + 5, (clean, times)


def test_verify_deep_through_20_percent_truncated_answers(
    source: str, fault_proxy: Any, registry: RegistryServer
) -> None:
    proxy: FaultProxy = fault_proxy(registry)
    proxy.set_chaos(CHAOS_RATE, [Fault.truncate(method="GET")], seed=11)
    with _target(f"{proxy.host}/{source.partition('/')[2]}", BOUNDED) as target:
        report = api.verify(target, deep=True, reference_bases=[source])
    assert report.ok, [c for c in report.checks if not c.ok][:3]
    truncated = [i for i in proxy.injected if i.kind is FaultKind.TRUNCATE]
    assert {"manifests", "blobs"} <= {i.path.split("/")[-2] for i in truncated}
    assert len(truncated) > 50


def test_copy_registry_to_layout_at_20_percent_faults(
    source: str, fault_proxy: Any, registry: RegistryServer, plan: ReleasePlan, tmp_path: Path
) -> None:
    proxy: FaultProxy = fault_proxy(registry)
    proxy.set_chaos(CHAOS_RATE, chaos_faults(retry_after=0), seed=5)
    layout = LayoutTarget(tmp_path / "copy")
    with _target(f"{proxy.host}/{source.partition('/')[2]}", BOUNDED) as src:
        api.copy_release(src, layout, version=VERSION, rebase=(source, LOCAL_BASE))  # back to the plan's bytes
    assert len(proxy.injected) > 50
    assert _tags_on(layout, plan) == _expected(plan)
    assert api.verify(LayoutTarget(tmp_path / "copy", read_only=True), deep=True).ok


# -- truncated reads ------------------------------------------------------------------------------------------------


TRUNCATED_READS = [
    Fault.truncate(method="GET", path=r"/manifests/", nth=2),
    Fault.truncate(method="GET", path=r"/manifests/", nth=5, keep=0.0),
    Fault.truncate(method="GET", path=r"/blobs/sha256:", nth=3),
    Fault.truncate(method="GET", path=r"/blobs/sha256:", nth=4, keep=0.0),
]


def test_truncated_manifest_and_blob_reads_are_retried_in_verify(
    source: str, fault_proxy: Any, registry: RegistryServer
) -> None:
    proxy: FaultProxy = fault_proxy(registry, TRUNCATED_READS)
    with _target(f"{proxy.host}/{source.partition('/')[2]}") as target:
        report = api.verify(target, deep=True, reference_bases=[source])
    assert report.ok, [c for c in report.checks if not c.ok][:3]
    assert len(proxy.injected) == len(TRUNCATED_READS)


def test_truncated_reads_are_retried_in_copy(
    source: str, fault_proxy: Any, registry: RegistryServer, plan: ReleasePlan, tmp_path: Path
) -> None:
    proxy: FaultProxy = fault_proxy(registry, TRUNCATED_READS)
    layout = LayoutTarget(tmp_path / "copy")
    with _target(f"{proxy.host}/{source.partition('/')[2]}") as src:
        api.copy_release(src, layout, version=VERSION, rebase=(source, LOCAL_BASE))  # back to the plan's bytes
    assert len(proxy.injected) == len(TRUNCATED_READS)
    assert _tags_on(layout, plan) == _expected(plan)


def test_a_cut_blob_read_resumes_with_a_range(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry)
    repo, layer = f"faults/{uuid.uuid4().hex[:8]}", bytes(range(256)) * 12_000  # 3 MiB: several reads
    with _target(registry.host) as direct:
        _push_artefact(direct, repo, layer)
    layer_desc = descriptor_for(layer, MediaType.OCI_LAYER_TAR)
    proxy.set_faults([Fault.truncate(method="GET", path=r"/blobs/", keep=0.6, times=2)])
    with _target(proxy.host) as target, target.fetch(repo, layer_desc) as blob:
        assert blob.read() == layer
    assert proxy.count("GET", "blobs") == 3 and len(proxy.injected) == 2


# -- outages, Retry-After, final failures ---------------------------------------------------------------------------


def test_a_503_outage_of_15_s_is_survived(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(503, times=None)])
    outage = 15.0
    end = threading.Timer(outage, proxy.set_faults, args=([],))
    started = time.monotonic()
    end.start()
    try:
        with RegistryTarget(base=proxy.host, credentials=lambda host: None) as target:  # the default policy
            manifest = _push_artefact(target, f"faults/{uuid.uuid4().hex[:8]}", b"through an outage")
    finally:
        end.cancel()
    elapsed = time.monotonic() - started
    assert outage <= elapsed < outage + 15
    assert len(proxy.injected) >= 5
    assert manifest.digest


@pytest.mark.parametrize("retry_after", ["3600", "120"])
def test_a_retry_after_beyond_the_cap_fails_at_once_naming_it(
    registry: RegistryServer, fault_proxy: Any, retry_after: str
) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(429, path=r"/tags/list", retry_after=retry_after)])
    started = time.monotonic()
    with pytest.raises(RegistryError) as info, RegistryTarget(base=proxy.host, credentials=lambda h: None) as target:
        target.tags("faults/limited")
    assert time.monotonic() - started < 5
    assert f"retry after {retry_after} s" in str(info.value) and "Retry-After" in str(info.value)
    assert info.value.status == 429 and proxy.count("GET", "tags") == 1


def test_a_retry_after_past_the_operation_deadline_fails_at_once_naming_it(
    registry: RegistryServer, fault_proxy: Any
) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(503, path=r"/tags/list", retry_after=30)])
    policy = RetryPolicy(operation=10.0)
    started = time.monotonic()
    with (
        pytest.raises(RegistryError) as info,
        RegistryTarget(base=proxy.host, credentials=lambda h: None, retry=policy) as t,
    ):
        t.tags("faults/limited")
    assert time.monotonic() - started < 5
    assert "retry after 30 s" in str(info.value) and "10 s deadline" in str(info.value)


def test_the_retry_budget_of_a_target_bounds_all_its_operations(registry: RegistryServer, fault_proxy: Any) -> None:
    proxy: FaultProxy = fault_proxy(registry, [Fault.error(503, path=r"/tags/list", times=None)])
    policy = RetryPolicy(base_delay=0.2, max_delay=0.2, operation=60.0, total=1.0)
    started = time.monotonic()
    with RegistryTarget(base=proxy.host, credentials=lambda h: None, retry=policy) as target:
        with pytest.raises(RegistryError) as info:
            target.tags("faults/budget")
        assert time.monotonic() - started < 5
        assert "the 1 s retry budget of this run is used up" in str(info.value) and info.value.status == 503
        seen = proxy.count("GET", "tags")
        with pytest.raises(RegistryError, match="retry budget"):
            target.tags("faults/budget-again")  # the budget is shared by all operations
    assert proxy.count("GET", "tags") <= seen + 2  # at most one wait fits in what is left


def test_the_first_final_failure_stops_the_rest(registry: RegistryServer, fault_proxy: Any, plan: ReleasePlan) -> None:
    # Three uploads get a 503 asking for 30 s; the fourth gets a 403, which is final. The three waiting workers must
    # stop, and nothing queued may start.
    proxy: FaultProxy = fault_proxy(
        registry,
        [
            Fault.error(503, method="PUT", path=r"/blobs/uploads/", times=3, retry_after=30),
            Fault.error(403, method="PUT", path=r"/blobs/uploads/", nth=4, code="DENIED"),
        ],
    )
    started = time.monotonic()
    with pytest.raises(RegistryError) as info, _target(_base(proxy, "stops"), BOUNDED) as target:
        api.publish(plan, target, jobs=4)
    elapsed = time.monotonic() - started
    assert info.value.status == 403 and "denied" in str(info.value)
    assert elapsed < 10, elapsed
    assert proxy.count() < 200  # a full run sends about 1400 requests
    assert proxy.count("PUT", "manifests") == 0


# -- registry -> registry copy --------------------------------------------------------------------------------------


def test_registry_to_registry_copy_survives_cut_uploads(
    source: str, registry: RegistryServer, fault_proxy: Any, samples: Path
) -> None:
    reads: FaultProxy = fault_proxy(registry)  # no faults: counts how often the source blobs are opened
    writes: FaultProxy = fault_proxy(
        registry,
        [
            Fault.cut(method="PUT", path=r"/blobs/uploads/", after=16, nth=2),
            Fault.reset(method="PUT", path=r"/blobs/uploads/", nth=6),
            Fault.cut(method="PUT", path=r"/blobs/uploads/", after=200, nth=9),
        ],
    )
    name = f"copied-{uuid.uuid4().hex[:8]}"
    with _target(f"{reads.host}/{source.partition('/')[2]}") as src, _target(f"{writes.host}/{name}") as dst:
        stats = api.copy_release(src, dst, version=VERSION, rebase=(source, f"{registry.host}/{name}"))
    assert len(writes.injected) == 3 and stats.blobs_pushed > 100
    for failed in writes.injected:  # each failed upload read its source blob again
        digest = urllib.parse.parse_qs(urllib.parse.urlsplit(failed.path).query)["digest"][0]
        assert sum(1 for m, t in reads.seen if m == "GET" and t.endswith(f"/blobs/{digest}")) >= 2, digest
    _, plan = api.plan_release(COMPONENTS, VERSION, samples, addressing_for(f"{registry.host}/{name}"))
    _assert_release(registry, name, plan)


# -- manifest PUTs racing with another writer -----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"])
def test_a_digest_error_on_a_manifest_put_is_rechecked(registry: RegistryServer, fault_proxy: Any, code: str) -> None:
    # What distribution answers when two clients PUT the same manifest at once, while every child is stored.
    proxy: FaultProxy = fault_proxy(
        registry, [Fault.error(400, method="PUT", path=r"/manifests/sha256:", times=2, code=code)]
    )
    repo = f"faults/{uuid.uuid4().hex[:8]}"
    with _target(proxy.host) as target:
        manifest = _push_artefact(target, repo, b"raced " + uuid.uuid4().bytes)
    assert len(proxy.injected) == 2 and proxy.count("PUT", "manifests") == 4  # 2 refused, 1 stored, 1 tag
    assert proxy.count("HEAD", "blobs") >= 2 * 2 + 2  # both children re-checked after each refusal
    assert registry.tag_manifest_digest(repo, "v1") == manifest.digest


def test_a_manifest_with_a_missing_child_is_reported_as_such(registry: RegistryServer) -> None:
    repo = f"faults/{uuid.uuid4().hex[:8]}"
    layer = b"never pushed " + uuid.uuid4().bytes
    layer_desc, _, manifest_desc, manifest = artefact(layer)
    started = time.monotonic()
    with _target(registry.host) as target:
        target.push(repo, descriptor_for(b"{}", MediaType.OCI_EMPTY), io.BytesIO(b"{}"))
        with pytest.raises(TargetError) as info:
            target.push(repo, manifest_desc, io.BytesIO(manifest))
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "MANIFEST_BLOB_UNKNOWN" in message and "1 of its 2 children are not stored" in message
    assert layer_desc.digest in message


def test_concurrent_publishers_of_one_release_all_succeed(registry: RegistryServer, plan: ReleasePlan) -> None:
    base = _base(registry, "concurrent")
    targets = [_target(base, BOUNDED) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            results = list(pool.map(lambda t: api.publish(plan, t, jobs=4), targets))
    finally:
        for target in targets:
            target.close()
    assert all(r.stats.manifests_pushed + r.stats.manifests_skipped >= 1 for r in results)
    _assert_release(registry, base.partition("/")[2], plan)
