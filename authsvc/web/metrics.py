"""Request latency for Prometheus, observed around every request by `web.edge` (counters:
`services.metrics`).

Under a multiprocess server (`PROMETHEUS_MULTIPROC_DIR`) each observation is written straight
to the worker's file, in prometheus_client's own format and under the keys its
`Histogram` would use, so a scrape sums every request of every worker the moment it is
answered. prometheus_client's value objects pay, per increment and two increments per
observation, a lock, a `getpid()` system call (its fork check) and a chain of calls; here a
fork is caught once (`os.register_at_fork`) and an observation is one lock and two writes
(docs/performance.md, "Verify hooks (third round)")."""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

from authsvc.services.metrics import (
    LATENCY,
    LATENCY_BUCKETS,
    LATENCY_HELP,
    LATENCY_LABELS,
    LATENCY_NAME,
)

_go: Callable[[float], str] = floatToGoString  # the `le` label, as prometheus_client writes it
_BOUNDS = (*(float(b) for b in LATENCY_BUCKETS), float("inf"))
_LOCK = threading.Lock()
_BOUND: dict[tuple[str, str], Callable[[float], None]] = {}  # (method, rule) -> observe
# This process's file (prometheus_client leaves MmapedDict unannotated), opened when first used.
_FILE: list[Any] = []


class _Written:
    """One (method, endpoint) child of the latency histogram in this worker's file."""

    def __init__(self, file: Any, method: str, endpoint: str) -> None:
        labels = [method, endpoint]
        self._file = file
        self._sum_key = mmap_key(
            LATENCY_NAME, LATENCY_NAME + "_sum", [*LATENCY_LABELS], labels, LATENCY_HELP
        )
        self._bucket_keys = [
            mmap_key(
                LATENCY_NAME,
                LATENCY_NAME + "_bucket",
                [*LATENCY_LABELS, "le"],
                [*labels, _go(bound)],
                LATENCY_HELP,
            )
            for bound in _BOUNDS
        ]
        # As prometheus_client's values do: every key made at once, from what the file holds.
        self._sum = file.read_value(self._sum_key)[0]
        self._counts = [file.read_value(key)[0] for key in self._bucket_keys]

    def observe(self, seconds: float) -> None:
        i = bisect_left(_BOUNDS, seconds)  # the first bucket whose bound is >= seconds
        with _LOCK:
            self._sum += seconds
            self._counts[i] += 1
            write = self._file.write_value
            write(self._sum_key, self._sum, 0.0)
            write(self._bucket_keys[i], self._counts[i], 0.0)


def _file(folder: str) -> Any:
    if not _FILE:
        # `histogram_` is what the multiprocess collector reads the type from; a name of its
        # own, so that no prometheus_client value of this process shares the file.
        path = os.path.join(folder, f"histogram_latency-{os.getpid()}.db")
        _FILE.append(MmapedDict(path))  # type: ignore[no-untyped-call]
    return _FILE[0]


def _bind(method: str, endpoint: str) -> Callable[[float], None]:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        return _Written(_file(folder), method, endpoint).observe
    observe: Callable[[float], None] = LATENCY.labels(method, endpoint).observe
    return observe


def observe_latency(method: str, endpoint: str, seconds: float) -> None:
    observe = _BOUND.get((method, endpoint))
    if observe is None:
        with _LOCK:
            observe = _BOUND.get((method, endpoint)) or _bind(method, endpoint)
            _BOUND[(method, endpoint)] = observe
    observe(seconds)


def _forget() -> None:
    """A forked child writes a file of its own, from zero, as prometheus_client's values do."""
    global _LOCK
    _LOCK = threading.Lock()
    _BOUND.clear()
    _FILE.clear()


os.register_at_fork(after_in_child=_forget)
