"""Transport against real server processes on loopback (issue 13, items 6, 8 and 9).

Raw sockets, because no HTTP client sends a broken chunked body or a byte at a time: bodies
without Content-Length under the dev server (werkzeug, `make run`) and under the shipped
gunicorn configuration, `/metrics` on its own address, and slow clients.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, free_port, http, launch, server_env, stop

pytestmark = pytest.mark.slow

LOGIN = "/api/v1/auth/login"
LIMIT = 64 * 1024  # AUTHSVC_MAX_BODY_BYTES's default
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def serve_dev(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """`flask run` (werkzeug's dev server, what `make run` starts) on a free loopback port."""
    started: list[Server] = []

    def start(**env: str) -> Server:
        port = free_port()
        environment = server_env(database_url, tmp_path / f"instance-{port}", **env)
        command = [sys.executable, "-m", "flask", "--app", "authsvc", "run"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        server = launch(
            command, port=port, cwd=ROOT, env=environment, log=tmp_path / f"dev-{port}.log"
        )
        started.append(server)
        return server

    yield start
    stop(started)


@pytest.fixture(params=["werkzeug", "gunicorn"])
def server(request: pytest.FixtureRequest) -> Server:
    if request.param == "werkzeug":
        return request.getfixturevalue("serve_dev")()
    return request.getfixturevalue("serve")(workers=1)


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def exchange(server: Server, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response (until its Content-Length or the close)."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(data)
        raw = b""
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            raw += piece
            head, sep, body = raw.partition(b"\r\n\r\n")
            if sep:
                headers = _headers(head)
                if len(body) >= int(headers.get("content-length", 1 << 30)):
                    break
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head, "no answer"
    return int(head.split(b" ", 2)[1]), _headers(head), body


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def chunked(body: bytes, size: int = 8192) -> bytes:
    head = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: authsvc.test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def login_body(email: str, password: str, pad_to: int = 0) -> bytes:
    body = json.dumps({"email": email, "password": password}).encode()
    return body + b" " * max(0, pad_to - len(body))


def error(body: bytes) -> dict[str, Any]:
    parsed = json.loads(body)
    assert set(parsed) == {"type", "errors"} and len(parsed["errors"]) == 1, parsed
    return {"type": parsed["type"], "code": parsed["errors"][0]["code"]}


# --- item 6: bodies without Content-Length ----------------------------------------------------


def test_a_chunked_body_over_the_limit_is_413_and_its_prefix_is_not_used(server, user):
    # The first LIMIT bytes are a complete, correct login: cutting the body at the limit logs in.
    status, _, body = exchange(server, chunked(login_body(user.email, user.password, LIMIT + 4000)))
    assert status == 413 and error(body) == {"type": "client_error", "code": "too_large"}, body
    status, _, body = exchange(server, chunked(b'{"email": "' + b"x" * (3 * LIMIT) + b'"}'))
    assert status == 413 and error(body) == {"type": "client_error", "code": "too_large"}, body


def test_a_declared_length_over_the_limit_is_413(server):
    status, _, body = exchange(
        server,
        (
            f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {LIMIT + 1}\r\n\r\n"
        ).encode()
        + b" " * (LIMIT + 1),
    )
    assert status == 413 and error(body)["code"] == "too_large", body


def test_a_chunked_body_within_the_limit_is_read_whole(server, user):
    status, _, body = exchange(server, chunked(login_body(user.email, user.password, LIMIT), 1000))
    assert status == 200 and json.loads(body)["access_token"], body


MALFORMED = [
    b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
    b"2\r\n{}   \r\n0\r\n\r\n",  # a chunk longer than announced
    b"2;ext\n{}\r\n0\r\n\r\n",  # a bare LF after a chunk extension
    b"-2\r\n{}\r\n0\r\n\r\n",  # a negative size
    b"2\r\n{}",  # the client stops before the last chunk
]


def test_malformed_chunked_framing_is_400_never_500(server):
    head = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    for framing in MALFORMED:
        with socket.create_connection(address(server), timeout=10) as sock:
            sock.sendall(head + framing)
            if framing.endswith(b"{}"):
                sock.shutdown(socket.SHUT_WR)
            raw = b""
            while piece := sock.recv(65536):
                raw += piece
        status = int(raw.split(b" ", 2)[1])
        body = raw.partition(b"\r\n\r\n")[2]
        assert status == 400, (framing, raw)
        assert error(body) == {"type": "client_error", "code": "invalid"}, (framing, body)


# --- item 8: /metrics only on its own address -------------------------------------------------


def test_metrics_are_served_on_the_metrics_address_only(serve, user):
    metrics_port = free_port()
    server = serve(workers=2, AUTHSVC_METRICS_BIND=f"127.0.0.1:{metrics_port}")
    for _ in range(3):  # spread over both workers
        status, _ = http(
            "POST", server.url + LOGIN, {"email": user.email, "password": "wrong-password-123456"}
        )
        assert status == 401
    status, body = http("GET", server.url + "/metrics")
    assert status == 404 and body["errors"][0]["code"] == "not_found", body
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    assert r.status == 200
    failed = [
        line
        for line in text.splitlines()
        if line.startswith('authsvc_logins_total{outcome="failed"}')
    ]
    assert failed and float(failed[0].rsplit(" ", 1)[1]) == 3, text[:2000]
    # Every request of every worker is in the latency histogram the moment it is answered.
    latency = 'authsvc_request_duration_seconds_count{endpoint="/api/v1/auth/login",method="POST"}'
    counted = [line for line in text.splitlines() if line.startswith(latency)]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) == 3, text[:2000]


def test_without_a_metrics_address_nothing_serves_metrics(serve):
    server = serve()
    status, body = http("GET", server.url + "/metrics")
    assert status == 404 and body["errors"][0]["code"] == "not_found", body


# --- item 9: slow clients ----------------------------------------------------------------------


class Dribblers:
    """`n` connections that each send headers (or a body) one byte every `interval` seconds."""

    def __init__(self, server: Server, n: int, interval: float = 0.1) -> None:
        self.server, self.interval = server, interval
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.answers: list[bytes] = []
        self.threads = [
            threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True) for i in range(n)
        ]

    def _run(self, headers: bool) -> None:
        try:
            sock = socket.create_connection(address(self.server), timeout=5)
        except OSError:
            return
        self.sockets.append(sock)
        if headers:
            start, payload = b"", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 5000
        else:
            start = (
                f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 5000\r\n\r\n"
            ).encode()
            payload = b" " * 5000
        try:
            sock.sendall(start)
            for byte in payload:
                if self.stop.wait(self.interval):
                    return
                sock.sendall(bytes([byte]))
        except OSError:  # closed by the server: keep what it said
            try:
                sock.settimeout(1)
                self.answers.append(sock.recv(65536))
            except OSError:
                self.answers.append(b"")

    def __enter__(self) -> Dribblers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for sock in list(self.sockets):
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def open(self) -> int:
        return sum(1 for t in self.threads if t.is_alive())


def health_time(server: Server, timeout: float = 2) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(server.url + "/api/v1/health", timeout=timeout) as r:
        assert r.status == 200
    return time.monotonic() - started


def test_fifty_slow_clients_do_not_stop_the_service(serve):
    server = serve(workers=1)  # one worker: the slow clients cannot be spread out
    started = time.monotonic()
    with Dribblers(server, 50) as slow:
        time.sleep(1)
        assert len(slow.sockets) == 50
        times = [health_time(server) for _ in range(10)]
        assert slow.open() == 50, "the slow clients were dropped: nothing was measured"
    assert max(times) < 2, times
    assert time.monotonic() - started < 30


def test_slow_headers_and_slow_bodies_are_cut_off(serve):
    server = serve(workers=1, AUTHSVC_HEADER_TIMEOUT="1", AUTHSVC_BODY_TIMEOUT="1")
    with Dribblers(server, 4, interval=0.05) as slow:
        deadline = time.monotonic() + 10
        while slow.open() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.open() == 0, "a slow client was still connected after 10 s"
        assert health_time(server) < 2
    assert all(a.startswith(b"HTTP/1.1 408") for a in slow.answers if a), slow.answers
    # A body that stops half-way is answered 408 once its deadline has passed.
    started = time.monotonic()
    status, _, body = exchange(
        server,
        (
            f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{"
        ).encode(),
        timeout=10,
    )
    assert status == 408 and error(body) == {"type": "client_error", "code": "request_timeout"}
    assert time.monotonic() - started < 5
