"""gunicorn settings for authsvc: `gunicorn -c gunicorn.conf.py wsgi:app`.

Before any worker starts, a child of the master applies migrations and makes the first
signing key, so workers never race for them. Each worker opens its own database pool.
"""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile

# Before anything imports prometheus_client: every worker writes its counts here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="authsvc-metrics-"))

bind = os.environ.get("AUTHSVC_BIND", "127.0.0.1:8000")
# argon2id is CPU-bound: about two workers per core keeps cores busy during logins.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
limit_request_field_size = 16384
accesslog = None  # authsvc writes one JSON line per request itself
errorlog = "-"


def on_starting(server):  # noqa: ANN001, ANN201 (gunicorn hook)
    # In a child process, so that the master (and every worker forked from it) stays free
    # of what only a first start needs (Alembic, key generation).
    subprocess.run([sys.executable, "-c", "from authsvc import create_app; create_app()"],
                   check=True)


def child_exit(server, worker):  # noqa: ANN001, ANN201 (gunicorn hook)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
