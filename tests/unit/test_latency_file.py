"""The latency histogram written straight to the worker's multiprocess file
(`authsvc.web.metrics`) reads, at a scrape, exactly as prometheus_client's own `Histogram`
would: same names, labels, buckets and values. It uses prometheus_client's file format
(`prometheus_client.mmap_dict`) and its keys; these tests say at once when an upgrade
changes either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess, values

from authsvc.services import metrics as counters
from authsvc.web import metrics

# Bucket edges, values between them, above the last one, and zero.
SECONDS = [0.0, 0.001, 0.0011, 0.0025, 0.004, 0.05, 0.3, 1.0, 2.5, 2.6, 30.0]


def _scraped(folder: Path) -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    text = generate_latest(registry).decode()
    return "\n".join(line for line in text.splitlines() if counters.LATENCY_NAME in line).encode()


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    metrics._forget()
    yield ours, theirs
    metrics._forget()


def test_a_scrape_reads_the_written_histogram_as_prometheus_clients_own(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = folders
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ours))
    for i, seconds in enumerate(SECONDS):
        metrics.observe_latency("GET" if i % 3 else "POST", "/api/v1/auth/verify", seconds)
    metrics.observe_latency("GET", "unmatched", 0.002)

    # prometheus_client's Histogram as a multiprocess server makes it, in another folder.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(theirs))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    histogram = Histogram(
        counters.LATENCY_NAME,
        counters.LATENCY_HELP,
        counters.LATENCY_LABELS,
        buckets=counters.LATENCY_BUCKETS,
        registry=None,
    )
    for i, seconds in enumerate(SECONDS):
        histogram.labels("GET" if i % 3 else "POST", "/api/v1/auth/verify").observe(seconds)
    histogram.labels("GET", "unmatched").observe(0.002)

    written = _scraped(ours)
    assert written == _scraped(theirs)
    assert (
        b'authsvc_request_duration_seconds_count{endpoint="/api/v1/auth/verify",method="GET"} 7.0'
        in written
    )
    assert [p.name for p in ours.iterdir()] == [f"histogram_latency-{os.getpid()}.db"]


def test_a_forked_worker_writes_a_file_of_its_own(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, _ = folders
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ours))
    metrics.observe_latency("GET", "/api/v1/health", 0.002)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            metrics.observe_latency("GET", "/api/v1/health", 0.2)
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert status == 0
    metrics.observe_latency("GET", "/api/v1/health", 0.2)
    names = sorted(p.name for p in ours.iterdir())
    assert names == sorted(f"histogram_latency-{pid}.db" for pid in (os.getpid(), child))
    text = _scraped(ours).decode()
    count = 'authsvc_request_duration_seconds_count{endpoint="/api/v1/health",method="GET"} 3.0'
    assert count in text
    # Both 0.2 s observations count: the child's went to its own file, not into the
    # parent's mapping (where the parent's next write of that bucket would undo it).
    assert (
        'authsvc_request_duration_seconds_bucket{endpoint="/api/v1/health",le="0.25",method="GET"} 3.0'
        in text
    )
