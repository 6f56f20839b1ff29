"""gunicorn settings for the simplejwt reference service: the server settings of the
repository's gunicorn.conf.py, read from that file, without its authsvc hooks.

That file cannot be used as it is here: its `on_starting` runs authsvc's first start
(migrations, the first signing key) with this venv's Python, which has no authsvc, and its
metrics hooks need prometheus_client. Everything in it that shapes how requests are served
is taken over by name (worker class, worker count from WEB_CONCURRENCY, keep-alive, worker
connections, timeouts, max_requests, the one-accept-per-wake-up hook), so authsvc, the floor
and simplejwt run under one server configuration and a change to it reaches all three.
"""

import os
import runpy
import tempfile

# The shipped file reads this at import (else it asks Flask for the instance folder).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="simplejwt-metrics-"))
_shipped = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "..", "gunicorn.conf.py"))

SERVING = (
    "bind",
    "workers",
    "worker_class",
    "worker_connections",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "max_requests",
    "max_requests_jitter",
    "limit_request_field_size",
    "accesslog",
    "errorlog",
    "post_worker_init",
)
globals().update({name: _shipped[name] for name in SERVING})
