"""Issue 22 with real servers: a key's rate limit is one count across gunicorn workers and
hosts (the database the lockout uses), and a new window gives the budget back."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.helpers import PASSWORD, bearer, http


def get(url: str, key: str) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def make_key(url: str, access: str, rate_limit: str) -> str:
    status, body = http(
        "POST",
        url + "/api/v1/private-tokens",
        {
            "name": "ci",
            "expires_in_days": 1,
            "current_password": PASSWORD,
            "rate_limit": rate_limit,
        },
        headers=bearer(access),
    )
    assert status == 201, body
    return str(body["token"])


def test_five_a_minute_across_workers_and_hosts_then_a_new_window(serve, user):
    two_workers, other_host = serve(workers=2), serve()
    status, pair = http(
        "POST",
        two_workers.url + "/api/v1/auth/login",
        {"email": user.email, "password": user.password},
    )
    assert status == 200
    key = make_key(two_workers.url, pair["access_token"], "5/minute")
    urls = [two_workers.url, two_workers.url, other_host.url]
    for i in range(5):
        status, headers, body = get(urls[i % 3] + "/api/v1/auth/verify", key)
        assert status == 200, body
        assert headers["X-RateLimit-Remaining"] == str(4 - i)
    for url in (two_workers.url, other_host.url):
        status, headers, body = get(url + "/api/v1/auth/check", key)
        assert status == 429, body
        assert body["errors"][0]["code"] == "rate_limited"
        assert headers["Retry-After"] == str(body["errors"][0]["extra"]["retry_after"])

    # A short window shows the reset without waiting a minute.
    short = make_key(two_workers.url, pair["access_token"], "5 per 3 seconds")
    time.sleep(3 - time.time() % 3 + 0.05)  # at the start of a window
    answers = [get(urls[i % 3] + "/api/v1/auth/verify", short) for i in range(6)]
    assert [a[0] for a in answers] == [200] * 5 + [429]
    time.sleep(int(answers[-1][1]["Retry-After"]) + 0.1)
    status, headers, _ = get(other_host.url + "/api/v1/auth/verify", short)
    assert status == 200 and headers["X-RateLimit-Remaining"] == "4"
