"""Issue 22 in authsvc.verifier: a key's `allowed_ips` claim enforced offline against the
request's address (behind the verifier's own trusted proxies), and authsvc's refusals of a
restricted key passed on from introspection."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import jwt
import pytest
from flask import Flask

from authsvc.core import tokens
from authsvc.core.errors import PermissionDenied, RateLimited
from authsvc.verifier import Verifier, _refusal
from authsvc.verifier.flask import current_token
from tests.helpers import FakeTime, error_of
from tests.http.test_verifier import ISSUER, FakeAuthsvc, make_verifier, new_key


def restricted(key: tokens.Key, allowed: list[str], kind: str = "private") -> str:
    now = datetime.now(UTC)
    token, _ = tokens.encode(
        kind,
        subject="u1",
        scopes=("read",),
        key=key,
        issuer=ISSUER,
        audience="authsvc",
        now=now,
        expires_at=now + timedelta(hours=1),
        session_id=None,
        extra={"allowed_ips": allowed},
    )
    return token


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        ("192.0.2.10", True),
        ("192.0.2.0", True),
        ("192.0.2.255", True),
        ("192.0.3.0", False),
        ("::ffff:192.0.2.10", True),
        ("2001:db8::5", True),
        ("2001:db8::6", False),
        (None, False),  # no address: a restricted key is refused
        ("garbage", False),
    ],
)
def test_offline_verification_enforces_the_claim(monkeypatch, addr, ok):
    key = new_key()
    verifier = make_verifier(FakeAuthsvc(key), monkeypatch)
    token = restricted(key, ["192.0.2.0/24", "2001:db8::5"])
    if ok:
        assert verifier.verify(token, client_ip=addr).sub == "u1"
        return
    with pytest.raises(PermissionDenied) as refused:
        verifier.verify(token, client_ip=addr)
    assert refused.value.extra is not None and refused.value.extra["reason"] == "ip_not_allowed"


def test_a_token_without_the_claim_needs_no_address(monkeypatch):
    key = new_key()
    verifier = make_verifier(FakeAuthsvc(key), monkeypatch)
    token, _ = tokens.encode(
        "private",
        subject="u1",
        scopes=("read",),
        key=key,
        issuer=ISSUER,
        audience="authsvc",
        now=datetime.now(UTC),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert verifier.verify(token).sub == "u1"


def resource_server(verifier: Verifier) -> Flask:
    app = Flask("rs")

    @app.get("/orders")
    @verifier.require_token(["read"])
    def orders() -> dict[str, Any]:
        return {"sub": current_token().sub}

    return app


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "ok"),
    [
        (0, "192.0.2.10", None, True),
        (0, "198.51.100.1", None, False),
        (0, "198.51.100.1", "192.0.2.10", False),  # spoofed from an untrusted peer: ignored
        (1, "10.9.9.9", "192.0.2.10", True),  # through one trusted proxy
        (1, "10.9.9.9", "192.0.2.10, 198.51.100.1", False),  # the proxy's entry is the client's
        (1, "10.9.9.9", "198.51.100.1, 192.0.2.10", True),  # the client's own prefix ignored
        (2, "10.9.9.9", "192.0.2.10, 10.8.8.8", True),
    ],
)
def test_the_flask_decorator_checks_the_forwarded_address(
    monkeypatch, proxies, peer, forwarded, ok
):
    key = new_key()
    verifier = make_verifier(FakeAuthsvc(key), monkeypatch, trusted_proxies=proxies)
    client = resource_server(verifier).test_client()
    headers = {"X-API-Key": restricted(key, ["192.0.2.0/24"])}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    r = client.get("/orders", headers=headers, environ_base={"REMOTE_ADDR": peer})
    if ok:
        assert r.status_code == 200 and r.get_json() == {"sub": "u1"}
    else:
        assert r.status_code == 403
        err = error_of(r)
        assert err["code"] == "permission_denied" and err["extra"]["reason"] == "ip_not_allowed"


def test_introspection_sends_the_client_address_and_caches_per_address(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    sent: list[dict[str, str]] = []

    def answer(req: urllib.request.Request) -> Any:
        if req.full_url.endswith("/introspect"):
            assert isinstance(req.data, bytes)
            sent.append(dict(urllib.parse.parse_qsl(req.data.decode())))
            return {"active": True, "sub": "u1", "jti": claims["jti"], "scope": "read"}
        return fake(req)

    verifier = make_verifier(fake, monkeypatch, FakeTime())
    monkeypatch.setattr(verifier, "_http_json", answer)
    token = restricted(key, ["192.0.2.0/24"])
    claims = jwt.decode(token, options={"verify_signature": False})
    for addr in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        assert verifier.verify(token, introspect=True, client_ip=addr).introspected
    assert [s.get("client_ip") for s in sent] == ["192.0.2.1", "192.0.2.2"]
    with pytest.raises(PermissionDenied):  # refused before authsvc is asked
        verifier.verify(token, introspect=True, client_ip="198.51.100.1")
    assert len(sent) == 2


def http_error(code: int, body: dict[str, Any]) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(
        "http://authsvc.example/api/v1/auth/introspect",
        code,
        "refused",
        Message(),
        io.BytesIO(json.dumps(body).encode()),
    )


def envelope_of(code: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "client_error",
        "errors": [{"code": code, "detail": "d", "attr": None, "extra": extra}],
    }


def test_authsvcs_refusal_of_the_introspected_key_is_passed_on():
    limited = _refusal(
        http_error(429, envelope_of("rate_limited", {"retry_after": 7, "introspected": True}))
    )
    assert isinstance(limited, RateLimited) and limited.headers["Retry-After"] == "7"
    denied = _refusal(
        http_error(
            403,
            envelope_of(
                "permission_denied",
                {"reason": "ip_not_allowed", "ip": "198.51.100.1", "introspected": True},
            ),
        )
    )
    assert isinstance(denied, PermissionDenied)
    assert denied.extra == {"reason": "ip_not_allowed", "ip": "198.51.100.1"}
    # a refusal of the backend's own credential stays the backend's problem (503)
    assert (
        _refusal(http_error(403, envelope_of("insufficient_scope", {"scopes": ["introspect"]})))
        is None
    )
    assert _refusal(http_error(429, envelope_of("rate_limited", {"retry_after": 7}))) is None
