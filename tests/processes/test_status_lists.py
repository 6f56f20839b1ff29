"""authsvc.verifier following the Token Status Lists of a real authsvc (gunicorn) process:
a logout is refused offline within ttl + 1 s, and a list that cannot be refreshed for
max_status_age answers Unavailable (503), never a stale success."""

from __future__ import annotations

import signal
import time

import pytest

from authsvc.core import tokens
from authsvc.verifier import Unavailable, Verifier
from tests.helpers import bearer, http

TTL = 1


def verifier_for(url: str, **options: float) -> Verifier:
    return Verifier("http://authsvc.test", "authsvc", url + "/.well-known/jwks.json", **options)


def login(url: str, user) -> dict:
    status, pair = http(
        "POST", url + "/api/v1/auth/login", {"email": user.email, "password": user.password}
    )
    assert status == 200, pair
    return pair


def test_a_logout_is_refused_offline_within_ttl_plus_one_second(serve, user):
    server = serve(AUTHSVC_STATUS_LIST_TTL=str(TTL))
    verifier = verifier_for(server.url)
    for _trial in range(3):
        pair = login(server.url, user)
        assert verifier.verify(pair["access_token"]).sub == user.id
        time.sleep(0.3)
        assert (
            http("POST", server.url + "/api/v1/auth/logout", headers=bearer(pair["access_token"]))[
                0
            ]
            == 204
        )
        returned = time.monotonic()
        while True:
            try:
                verifier.verify(pair["access_token"])
            except tokens.Revoked:
                break
            assert time.monotonic() - returned <= TTL + 1, "still accepted after ttl + 1 s"
            time.sleep(0.05)
        assert time.monotonic() - returned <= TTL + 1
    assert verifier.status_lists is not None and verifier.status_lists.fetches >= 3


def test_a_deactivated_user_is_inactive_offline(serve, user, admin):
    server = serve(AUTHSVC_STATUS_LIST_TTL=str(TTL))
    verifier = verifier_for(server.url)
    pair = login(server.url, user)
    admin_pair = login(server.url, admin)
    verifier.verify(pair["access_token"])
    status, _ = http(
        "PATCH",
        f"{server.url}/api/v1/users/{user.id}",
        {"is_active": False},
        headers=bearer(admin_pair["access_token"]),
    )
    assert status == 200
    deadline = time.monotonic() + TTL + 1
    while time.monotonic() < deadline:
        try:
            verifier.verify(pair["access_token"])
        except tokens.InactiveUser:
            return
        time.sleep(0.05)
    pytest.fail("a deactivated user's token was still accepted after ttl + 1 s")


def test_unavailable_once_the_list_is_older_than_max_status_age(serve, user):
    server = serve(AUTHSVC_STATUS_LIST_TTL=str(TTL))
    verifier = verifier_for(server.url, max_status_age=3)
    pair = login(server.url, user)
    verifier.verify(pair["access_token"])
    fetched = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout=10)
    # authsvc is gone; the copy is trusted until it is max_status_age old, never after
    while time.monotonic() - fetched < 2.5:
        assert verifier.verify(pair["access_token"]).sub == user.id
        time.sleep(0.1)
    time.sleep(max(0.0, fetched + 3.2 - time.monotonic()))
    with pytest.raises(Unavailable):
        verifier.verify(pair["access_token"])
    with pytest.raises(Unavailable):
        verifier.verify(pair["access_token"])
