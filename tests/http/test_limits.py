"""Abuse limits: the failed-login lockout, the per-address limit, proxies, timing, headers, body size."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta

import pyotp
import pytest
import redis
from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from authsvc import create_app
from authsvc.config import ConfigError
from authsvc.core import clock
from authsvc.core.passwords import OWASP_MINIMUM
from authsvc.extensions import db
from authsvc.models import AuditEvent
from authsvc.services.failure_log import (
    BUSY,
    PENDING_TTL,
    DatabaseFailureLog,
    MemoryFailureLog,
    RedisFailureLog,
)
from tests.helpers import PASSWORD, bearer, envelope, error_of

LOGIN = "/api/v1/auth/login"
WRONG = "not-the-password-42"


def attempt(client, email, password=WRONG, **extra):
    return client.post(LOGIN, json={"email": email, "password": password, **extra})


def assert_locked(r, retry_after):
    assert r.status_code == 429
    assert error_of(r) == {
        "type": "client_error",
        "code": "rate_limited",
        "attr": None,
        "extra": {"retry_after": retry_after},
    }
    assert r.headers["Retry-After"] == str(retry_after)


# --- the per-account lockout -------------------------------------------------------------


def test_five_failures_lock_the_account_even_for_the_right_password(frozen, client, user):
    for _ in range(5):
        r = attempt(client, user.email)
        assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials")
        clock.advance(10)
    assert_locked(attempt(client, user.email, PASSWORD), 900 - 50)
    clock.advance(900 - 50 - 1)
    assert_locked(attempt(client, user.email, PASSWORD), 1)
    clock.advance(1)
    assert attempt(client, user.email, PASSWORD).status_code == 200


def test_the_window_slides(frozen, client, user):
    for _ in range(5):
        attempt(client, user.email)
        clock.advance(100)
    assert_locked(attempt(client, user.email), 400)  # the first failure leaves at t=900
    clock.advance(400)
    assert attempt(client, user.email).status_code == 401  # one slot freed, used again
    assert_locked(attempt(client, user.email), 100)


def test_an_unknown_email_locks_out_exactly_alike(frozen, client, user):
    answers = []
    for email in (user.email, "ghost@example.com"):
        for _ in range(5):
            assert attempt(client, email).status_code == 401
        r = attempt(client, email)
        answers.append((r.status_code, r.get_json(), r.headers["Retry-After"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429


def test_failures_count_per_normalised_email(frozen, client, user, make_user):
    bob = make_user("bob@example.com")
    for email in (
        "alice@example.com",
        "ALICE@example.com",
        " Alice@Example.COM ",
        "alice@EXAMPLE.com",
        "alice@example.com",
    ):
        assert attempt(client, email).status_code == 401
    assert attempt(client, "Alice@example.com", PASSWORD).status_code == 429
    assert attempt(client, bob.email, PASSWORD).status_code == 200


def test_a_success_clears_the_count(frozen, client, user):
    for _ in range(4):
        attempt(client, user.email)
    assert attempt(client, user.email, PASSWORD).status_code == 200
    for _ in range(4):
        assert attempt(client, user.email).status_code == 401
    assert attempt(client, user.email, PASSWORD).status_code == 200


def test_wrong_totp_codes_count_a_missing_one_does_not(client, user, totp_user):
    for _ in range(6):
        r = attempt(client, user.email, PASSWORD)
        assert r.status_code == 401 and error_of(r)["code"] == "mfa_required"
    for _ in range(5):
        r = attempt(client, user.email, PASSWORD, totp_code="000000")
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_totp"
    good = pyotp.TOTP(totp_user.secret).at(clock.now())
    assert attempt(client, user.email, PASSWORD, totp_code=good).status_code == 429


def test_a_wrong_current_password_counts_too(frozen, client, user, tokens):
    for _ in range(5):
        r = client.post(
            "/api/v1/auth/password",
            headers=bearer(tokens["access_token"]),
            json={"current_password": WRONG, "new_password": "violet-Harbour-37-compass"},
        )
        assert r.status_code == 401
    assert attempt(client, user.email, PASSWORD).status_code == 429


def test_locked_attempts_are_audited_without_the_password(frozen, app, client, user):
    for _ in range(6):
        attempt(client, user.email, PASSWORD if _ == 5 else WRONG)
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "login.failed").order_by(AuditEvent.id)
        ).all()
        assert [r.detail["reason"] for r in rows] == ["credentials"] * 5 + ["locked_out"]
        assert rows[-1].user_id == user.id


def test_the_lockout_is_configurable(frozen, configure):
    c = configure(AUTHSVC_LOGIN_FAILURES=2, AUTHSVC_LOGIN_WINDOW=60)
    client, user = c.client, c.make_user()
    attempt(client, user.email)
    attempt(client, user.email)
    assert_locked(attempt(client, user.email, PASSWORD), 60)
    clock.advance(60)
    assert attempt(client, user.email, PASSWORD).status_code == 200


def test_concurrent_guesses_cannot_exceed_the_limit(app, user):
    results: list[int] = []
    barrier = threading.Barrier(12)

    def guess() -> None:
        client = app.test_client()
        barrier.wait()
        results.append(attempt(client, user.email).status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [401] * 5 + [429] * 7


def test_parallel_right_passwords_queue_instead_of_locking_out(frozen, app, client, user):
    for _ in range(4):
        attempt(client, user.email)  # one slot left
    results: list[int] = []
    barrier = threading.Barrier(6)

    def log_in() -> None:
        other = app.test_client()
        barrier.wait()
        results.append(attempt(other, user.email, PASSWORD).status_code)

    threads = [threading.Thread(target=log_in) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6


# --- the failure log itself, on both backends --------------------------------------------


@pytest.fixture(params=["memory", "database", "redis"])
def log_and_key(request):
    if request.param == "memory":
        return MemoryFailureLog(), "k"
    if request.param == "database":
        app = request.getfixturevalue("app")
        with app.app_context():
            from authsvc.extensions import db

            engine = db.engine
        return DatabaseFailureLog(engine), "k"
    target = request.getfixturevalue("redis_target")
    return RedisFailureLog(redis.Redis.from_url(target.url)), f"{target.prefix}lockout:k"


def test_failure_log_counts_failures_in_a_sliding_window(log_and_key):
    log, key = log_and_key
    t = 1_800_000_000.0
    for i, member in enumerate(("a", "b")):
        assert log.reserve(key, member, now=t + 10 * i, window=100, limit=2) is None
        log.fail(key, member, window=100)
    assert log.reserve(key, "c", now=t + 20, window=100, limit=2) == pytest.approx(80)
    assert log.reserve(key, "c", now=t + 100.5, window=100, limit=2) is None  # "a" has left
    log.fail(key, "c", window=100)
    assert log.reserve(key, "d", now=t + 101, window=100, limit=2) == pytest.approx(9)
    assert log.reserve(key, "d", now=t + 111, window=100, limit=2) is None
    log.succeed(key, "d")
    assert log.reserve(key, "e", now=t + 111, window=100, limit=2) is None
    assert log.reserve(key, "f", now=t + 111, window=100, limit=2) is None


def test_pending_attempts_make_others_wait_not_fail(log_and_key):
    log, key = log_and_key
    t = 1_800_000_000.0
    assert log.reserve(key, "a", now=t, window=100, limit=2) is None
    assert log.reserve(key, "b", now=t, window=100, limit=2) is None
    assert log.reserve(key, "c", now=t, window=100, limit=2) == BUSY
    log.release(key, "a")
    assert log.reserve(key, "c", now=t, window=100, limit=2) is None
    log.fail(key, "b", window=100)
    log.succeed(key, "c")  # clears "b"'s failure too
    assert log.reserve(key, "d", now=t, window=100, limit=1) is None
    assert log.reserve(key, "e", now=t + PENDING_TTL + 1, window=100, limit=1) is None  # "d" died


# --- the per-address limit ---------------------------------------------------------------


def test_login_register_totp_and_console_sign_in_share_one_budget_per_address(configure):
    client = configure(AUTHSVC_ADDRESS_RATE="3 per minute").client
    assert attempt(client, "a@example.com").status_code == 401
    assert (
        client.post(
            "/api/v1/auth/register", json={"email": "b@example.com", "password": PASSWORD}
        ).status_code
        == 403
    )
    assert client.post("/api/v1/auth/totp/setup").status_code == 401
    for r in (
        attempt(client, "c@example.com"),
        client.post("/api/v1/auth/totp/enable"),
        client.post("/api/v1/auth/register", json={}),
        client.post("/console/session/login", json={}, headers={"X-Authsvc-Console": "1"}),
    ):
        assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
        retry = error_of(r)["extra"]["retry_after"]
        assert 1 <= retry <= 61 and r.headers["Retry-After"] == str(retry)
    other = {"REMOTE_ADDR": "192.0.2.50"}
    r = client.post(LOGIN, json={"email": "a@example.com", "password": WRONG}, environ_base=other)
    assert r.status_code == 401


def test_refresh_and_the_rest_are_not_limited_per_address(configure):
    c = configure(AUTHSVC_ADDRESS_RATE="1 per minute")
    client, pair = c.client, c.login(c.make_user())
    assert attempt(client, "a@example.com").status_code == 429
    for _ in range(5):
        r = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200
        pair = r.get_json()
        assert (
            client.get("/api/v1/auth/verify", headers=bearer(pair["access_token"])).status_code
            == 200
        )


def test_ipv6_clients_are_counted_by_their_64(configure):
    client = configure(AUTHSVC_ADDRESS_RATE="2 per minute").client
    for addr in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        r = client.post(
            LOGIN,
            json={"email": "a@example.com", "password": WRONG},
            environ_base={"REMOTE_ADDR": addr},
        )
        assert r.status_code == 401
    for addr, status in (("2001:db8:1:2::77", 429), ("2001:db8:1:3::1", 401)):
        r = client.post(
            LOGIN,
            json={"email": "b@example.com", "password": WRONG},
            environ_base={"REMOTE_ADDR": addr},
        )
        assert r.status_code == status


def test_rate_limit_storage_down_is_503_not_success(configure):
    c = configure(AUTHSVC_REDIS_URL="redis://127.0.0.1:1/0")
    client, user = c.client, c.make_user()
    r = attempt(client, user.email, PASSWORD)
    assert r.status_code == 503 and error_of(r) == envelope(
        "service_unavailable", type="server_error"
    )


# --- client address and proxies ----------------------------------------------------------

SPOOF = {"X-Forwarded-For": "203.0.113.9"}


def session_ips(client, token):
    return [
        s["ip"]
        for s in client.get("/api/v1/auth/sessions", headers=bearer(token)).get_json()["items"]
    ]


def test_x_forwarded_for_is_ignored_by_default(configure):
    c = configure(AUTHSVC_ADDRESS_RATE="2 per minute")
    client, user = c.client, c.make_user()
    r = client.post(
        LOGIN,
        json={"email": user.email, "password": PASSWORD},
        headers=SPOOF,
        environ_base={"REMOTE_ADDR": "10.1.1.1"},
    )
    assert session_ips(client, r.get_json()["access_token"]) == ["10.1.1.1"]
    r = client.post(
        LOGIN,
        json={"email": "x@example.com", "password": WRONG},
        headers={"X-Forwarded-For": "198.51.100.1"},
        environ_base={"REMOTE_ADDR": "10.1.1.1"},
    )
    assert r.status_code == 401
    r = client.post(
        LOGIN,
        json={"email": "x@example.com", "password": WRONG},
        headers={"X-Forwarded-For": "198.51.100.2"},
        environ_base={"REMOTE_ADDR": "10.1.1.1"},
    )
    assert r.status_code == 429  # a new forged address does not buy a new budget


def test_x_forwarded_for_is_honoured_for_the_trusted_hops(configure):
    c = configure(AUTHSVC_TRUSTED_PROXIES=1, AUTHSVC_ADDRESS_RATE="2 per minute")
    client, user = c.client, c.make_user()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    r = client.post(
        LOGIN,
        json={"email": user.email, "password": PASSWORD},
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
        environ_base=proxy,
    )
    assert session_ips(client, r.get_json()["access_token"]) == ["203.0.113.9"]
    statuses = [
        client.post(
            LOGIN,
            json={"email": "x@example.com", "password": WRONG},
            headers=SPOOF,
            environ_base=proxy,
        ).status_code
        for _ in range(2)
    ]
    assert statuses == [401, 429]  # 203.0.113.9 has spent its two
    r = client.post(
        LOGIN,
        json={"email": "x@example.com", "password": WRONG},
        headers={"X-Forwarded-For": "203.0.113.10"},
        environ_base=proxy,
    )
    assert r.status_code == 401


@pytest.mark.parametrize("hops", [-1, "two"])
def test_trusted_proxies_must_be_a_hop_count(config, tmp_path, monkeypatch, hops):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="AUTHSVC_TRUSTED_PROXIES"):
        create_app({**config, "AUTHSVC_TRUSTED_PROXIES": hops})


@pytest.mark.parametrize("rate", ["lots", "", "50 per fortnight"])
def test_address_rate_must_parse(config, tmp_path, monkeypatch, rate):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="AUTHSVC_ADDRESS_RATE"):
        create_app({**config, "AUTHSVC_ADDRESS_RATE": rate})


# --- timing ------------------------------------------------------------------------------


@pytest.mark.slow
def test_unknown_email_and_wrong_password_take_the_same_time(configure):
    c = configure(
        AUTHSVC_ARGON2_MEMORY_KIB=OWASP_MINIMUM.memory_kib,
        AUTHSVC_ARGON2_TIME_COST=OWASP_MINIMUM.time_cost,
        AUTHSVC_ARGON2_PARALLELISM=OWASP_MINIMUM.parallelism,
        AUTHSVC_LOGIN_FAILURES=1000,
        AUTHSVC_ADDRESS_RATE="1000 per minute",
    )
    client, user = c.client, c.make_user()
    times: dict[str, list[float]] = {"unknown": [], "wrong": []}
    bodies = set()
    for i in range(33):
        for kind, email in (("unknown", "nobody@example.com"), ("wrong", user.email)):
            start = time.perf_counter()
            r = attempt(client, email)
            elapsed = time.perf_counter() - start
            assert r.status_code == 401
            bodies.add(r.get_data())
            if i >= 3:  # warm-up: the dummy hash is made on first use
                times[kind].append(elapsed)
    assert len(bodies) == 1
    unknown, wrong = (statistics.median(times[k]) for k in ("unknown", "wrong"))
    assert abs(unknown - wrong) <= 0.25 * min(unknown, wrong), (unknown, wrong)


# --- headers and body size ---------------------------------------------------------------


def test_every_response_says_nosniff_and_api_answers_are_not_stored(client, user, tokens):
    responses = [
        attempt(client, user.email, PASSWORD),
        attempt(client, user.email),
        client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"])),
        client.get("/api/v1/nowhere"),
        client.get("/.well-known/jwks.json"),
        client.get("/nowhere"),
    ]
    for r in responses:
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    for r in responses[:4]:
        assert r.headers["Cache-Control"] == "no-store"


def test_token_bearing_answers_are_not_stored(client, user, tokens):
    r = client.post(
        "/console/session/login",
        json={"email": user.email, "password": PASSWORD},
        headers={"X-Authsvc-Console": "1"},
    )
    assert r.status_code == 200 and "access_token" in r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(tokens["access_token"]),
        json={"name": "ci", "expires_in_days": 1, "current_password": PASSWORD},
    )
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    r = client.post(
        "/api/v1/auth/totp/setup",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD},
    )
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"


def test_html_gets_a_strict_csp(app):
    app.add_url_rule("/_html_probe", "html_probe", lambda: "<!doctype html><p>hi</p>")
    r = app.test_client().get("/_html_probe")
    assert r.mimetype == "text/html"
    csp = r.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    r = app.test_client().get("/api/v1/health")
    assert "Content-Security-Policy" not in r.headers


@pytest.mark.parametrize("size,status", [(64 * 1024, 401), (64 * 1024 + 1, 413)])
def test_body_over_the_limit_is_413(client, size, status):
    head = b'{"email": "a@example.com", "password": "not-the-password-42", "pad": "'
    body = head + b"y" * (size - len(head) - 2) + b'"}'
    assert len(body) == size
    r = client.post(LOGIN, data=body, content_type="application/json")
    assert r.status_code == status, r.get_json()
    if status == 413:
        assert error_of(r) == envelope("too_large")


def test_the_body_limit_is_configurable_and_holds_without_content_length(configure):
    client = configure(AUTHSVC_MAX_BODY_BYTES=1024).client
    r = client.post(
        LOGIN, data=b'{"email": "' + b"a" * 2000 + b'"}', content_type="application/json"
    )
    assert r.status_code == 413 and error_of(r) == envelope("too_large")
    builder = EnvironBuilder(
        path=LOGIN,
        method="POST",
        content_type="application/json",
        data=b'{"email": "' + b"a" * 2000 + b'"}',
    )
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]  # as a chunked body arrives, through a server that ends it
    environ["wsgi.input_terminated"] = True
    r = client.open(environ)
    assert r.status_code == 413 and error_of(r) == envelope("too_large")


# --- shared by every worker and host (Redis) ---------------------------------------------


@pytest.mark.redis
def test_two_apps_on_one_redis_share_the_lockout_and_the_address_count(
    frozen, redis_target, make_app, user
):
    settings = {
        "AUTHSVC_REDIS_URL": redis_target.url,
        "AUTHSVC_REDIS_PREFIX": redis_target.prefix,
        "AUTHSVC_ADDRESS_RATE": "8 per minute",
    }
    one, two = make_app(**settings).test_client(), make_app(**settings).test_client()
    for client in (one, two, one, two):
        assert attempt(client, user.email).status_code == 401
    assert attempt(one, "ghost@example.com").status_code == 401
    assert attempt(two, user.email).status_code == 401  # the fifth failure, counted by both
    assert_locked(attempt(one, user.email, PASSWORD), 900)
    assert_locked(attempt(two, user.email, PASSWORD), 900)  # eight address hits so far
    for client in (one, two):
        r = attempt(client, "someone@example.com")
        assert r.status_code == 429 and 1 <= error_of(r)["extra"]["retry_after"] <= 61
    conn = redis.Redis.from_url(redis_target.url)
    keys = [k.decode() for k in conn.scan_iter(match=f"*{redis_target.prefix}*")]
    assert any("lockout:" in k for k in keys) and any("auth-address" in k for k in keys)
    clock.advance(timedelta(seconds=900))  # the lockout follows the service clock
    r = two.post(
        LOGIN,
        json={"email": user.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.99"},
    )
    assert r.status_code == 200


@pytest.mark.redis
def test_each_service_keeps_to_its_prefix(frozen, redis_target, make_app, user):
    mine = {"AUTHSVC_REDIS_URL": redis_target.url, "AUTHSVC_REDIS_PREFIX": redis_target.prefix}
    other = {
        "AUTHSVC_REDIS_URL": redis_target.url,
        "AUTHSVC_REDIS_PREFIX": redis_target.prefix + "other:",
    }
    one, two = make_app(**mine).test_client(), make_app(**other).test_client()
    for _ in range(5):
        attempt(one, user.email)
    assert attempt(one, user.email, PASSWORD).status_code == 429
    assert attempt(two, user.email, PASSWORD).status_code == 200


def test_the_security_headers_replace_a_views_cache_control_and_keep_its_own_choices():
    from authsvc.web.edge import HTML_CSP, secure

    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("cache-control", "max-age=60"),
        ("X-Frame-Options", "SAMEORIGIN"),
        ("X-Request-ID", "from-the-view"),
    ]
    secure(headers, "/api/v1/anything", 200, "rid-1")
    names = [name.lower() for name, _ in headers]
    assert sorted(names) == sorted(set(names))  # each once
    got = {name.lower(): value for name, value in headers}
    assert got["cache-control"] == "no-store" and got["x-request-id"] == "rid-1"
    assert got["x-frame-options"] == "SAMEORIGIN" and got["x-content-type-options"] == "nosniff"
    assert got["referrer-policy"] == "no-referrer" and got["content-security-policy"] == HTML_CSP
    for status, kept in ((200, True), (304, True), (404, False)):
        listed = [("Content-Type", "application/json"), ("Cache-Control", "no-cache")]
        secure(listed, "/api/v1/status-lists/0", status, "rid-2")
        assert dict(listed)["Cache-Control"] == ("no-cache" if kept else "no-store")
        assert "Content-Security-Policy" not in dict(listed)
