"""authsvc.verifier: offline verification, JWKS caching, introspection, the Flask decorator,
and the example resource server beside a real authsvc on loopback ports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask, g, redirect

from authsvc.core import keys, tokens
from authsvc.verifier import Unavailable, Verifier
from tests.helpers import FakeTime, bearer, envelope, http
from tests.unit.test_tokens import high_s

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "http://authsvc.test"
BASE = "http://authsvc.example"
JWKS_URL = f"{BASE}/.well-known/jwks.json"
INTROSPECT_URL = f"{BASE}/api/v1/auth/introspect"


# --- importable without the server -----------------------------------------------------------

ISOLATED = r"""
import importlib.abc, sys
SERVER_ONLY = {"sqlalchemy", "flask_sqlalchemy", "flask_migrate", "alembic", "flask_smorest",
               "marshmallow", "webargs", "apispec", "argon2", "zxcvbn", "pyotp", "segno",
               "limits", "redis", "psycopg", "gunicorn", "prometheus_client"}
ALLOWED = {"authsvc", "authsvc.core", "authsvc.core.bearer", "authsvc.core.envelope", "authsvc.core.errors",
           "authsvc.core.restrictions", "authsvc.core.tokens", "authsvc.core.status_list", "authsvc.verifier",
           "authsvc.verifier.flask", "authsvc.verifier.status"}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in SERVER_ONLY or (name.startswith("authsvc") and name not in ALLOWED):
            raise ImportError(f"not installed here: {name}")
        return None

