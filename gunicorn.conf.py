"""gunicorn settings for authsvc: `gunicorn -c gunicorn.conf.py wsgi:app`.

The master applies migrations and makes the first signing key once, before any worker
starts, so workers never race for them. Each worker opens its own database pool.
"""
from __future__ import annotations

import multiprocessing
import os
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
    from authsvc import create_app
    from authsvc.extensions import db

    app = create_app()
    with app.app_context():
        db.engine.dispose()


def child_exit(server, worker):  # noqa: ANN001, ANN201 (gunicorn hook)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
