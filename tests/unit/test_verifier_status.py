"""authsvc.verifier.status against a fake authsvc: first fetch, background refresh with
If-None-Match, never waiting while fresh, refusals, and 503 past max_status_age."""

from __future__ import annotations

import email.message
import io
import threading
import urllib.error
from typing import Any

import pytest

from authsvc.core import keys, status_list, tokens
from authsvc.verifier.status import StatusLists, StatusUnavailable
from tests.helpers import FakeTime

KEY = keys.load("ES256", keys.generate("ES256"))
ISSUER = "http://authsvc.test"
URI = f"{ISSUER}/api/v1/status-lists/0"


class _Response:
    def __init__(self, body: io.BytesIO, headers: email.message.Message) -> None:
        self._body, self.headers = body, headers

    def read(self, n: int = -1) -> bytes:
        return self._body.read(n)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeAuthsvc:
    """An opener: serves list 0 with `statuses`, 304 on a matching If-None-Match."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.requests: list[dict[str, str]] = []
        self.down = False
        self.typ = status_list.TYP
        self.gate: threading.Event | None = None

    def open(self, req: Any, timeout: float) -> Any:
        if self.gate is not None:
            self.gate.wait(5)
        self.requests.append(dict(req.header_items()))
        if self.down:
            raise urllib.error.URLError("connection refused")
        tag = status_list.etag(self.statuses.items())
        headers = email.message.Message()
        headers["ETag"] = tag
        headers["Content-Type"] = status_list.MEDIA_TYPE
        if req.get_header("If-none-match") == tag:
            raise urllib.error.HTTPError(req.full_url, 304, "Not Modified", headers, io.BytesIO())
        token = status_list.sign(
            uri=URI,
            raw=status_list.pack(self.statuses),
            key=KEY,
            now=clock.now(),
            ttl=2,
            lifetime=3600,
        )
        if self.typ != status_list.TYP:
            import jwt

            token = jwt.encode(
                jwt.decode(token, options={"verify_signature": False}),
                KEY.signing,
                algorithm="ES256",
                headers={"kid": KEY.kid, "typ": self.typ},
            )
        body = io.BytesIO(token.encode())
        return _Response(body, headers)


clock = FakeTime()


@pytest.fixture
def fake() -> FakeAuthsvc:
    return FakeAuthsvc()


def lists(fake: FakeAuthsvc, **options: Any) -> StatusLists:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "base_url": "http://authsvc.example",
        "keys": {KEY.kid: KEY}.get,
        "algorithm": "ES256",
        "opener": fake,
        "timeout": 1,
        "max_status_age": 60,
        "now": clock.now,
        "monotonic": clock.monotonic,
        "background": False,
    }
    args.update(options)
    return StatusLists(**args)


def claims(idx: int, uri: str = URI) -> dict[str, Any]:
    return {"status": {"status_list": {"idx": idx, "uri": uri}}}


def test_follows_statuses_and_refreshes_with_if_none_match(fake):
    follower = lists(fake)
    fake.statuses = {3: 1, 4: 2}
    follower.check(claims(0))
    with pytest.raises(tokens.Revoked):
        follower.check(claims(3))
    with pytest.raises(tokens.InactiveUser):
        follower.check(claims(4))
    assert len(fake.requests) == 1  # fetched once, at first use
    clock.advance(2.5)
    follower.check(claims(0))  # past ttl: a conditional refresh, answered 304
    assert fake.requests[-1]["If-none-match"] == status_list.etag(fake.statuses.items())
    assert follower.not_modified == 1
    fake.statuses[0] = 1
    clock.advance(2.5)
    follower.check(claims(0))  # served from the copy while the refresh runs (here: inline)
    with pytest.raises(tokens.Revoked):
        follower.check(claims(0))


def test_a_token_without_a_status_claim_passes_without_a_fetch(fake):
    follower = lists(fake)
    follower.check({"sub": "u"})
    assert fake.requests == []


@pytest.mark.parametrize(
    "claim",
    [
        {"status_list": {"idx": -1, "uri": URI}},
        {"status_list": {"idx": True, "uri": URI}},
        {"status_list": {"idx": 1, "uri": "http://evil.example/api/v1/status-lists/0"}},
        {"status_list": {"idx": 1, "uri": f"{ISSUER}/api/v1/status-lists/../x"}},
        {"status_list": {"idx": 1}},
        {"status_list": "x"},
        "x",
        {"status_list": {"idx": 1 << 40, "uri": URI}},
    ],
    ids=repr,
)
def test_bad_status_claims_are_malformed_and_fetch_nothing_elsewhere(fake, claim):
    with pytest.raises(tokens.Malformed):
        lists(fake).check({"status": claim})
    assert len(fake.requests) <= 1


def test_a_list_of_another_type_is_not_trusted(fake):
    fake.typ = "at+jwt"
    with pytest.raises(StatusUnavailable):
        lists(fake).check(claims(0))


def test_never_waits_for_a_refresh_while_the_copy_is_fresh(fake):
    follower = lists(fake, background=True)
    follower.check(claims(0))
    fake.gate = threading.Event()  # authsvc hangs from now on
    clock.advance(3)
    follower.check(claims(0))  # stale for ttl, fresh for max_status_age: answered at once
    follower.check(claims(0))
    assert threading.active_count() >= 2
    fake.gate.set()


def test_unavailable_after_max_status_age(fake):
    follower = lists(fake, max_status_age=10)
    follower.check(claims(0))
    fake.down = True
    clock.advance(5)
    follower.check(claims(0))  # the refresh failed; the copy is 5 s old: still trusted
    clock.advance(6)
    with pytest.raises(StatusUnavailable):
        follower.check(claims(0))
    fake.down = False
    clock.advance(1.5)
    follower.check(claims(0))  # authsvc is back: trusted again