sys.meta_path.insert(0, Refuse())
from authsvc.verifier import Verifier
import examples.resource_server as example
app = example.create_app("http://127.0.0.1:9", introspect_token="t")
print(sorted(m for m in sys.modules if m.startswith("authsvc")))
"""


def test_importable_with_only_pyjwt_cryptography_and_flask():
    result = subprocess.run(
        [sys.executable, "-c", ISOLATED], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['authsvc', 'authsvc.core', 'authsvc.core.bearer', 'authsvc.core.envelope', 'authsvc.core.errors', "
        "'authsvc.core.restrictions', 'authsvc.core.status_list', 'authsvc.core.tokens', 'authsvc.verifier', "
        "'authsvc.verifier.flask', 'authsvc.verifier.status']"
    )


WITHOUT_FLASK = ISOLATED.replace("SERVER_ONLY = {", 'SERVER_ONLY = {"flask", "werkzeug", ').replace(
    'import examples.resource_server as example\napp = example.create_app("http://127.0.0.1:9", introspect_token="t")\n',
    'Verifier(issuer="http://127.0.0.1:9", audience="authsvc", jwks_url="http://127.0.0.1:9/j")\n',
)


def test_verify_needs_only_pyjwt_and_cryptography():
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_FLASK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "['authsvc', 'authsvc.core', 'authsvc.core.envelope', 'authsvc.core.errors', "
        "'authsvc.core.restrictions', 'authsvc.core.status_list', 'authsvc.core.tokens', "
        "'authsvc.verifier', 'authsvc.verifier.status']"
    )


# --- a fake authsvc behind _http_json ----------------------------------------------------------


class FakeAuthsvc:
    """What the verifier fetches: a JWKS and introspection answers, with failures on demand."""

    def __init__(self, *keys_: tokens.Key) -> None:
        self.jwks: dict[str, Any] = {"keys": [keys.published_jwk(k) for k in keys_]}
        self.answers: dict[str, dict[str, Any]] = {}
        self.down = False
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, req: urllib.request.Request) -> Any:
        auth = req.get_header("Authorization")
        self.requests.append((req.full_url, auth))
        if self.down:
            raise Unavailable("down")
        if req.full_url == JWKS_URL:
            return json.loads(json.dumps(self.jwks))
        assert req.full_url == INTROSPECT_URL and auth == "Bearer gateway-token"
        token = dict(urllib.parse.parse_qsl(req.data.decode()))["token"]
        return self.answers.get(token, {"active": False})


def new_key(alg: str = "ES256") -> tokens.Key:
    return keys.load(alg, keys.generate(alg))


def mint(
    key: tokens.Key,
    kind: str = "access",
    *,
    scopes: tuple[str, ...] = ("read", "write"),
    now: datetime | None = None,
    ttl: int = 3600,
    audience: str = "authsvc",
) -> str:
    now = now or datetime.now(UTC)
    token, _ = tokens.encode(
        kind,
        subject="u1",
        scopes=scopes,
        key=key,
        issuer=ISSUER,
        audience=audience,
        now=now,
        expires_at=now + timedelta(seconds=ttl),
        session_id=None if kind == "private" else "s1",
    )
    return token


def make_verifier(
    fake: FakeAuthsvc, monkeypatch: pytest.MonkeyPatch, time: FakeTime | None = None, **options: Any
) -> Verifier:
    time = time or FakeTime()
    options.setdefault("introspect_url", INTROSPECT_URL)
    options.setdefault("introspect_token", "gateway-token")
    verifier = Verifier(
        ISSUER, "authsvc", JWKS_URL, now=time.now, monotonic=time.monotonic, **options
    )
    monkeypatch.setattr(verifier, "_http_json", fake)
    return verifier


def tamper(token: str) -> str:
    """One signature character changed; still canonical base64url."""
    head, payload, sig = token.split(".")
    i = len(sig) // 2
    return f"{head}.{payload}.{sig[:i]}{'A' if sig[i] != 'A' else 'B'}{sig[i + 1 :]}"


def reason(verifier: Verifier, token: str, **kwargs: Any) -> str | None:
    try:
        verifier.verify(token, **kwargs)
    except tokens.InvalidToken as exc:
        return exc.reason
    return None


def jwks_fetches(fake: FakeAuthsvc) -> int:
    return sum(url == JWKS_URL for url, _ in fake.requests)


# --- offline verification and the JWKS cache ----------------------------------------------------


def test_verifies_typed_tokens_offline_and_fetches_the_jwks_once(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    verifier = make_verifier(fake, monkeypatch)
    access, private = mint(key), mint(key, "private", scopes=("read",))
    for _ in range(3):
        v = verifier.verify(access)
        assert v.kind == "access" and v.sub == "u1" and v.scopes == ("read", "write")
        assert verifier.verify(private).kind == "private"
    assert fake.requests == [(JWKS_URL, None)]


@pytest.mark.parametrize(
    "case,expected",
    [
        ("refresh", "wrong_type"),
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("audience", "malformed"),
        ("tampered", "signature"),
        ("hs256", "algorithm"),
        ("foreign_key", "unknown_key"),
        ("garbage", "malformed"),
        ("high_s", "signature"),
    ],
)
def test_refusals_carry_the_contracts_reason(monkeypatch, case, expected):
    key = new_key()
    verifier = make_verifier(FakeAuthsvc(key), monkeypatch)
    now = datetime.now(UTC)
    token = {
        "refresh": lambda: mint(key, "refresh"),
        "expired": lambda: mint(key, now=now - timedelta(hours=2)),
        "not_yet_valid": lambda: mint(key, now=now + timedelta(minutes=5)),
        "audience": lambda: mint(key, audience="another"),
        "tampered": lambda: tamper(mint(key)),
        "hs256": lambda: jwt.encode(
            {"sub": "u1"}, b"x" * 32, algorithm="HS256", headers={"kid": key.kid, "typ": "at+jwt"}
        ),
        "foreign_key": lambda: mint(new_key()),
        "garbage": lambda: "a.b",
        "high_s": lambda: high_s(mint(key)),
    }[case]()
    assert reason(verifier, token) == expected


def test_an_unknown_kid_refetches_the_jwks_at_most_once_a_minute(monkeypatch):
    old, new, newer, bogus = new_key(), new_key(), new_key(), new_key()
    fake = FakeAuthsvc(old)
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time)
    assert reason(verifier, mint(old)) is None
    fake.jwks["keys"].append(keys.published_jwk(new))  # authsvc rotated
    time.advance(1)
    assert reason(verifier, mint(new)) is None  # fetched again at once, found
    assert jwks_fetches(fake) == 2
    for _ in range(5):  # a flood of made-up kids
        assert reason(verifier, mint(bogus)) == "unknown_key"
    assert jwks_fetches(fake) == 2
    fake.jwks["keys"].append(keys.published_jwk(newer))  # rotated again within the minute
    time.advance(58)
    assert reason(verifier, mint(newer)) == "unknown_key"  # waits for the minute to pass
    time.advance(2)
    assert reason(verifier, mint(newer)) is None
    assert jwks_fetches(fake) == 3
    assert reason(verifier, mint(old)) is None and jwks_fetches(fake) == 3


def test_an_unknown_kid_while_authsvc_is_down_is_unavailable_not_unknown(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time)
    assert reason(verifier, mint(key)) is None
    fake.down = True
    for _ in range(2):
        with pytest.raises(Unavailable):
            verifier.verify(mint(new_key()))
    assert jwks_fetches(fake) == 2
    assert reason(verifier, mint(key)) is None  # known keys still verify


def test_a_stale_jwks_is_refreshed_and_a_failed_refresh_keeps_the_known_keys(monkeypatch, caplog):
    key = new_key()
    fake = FakeAuthsvc(key)
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time)
    token = mint(key, ttl=7200)
    assert reason(verifier, token) is None
    time.advance(301)
    fake.down = True
    assert reason(verifier, token) is None
    assert jwks_fetches(fake) == 2 and "JWKS refresh failed" in caplog.text
    fake.down = False
    time.advance(61)
    assert reason(verifier, token) is None and jwks_fetches(fake) == 3
    fake.jwks["keys"] = []  # the key is no longer published
    time.advance(301)
    assert reason(verifier, token) == "unknown_key"


def test_an_unreachable_jwks_is_unavailable_and_retried_after_a_pause(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    fake.down = True
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time)
    for _ in range(3):
        with pytest.raises(Unavailable):
            verifier.verify(mint(key))
    assert jwks_fetches(fake) == 1
    fake.down = False
    time.advance(5)
    assert reason(verifier, mint(key)) is None and jwks_fetches(fake) == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda jwk: {**jwk, "alg": "ES384"},
        lambda jwk: {**jwk, "use": "enc"},
        lambda jwk: {**jwk, "d": "AAAA"},
        lambda jwk: {**jwk, "kty": "oct", "k": "c2VjcmV0"},
        lambda jwk: {**jwk, "crv": "P-384"},
        lambda jwk: {**jwk, "x": "not-base64!"},
        lambda jwk: "not an object",
    ],
    ids=["alg", "use", "private-member", "symmetric", "curve", "broken", "not-object"],
)
def test_jwks_entries_a_backend_must_not_trust_are_ignored(monkeypatch, tamper):
    key = new_key()
    fake = FakeAuthsvc(key)
    fake.jwks["keys"] = [tamper(fake.jwks["keys"][0])]
    verifier = make_verifier(fake, monkeypatch)
    assert reason(verifier, mint(key)) == "unknown_key"


@pytest.mark.parametrize("alg", ["EdDSA", "RS256"])
def test_other_asymmetric_algorithms(monkeypatch, alg):
    key = new_key(alg)
    verifier = make_verifier(FakeAuthsvc(key), monkeypatch, algorithm=alg)
    assert reason(verifier, mint(key)) is None
    assert reason(verifier, mint(new_key("ES256"))) == "algorithm"


# --- introspection --------------------------------------------------------------------------------


def active(token: str, kind: str = "access", scope: str = "read write") -> dict[str, Any]:
    claims = jwt.decode(token, options={"verify_signature": False})
    return {
        "active": True,
        "token_type": kind,
        "sub": claims["sub"],
        "scope": scope,
        "jti": claims["jti"],
        "iat": claims["iat"],
        "exp": claims["exp"],
        "iss": ISSUER,
        "aud": "authsvc",
    }


def test_introspection_sees_revocation_with_a_short_cache(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time)
    token = mint(key)
    fake.answers[token] = active(token)
    assert verifier.verify(token, introspect=True).introspected
    assert verifier.verify(token, introspect=True).introspected
    assert verifier.introspections == 1
    del fake.answers[token]  # revoked at authsvc
    time.advance(4)
    assert reason(verifier, token, introspect=True) is None  # still inside the 5 s cache
    time.advance(1.5)
    assert reason(verifier, token, introspect=True) == "revoked"
    assert reason(verifier, token) is None  # offline cannot know
    assert verifier.introspections == 2


def test_introspection_gives_the_live_scopes(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    verifier = make_verifier(fake, monkeypatch)
    token = mint(key)
    fake.answers[token] = active(token, scope="read")
    assert verifier.verify(token, introspect=True).scopes == ("read",)


def test_introspection_about_another_token_is_not_trusted(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    verifier = make_verifier(fake, monkeypatch)
    token, other = mint(key), mint(key)
    fake.answers[token] = active(other)
    with pytest.raises(Unavailable):
        verifier.verify(token, introspect=True)


def test_a_bad_token_is_refused_before_introspection_is_asked(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    verifier = make_verifier(fake, monkeypatch)
    assert reason(verifier, mint(new_key()), introspect=True) == "unknown_key"
    assert verifier.introspections == 0


def test_hs256_is_verified_by_introspection_only(monkeypatch):
    key = new_key("HS256")
    fake = FakeAuthsvc()
    time = FakeTime()
    verifier = make_verifier(fake, monkeypatch, time, algorithm="HS256")
    token = mint(key)
    fake.answers[token] = active(token)
    v = verifier.verify(token)
    assert v.introspected and v.sub == "u1" and v.scopes == ("read", "write")
    assert reason(verifier, mint(new_key("ES256"))) == "algorithm"
    assert reason(verifier, mint(key, "refresh")) == "wrong_type"
    assert verifier.introspections == 1 and jwks_fetches(fake) == 0
    time.advance(3600 + 11)
    del fake.answers[token]
    assert reason(verifier, token) == "expired"
    assert reason(verifier, mint(key, now=time.now())) == "revoked"  # inactive, not expired


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"algorithm": "HS256", "introspect_url": None, "introspect_token": None}, "HS256"),
        ({"algorithm": "none"}, "algorithm"),
        ({"introspect_token": None}, "go together"),
        ({"jwks_url": "file:///etc/passwd"}, "http"),
        ({"kinds": ("refresh",)}, "kinds"),
    ],
)
def test_misconfiguration_fails_at_construction(kwargs, message):
    settings = {
        "issuer": ISSUER,
        "audience": "authsvc",
        "jwks_url": JWKS_URL,
        "introspect_url": INTROSPECT_URL,
        "introspect_token": "t",
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        Verifier(**settings)


def test_introspect_route_without_introspection_configured_fails_at_decoration():
    verifier = Verifier(ISSUER, "authsvc", JWKS_URL)
    with pytest.raises(ValueError, match="introspect"):
        verifier.require_token(introspect=True)


# --- the Flask decorator -----------------------------------------------------------------------


def protected(verifier: Verifier) -> Flask:
    app = Flask("protected")

    @app.get("/read")
    @verifier.require_token(scopes=["read"])
    def read() -> dict[str, Any]:
        return {"sub": g.token_claims["sub"], "kind": g.token.kind}

    @app.get("/admin")
    @verifier.require_token(scopes=["read", "admin"])
    def admin() -> dict[str, Any]:
        return {}

    @app.get("/live")
    @verifier.require_token(introspect=True)
    def live() -> dict[str, Any]:
        return {"scopes": list(g.token.scopes)}

    @app.get("/private-only")
    @verifier.require_token(kinds=["private"])
    def private_only() -> dict[str, Any]:
        return {}

    return app


def error_parts(r: Any) -> dict[str, Any]:
    body = r.get_json()
    (item,) = body["errors"]
    assert set(item) == {"code", "detail", "attr", "extra"} and item["detail"]
    return {
        "type": body["type"],
        "code": item["code"],
        "attr": item["attr"],
        "extra": item["extra"],
    }


@pytest.fixture
def rig(monkeypatch):
    key = new_key()
    fake = FakeAuthsvc(key)
    verifier = make_verifier(fake, monkeypatch)
    return key, fake, verifier, protected(verifier).test_client()


def test_decorator_lets_a_good_token_through_with_its_claims(rig):
    key, _, _, client = rig
    r = client.get("/read", headers=bearer(mint(key)))
    assert r.status_code == 200 and r.get_json() == {"sub": "u1", "kind": "access"}
    r = client.get("/read", headers={"X-API-Key": mint(key, "private")})
    assert r.status_code == 200 and r.get_json()["kind"] == "private"


def test_decorator_without_credentials(rig):
    r = rig[3].get("/read")
    assert r.status_code == 401 and error_parts(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'


@pytest.mark.parametrize(
    "path,make,why",
    [
        ("/read", lambda key: mint(key, "refresh"), "wrong_type"),
        (
            "/read",
            lambda key: mint(key, now=datetime.now(UTC) - timedelta(hours=2)),
            "expired",
        ),
        ("/read", lambda key: mint(new_key()), "unknown_key"),
        ("/private-only", lambda key: mint(key), "wrong_type"),
        ("/live", lambda key: mint(key), "revoked"),
    ],
)
def test_decorator_refuses_a_bad_token_with_the_envelope(rig, path, make, why):
    key, _, _, client = rig
    r = client.get(path, headers=bearer(make(key)))
    assert r.status_code == 401 and error_parts(r) == envelope("invalid_token", reason=why)
    assert r.headers["WWW-Authenticate"].startswith(
        'Bearer realm="authsvc", error="invalid_token", error_description="'
    )
    assert r.headers["Cache-Control"] == "no-store"


def test_decorator_insufficient_scope(rig):
    key, _, _, client = rig
    r = client.get("/admin", headers=bearer(mint(key)))
    assert r.status_code == 403
    assert error_parts(r) == {**envelope("insufficient_scope"), "extra": {"scopes": ["admin"]}}
    assert (
        r.headers["WWW-Authenticate"]
        == 'Bearer realm="authsvc", error="insufficient_scope", scope="admin"'
    )


def test_decorator_uses_live_scopes_when_introspecting(rig):
    key, fake, _, client = rig
    token = mint(key)
    fake.answers[token] = active(token, scope="read")
    r = client.get("/live", headers=bearer(token))
    assert r.status_code == 200 and r.get_json() == {"scopes": ["read"]}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query_string": {"access_token": "x"}},
        {"headers": {"Authorization": "Bearer a.b.c", "X-API-Key": "d.e.f"}},
    ],
    ids=["query", "disagreeing-headers"],
)
def test_decorator_bad_requests(rig, kwargs):
    r = rig[3].get("/read", **kwargs)
    assert r.status_code == 400 and error_parts(r)["code"] == "invalid"


def test_decorator_answers_503_when_authsvc_cannot_be_asked(rig):
    key, fake, _, client = rig
    fake.down = True
    r = client.get("/read", headers=bearer(mint(key)))
    assert r.status_code == 503
    assert error_parts(r) == envelope("service_unavailable", type="server_error")


def test_redirects_are_not_followed(monkeypatch):
    """A redirect must not carry the introspection credential to wherever it points."""
    from werkzeug.serving import make_server

    seen: list[str | None] = []
    app = Flask("redirector")

    @app.post("/introspect")
    def moved() -> Any:
        return redirect("/elsewhere", 307)

    @app.post("/elsewhere")
    def elsewhere() -> Any:
        from flask import request

        seen.append(request.headers.get("Authorization"))
        return {"active": True}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        verifier = Verifier(
            ISSUER,
            "authsvc",
            url + "/jwks",
            introspect_url=url + "/introspect",
            introspect_token="secret-gateway-token",
            timeout=5,
        )
        with pytest.raises(Unavailable):
            verifier._introspect("a.b.c")
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert seen == []


# --- beside a real authsvc ----------------------------------------------------------------------


def call(
    method: str, url: str, token: str | None = None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            **({"Content-Type": "application/json"} if data else {}),
            **(bearer(token) if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def reason_at(status_headers_body: tuple[int, dict[str, str], Any]) -> str | None:
    status, headers, body = status_headers_body
    if status < 300:
        return None
    assert status == 401, body
    assert headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')
    item = body["errors"][0]
    assert body["type"] == "client_error" and item["code"] == "invalid_token"
    return item["extra"]["reason"]


@pytest.fixture
def live(serve, resource_server, admin, user):
    """authsvc under gunicorn and the example resource server, with a gateway token for it."""
    authsvc = serve()
    status, pair = http(
        "POST",
        authsvc.url + "/api/v1/auth/login",
        {"email": admin.email, "password": admin.password},
    )
    assert status == 200, pair
    rs = resource_server(authsvc.url, pair["access_token"], issuer=ISSUER)

    def login() -> dict[str, Any]:
        status, body = http(
            "POST",
            authsvc.url + "/api/v1/auth/login",
            {"email": user.email, "password": user.password},
        )
        assert status == 200, body
        return body

    return authsvc, rs, login


@pytest.mark.slow
def test_a_token_from_login_works_at_the_resource_server(live, user):
    _, rs, login = live
    token = login()["access_token"]
    status, _, body = call("GET", rs.url + "/notes", token)
    assert status == 200 and body == {"owner": user.id, "notes": []}
    status, _, body = call("POST", rs.url + "/payments", token)
    assert status == 201 and body == {"paid_by": user.id}
    status, headers, body = call("GET", rs.url + "/notes")
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    assert body["errors"][0]["code"] == "not_authenticated"


@pytest.mark.slow
def test_a_tampered_token_fails_with_the_envelope(live):
    _, rs, login = live
    head, payload, sig = login()["access_token"].split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    forged = jwt.utils.base64url_encode(
        json.dumps({**claims, "scope": "read write admin"}).encode()
    )
    for path, method in (("/notes", "GET"), ("/payments", "POST")):
        assert (
            reason_at(call(method, rs.url + path, f"{head}.{forged.decode()}.{sig}")) == "signature"
        )


@pytest.mark.slow
def test_a_revoked_token_fails_where_introspection_is_on(live):
    authsvc, rs, login = live
    token = login()["access_token"]
    assert call("POST", rs.url + "/payments", token)[0] == 201
    assert http("POST", authsvc.url + "/api/v1/auth/revoke", {"token": token})[0] == 200
    rs.time.advance(6)  # past the verifier's 5 s introspection cache
    assert reason_at(call("POST", rs.url + "/payments", token)) == "revoked"
    # offline too, through the status list (issue 18): refreshed in the background past ttl
    deadline = time.monotonic() + 5
    while call("GET", rs.url + "/notes", token)[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reason_at(call("GET", rs.url + "/notes", token)) == "revoked"


@pytest.mark.slow
def test_a_rotated_out_keys_token_keeps_working_until_its_expiry(live):
    authsvc, rs, login = live
    old = login()["access_token"]
    assert call("GET", rs.url + "/notes", old)[0] == 200
    rotate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "authsvc", "keys", "rotate", "--now"],
        env=authsvc.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotate.returncode == 0, rotate.stderr
    new = login()["access_token"]
    old_kid, new_kid = (jwt.get_unverified_header(t)["kid"] for t in (old, new))
    assert old_kid != new_kid
    _, published = http("GET", authsvc.url + "/.well-known/jwks.json")
    assert [k["kid"] for k in published["keys"]] == [new_kid, old_kid]

    assert call("GET", rs.url + "/notes", old)[0] == 200
    assert call("POST", rs.url + "/payments", old)[0] == 201
    assert call("GET", rs.url + "/notes", new)[0] == 200  # the new kid: one JWKS refetch
    assert call("GET", rs.url + "/notes", old)[0] == 200

    exp = jwt.decode(old, options={"verify_signature": False})["exp"]
    rs.time.advance(exp + 10 - rs.time.now().timestamp())
    assert reason_at(call("GET", rs.url + "/notes", old)) == "expired"


# --- the example runs offline-only without an introspection token (issue 21 item 19) -------


def test_the_example_runs_offline_only_without_an_introspection_token(
    app, client, user, login, live_server, monkeypatch
):
    import examples.resource_server as example
    from authsvc.services.runtime import settings

    monkeypatch.delenv("AUTHSVC_INTROSPECT_TOKEN", raising=False)
    with app.app_context():
        issuer = settings().issuer
    rs = example.create_app(live_server, issuer=issuer).test_client()
    token = login(user)["access_token"]
    r = rs.get("/notes", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["owner"] == user.id
    assert rs.get("/notes").status_code == 401
    r = rs.post("/payments", headers=bearer(token))
    assert r.status_code == 503
    (item,) = r.get_json()["errors"]
    assert item["code"] == "service_unavailable" and "AUTHSVC_INTROSPECT_TOKEN" in item["detail"]
