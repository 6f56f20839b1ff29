"""What every request leaves behind and every response carries, done in one pass at the WSGI
boundary: the request id, the security headers, the latency histogram and the access line.

Four Flask hooks did this before, each reading the request through Flask's context proxies
and editing werkzeug's `Headers`; here the status and the header list are taken as Flask
hands them to `start_response` (after every `after_request` hook and error handler), and the
request's fields from the request object Flask made for it (`environ["werkzeug.request"]`).
docs/performance.md, "Verify hooks (third round)", has the measurements.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from authsvc.web import logs, metrics

HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_ALWAYS = (
    ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
    ("referrer-policy", "Referrer-Policy", "no-referrer"),
    ("x-frame-options", "X-Frame-Options", "DENY"),
)
# Status lists are public and revalidated by ETag (they set `no-cache` themselves).
_STATUS_LISTS = "/api/v1/status-lists/"


def secure(headers: list[tuple[str, str]], path: str, status: int, request_id: str) -> None:
    """Add the headers every response carries to `headers`, in place: the three that are
    never left out (unless the view set its own), `Cache-Control: no-store` on API answers
    (replacing the view's), the HTML pages' CSP, and the request id (replacing any)."""
    present = set()
    content_type = None
    for name, value in headers:
        lower = name.lower()
        present.add(lower)
        if content_type is None and lower == "content-type":
            content_type = value
    no_store = path.startswith("/api/") and not (
        path.startswith(_STATUS_LISTS) and status in (200, 304)
    )
    replaced = {"x-request-id", "cache-control"} if no_store else {"x-request-id"}
    if not present.isdisjoint(replaced):
        headers[:] = [(n, v) for n, v in headers if n.lower() not in replaced]
    for lower, name, value in _ALWAYS:
        if lower not in present:
            headers.append((name, value))
    if no_store:
        headers.append(("Cache-Control", "no-store"))
    if "content-security-policy" not in present and (content_type or "").startswith("text/html"):
        headers.append(("Content-Security-Policy", HTML_CSP))
    headers.append(("X-Request-ID", request_id))


class Edge:
    """WSGI middleware around the Flask app (inside every other one): see the module's docstring."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        environ[logs.ENVIRON_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            request = environ["werkzeug.request"]
            code = int(status[:3])
            secure(headers, request.path, code, request_id)
            seconds = time.perf_counter() - started
            rule = request.url_rule
            method = request.method
            metrics.observe_latency(method, rule.rule if rule is not None else "unmatched", seconds)
            logs.access(method, request.path, code, seconds, request.remote_addr, request_id)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
