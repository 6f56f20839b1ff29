"""Operations: Prometheus metrics, JSON logs with a request id."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest
from werkzeug.test import Client

from authsvc.services import metrics
from authsvc.web import logs
from tests.helpers import bearer, envelope, error_of

LOGIN = "/api/v1/auth/login"


def scrape():
    """`/metrics` as Prometheus reads it: from the metrics app, not the public one (issue 13)."""
    return Client(metrics.exposition_app()).get("/metrics")


def metric(client, name: str) -> float:
    text = scrape().get_data(as_text=True)
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


@pytest.mark.parametrize("refresh_window", [0])
def test_metrics_count_logins_refreshes_reuse_and_rejections(client, user):
    names = {
        "ok": 'authsvc_logins_total{outcome="succeeded"}',
        "failed": 'authsvc_logins_total{outcome="failed"}',
        "refreshes": "authsvc_refreshes_total",
        "reuse": "authsvc_refresh_reuse_detections_total",
        "rejected": 'authsvc_rejected_tokens_total{reason="malformed"}',
    }
    before = {key: metric(client, name) for key, name in names.items()}
    pair = client.post(LOGIN, json={"email": user.email, "password": user.password}).get_json()
    client.post(LOGIN, json={"email": user.email, "password": "wrong-password-123456"})
    client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    client.get("/api/v1/auth/verify", headers=bearer("not-a-token"))
    after = {key: metric(client, name) for key, name in names.items()}
    assert {key: after[key] - before[key] for key in names} == {
        "ok": 1,
        "failed": 1,
        "refreshes": 1,
        "reuse": 1,
        "rejected": 1,
    }
    r = scrape()
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    assert 'authsvc_request_duration_seconds_bucket{endpoint="/api/v1/auth/login"' in r.get_data(
        as_text=True
    )


def test_the_public_app_does_not_serve_metrics(client, user):
    client.post(LOGIN, json={"email": user.email, "password": "wrong-password-123456"})
    for method in ("GET", "HEAD"):
        r = client.open("/metrics", method=method)
        assert r.status_code == 404
    r = client.get("/metrics")
    assert error_of(r) == envelope("not_found")
    assert b"authsvc_logins_total" not in r.data


@pytest.fixture
def access_log(app):
    records: list[logging.LogRecord] = []
    handler = logging.getLogger("authsvc.access").handlers[0]

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.setFormatter(handler.formatter)
    logging.getLogger("authsvc.access").addHandler(keep)
    yield records, keep
    logging.getLogger("authsvc.access").removeHandler(keep)


def test_one_json_line_per_request_with_its_request_id(client, user, access_log):
    records, handler = access_log
    r = client.post(
        LOGIN,
        json={"email": user.email, "password": user.password},
        headers={"X-Request-ID": "req-123"},
    )
    assert r.headers["X-Request-ID"] == "req-123"
    line = json.loads(handler.format(records[-1]))
    assert line["request_id"] == "req-123" and line["path"] == LOGIN and line["status"] == 200
    assert line["method"] == "POST" and isinstance(line["duration_ms"], float)
    assert user.password not in handler.format(records[-1])
    assert r.get_json()["access_token"] not in handler.format(records[-1])


def test_the_default_access_line_is_written_directly_and_reads_as_through_logging(
    client, user, access_log, monkeypatch
):
    """As shipped (one stream handler) a line skips the logging machinery; with a handler
    added it goes through it. Both lines carry the same members in the same order."""
    records, keep = access_log
    shipped = logging.getLogger("authsvc.access").handlers[0]
    logging.getLogger("authsvc.access").removeHandler(keep)
    stream = io.StringIO()
    monkeypatch.setattr(shipped, "stream", stream)
    client.get("/api/v1/health", headers={"X-Request-ID": "direct-1"})
    direct = json.loads(stream.getvalue().splitlines()[-1])
    logging.getLogger("authsvc.access").addHandler(keep)
    client.get("/api/v1/health", headers={"X-Request-ID": "direct-1"})
    through = json.loads(keep.format(records[-1]))
    assert list(direct) == list(through)
    assert direct["request_id"] == through["request_id"] == "direct-1"
    assert direct["path"] == "/api/v1/health" and direct["status"] == 200
    assert direct["levelname"] == "INFO" and direct["name"] == "authsvc.access"
    assert direct["asctime"][:10] == through["asctime"][:10]


@pytest.mark.parametrize("incoming", ["", "x" * 65, "bad id with spaces", "inject\nline"])
def test_a_malformed_request_id_is_replaced(client, access_log, incoming):
    records, handler = access_log
    r = client.get(
        "/api/v1/health", headers={"X-Request-ID": incoming} if "\n" not in incoming else {}
    )
    rid = r.headers["X-Request-ID"]
    assert rid and rid != incoming and len(rid) == 32
    assert json.loads(handler.format(records[-1]))["request_id"] == rid


def test_made_request_ids_are_random_hex_and_never_repeat_across_a_fork(app):
    made = [logs.request_id("") for _ in range(600)]  # more than one batch of the pool
    assert len(set(made)) == 600
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in made)
    assert logs.request_id("req-123") == "req-123"
    logs.request_id("")  # the pool holds ids made before the fork
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            os.write(write, logs.request_id("").encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    assert len(childs) == 32 and childs != logs.request_id("")


@pytest.mark.parametrize(
    "path", ["/api/v1/health", '/a"b\\c', "/é/€/\U0001f600", "/\x01\x1f\u2028", "/%20 x"]
)
def test_the_direct_access_line_is_byte_for_byte_the_formatters(app, monkeypatch, path):
    shipped = logging.getLogger("authsvc.access").handlers[0]
    stream = io.StringIO()
    monkeypatch.setattr(shipped, "stream", stream)
    logs.access("GET", path, 404, 0.0123456, None, "rid-1")
    logs.access("POST", path, 200, 2.0, "::1", "rid-2")
    lines = stream.getvalue().splitlines()
    for line, (method, status, ms, addr, rid) in zip(
        lines,
        [("GET", 404, 12.35, None, "rid-1"), ("POST", 200, 2000.0, "::1", "rid-2")],
        strict=True,
    ):
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": ms,
            "remote_addr": addr,
        }
        asctime = json.loads(line)["asctime"]
        assert line == shipped.formatter.line(
            asctime, "INFO", "authsvc.access", "request", rid, fields
        )


class _BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


def test_an_added_handler_and_a_failed_write_still_get_the_whole_access_record(app, monkeypatch):
    access_log = logging.getLogger("authsvc.access")
    shipped = access_log.handlers[0]
    failed: list[logging.LogRecord] = []
    monkeypatch.setattr(shipped, "stream", _BrokenStream())
    monkeypatch.setattr(shipped, "handleError", failed.append)
    logs.access("GET", "/api/v1/health", 200, 0.001, "::1", "rid-3")
    captured: list[logging.LogRecord] = []
    added = logging.Handler()
    added.emit = captured.append  # type: ignore[method-assign]
    access_log.addHandler(added)
    try:
        logs.access("POST", "/api/v1/auth/verify", 401, 0.002, None, "")
    finally:
        access_log.removeHandler(added)
    broken = failed[0]  # the second line fails through the logging machinery too
    assert (broken.method, broken.path, broken.status) == ("GET", "/api/v1/health", 200)
    assert (broken.duration_ms, broken.remote_addr, broken.request_id) == (1.0, "::1", "rid-3")
    (record,) = captured
    assert (record.method, record.status, record.duration_ms) == ("POST", 401, 2.0)
    assert (record.remote_addr, record.request_id, record.getMessage()) == (None, None, "request")
