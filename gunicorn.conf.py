"""gunicorn settings for authsvc: `gunicorn -c gunicorn.conf.py wsgi:app`.

Before any worker starts, a child of the master applies migrations and makes the first
signing key, so workers never race for them. Each worker opens its own database pool.

Workers are gevent workers: a connection costs a greenlet, not a worker, so clients that send
their headers or body a byte at a time cannot take the service down (issue 13, item 9; the
measurements are in docs/operations.md). Deadlines: a request's headers must arrive within
`keepalive` seconds (gunicorn's async workers parse each request under that timeout), its body
within `AUTHSVC_BODY_TIMEOUT` (authsvc.web.transport). In production put a buffering reverse proxy
(nginx) in front all the same: see docs/operations.md.

`AUTHSVC_METRICS_BIND` (e.g. `127.0.0.1:9100`) serves `/metrics`, every worker's counts
summed, on that address only, from the master; the public address never serves it. The
workers' counts live in one folder, `PROMETHEUS_MULTIPROC_DIR` or `metrics/` in the instance
folder, emptied at every start.
"""

from __future__ import annotations

import gc
import glob
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time

# glibc's allocator, set before anything is allocated (docs/performance.md, "RSS"). A login's
# argon2id verification mallocs one block of its memory cost (19 MiB by default), which glibc
# keeps in the heap from the second login on. `hugetlb=1` lets the kernel back the heap with
# transparent huge pages: once the block has been given back (`give_back_free_memory`
# below), the login that maps it again pays ten 2 MiB page faults, not 4,864 4 KiB ones
# (about 5 ms against 16 ms measured). Tunables are read only when a program starts, so
# the master starts itself again once with them; workers and the first-start child inherit
# them. An operator's own `glibc.malloc` tunables are left as they are.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1"


def _with_malloc_tunables():
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return
    current = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc." in current:
        return  # set already: by the operator, or by this start before it ran itself again
    os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [current, MALLOC_TUNABLES]))
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


_with_malloc_tunables()


def _whole(name, default):
    """A whole-number variable; a bad one stops gunicorn with one line, not a traceback."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"authsvc: {name} must be a whole number above 0, not {raw!r}")
    return int(raw)


def _metrics_dir():
    """One folder for every start: the one given, else `metrics/` in the instance folder."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        return given
    instance = os.environ.get("AUTHSVC_INSTANCE_PATH", "").strip()
    if not instance:
        from flask import Flask  # the instance folder create_app uses, found the same way

        instance = Flask("authsvc").instance_path
    return os.path.join(instance, "metrics")


# Before anything imports prometheus_client: every worker writes its counts here.
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()

bind = os.environ.get("AUTHSVC_BIND", "127.0.0.1:8000")
# argon2id is CPU-bound and holds a worker's event loop for a login (~26 ms): about two
# workers per core keeps cores busy during logins.
workers = _whole("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1)
worker_class = "gevent"
worker_connections = 1000  # open connections per worker, slow ones included
timeout = 30
graceful_timeout = 30
# Idle time between two requests on a kept-alive connection, and the deadline for the
# headers of each request (a slow-header client is closed after it).
keepalive = _whole("AUTHSVC_HEADER_TIMEOUT", 5)
max_requests = 20000
max_requests_jitter = 2000
limit_request_field_size = 16384
accesslog = None  # authsvc writes one JSON line per request itself
errorlog = "-"


def on_starting(server):
    # The last start's counts are not this one's: clear them (the folder is kept).
    os.makedirs(METRICS_DIR, mode=0o700, exist_ok=True)
    for stale in glob.glob(os.path.join(METRICS_DIR, "*.db")):
        os.remove(stale)
    # In a child process, so that the master (and every worker forked from it) stays free
    # of what only a first start needs (Alembic, key generation). A bad setting: the child
    # has said which, on one line; stop with its status.
    done = subprocess.run([sys.executable, "-c", "from authsvc import create_app; create_app()"])
    if done.returncode != 0:
        raise SystemExit(done.returncode)


def post_worker_init(worker):
    # A gevent worker accepts up to 100 waiting connections per wake-up, so the first worker
    # to wake can take all of a client's kept-alive connections while the others idle (seen
    # once in six runs, docs/performance.md). One per wake-up spreads them; no measured cost.
    if type(worker).__module__.endswith("ggevent"):
        from gevent.baseserver import BaseServer

        BaseServer.max_accept = 1
    # The app is loaded: its ~150,000 objects live as long as the worker. Frozen, the cyclic
    # collector stops walking them in every full collection (150 ms each, one every few
    # thousand requests: about 5 % of a verify; docs/performance.md, "Fourth round").
    gc.collect()
    gc.freeze()
    if sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
        threading.Thread(target=give_back_free_memory, daemon=True).start()


GIVE_BACK_EVERY = 1.0  # seconds


def give_back_free_memory():
    """Once a second, the heap's free pages go back to the kernel (`malloc_trim`).

    In a run of logins argon2id's block is reused from one login to the next (mapping it
    afresh for each costs its zero-filling, ~5 ms a login); a second after the last one it is
    given back, so an idle worker does not hold 19 MiB. A trim costs 0.2 ms with nothing to
    give back; under gevent this thread is a greenlet, and the call is brief.
    """
    import ctypes

    trim = ctypes.CDLL("libc.so.6").malloc_trim
    while True:
        time.sleep(GIVE_BACK_EVERY)
        trim(0)


def when_ready(server):
    address = os.environ.get("AUTHSVC_METRICS_BIND", "").strip()
    if not address:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"AUTHSVC_METRICS_BIND must read like 127.0.0.1:9100, not {address!r}")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    server.log.info("metrics on http://%s/metrics", address)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
