"""OAuth 2.1 / OpenID Connect through HTTP (issue 16): clients, authorize, consent, token, OIDC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import AuditEvent, AuthorizationCode, LoginSession, OAuthClient, OAuthConsent
from tests.helpers import PASSWORD, TestUser, bearer, error_of
from tests.oauth_helpers import ISSUER, REDIRECT, Flow, basic, claims_of, header_of, pkce, query_of


@pytest.fixture
def root(make_user: Callable[..., TestUser]) -> TestUser:
    return make_user(
        "root@example.com", is_admin=True, scopes=["read", "write", "introspect", "admin"]
    )


@pytest.fixture
def flow(
    client: FlaskClient, root: TestUser, user: TestUser, login: Callable[..., dict[str, Any]]
) -> Flow:
    return Flow(client, login(root)["access_token"], login(user)["access_token"])


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (AuthorizationCode, OAuthConsent, LoginSession, AuditEvent, OAuthClient)
        }


def events(app: Flask, prefix: str = "oauth.") -> list[str]:
    with app.app_context():
        return [
            e.type
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.type.startswith(prefix)
        ]


@pytest.mark.parametrize("refreshable", [True, False])
def test_a_code_exchange_stores_its_session_row(
    app: Flask, frozen: Any, flow: Flow, user: TestUser, refreshable: bool
) -> None:
    """The row `sessions.new_session` makes, as the ORM transaction of the exchange writes it."""
    from authsvc.services import status_lists
    from authsvc.services.runtime import settings

    grants = ["authorization_code", "refresh_token"] if refreshable else ["authorization_code"]
    partner = flow.register(grant_types=grants)
    body = flow.tokens(partner)
    access = claims_of(body["access_token"])
    with app.app_context():
        ttl = settings().refresh_ttl
        row = dict(
            db.session.execute(
                select(LoginSession.__table__).where(LoginSession.id == access["sid"])
            )
            .mappings()
            .one()
        )
    refresh = claims_of(body["refresh_token"]) if refreshable else None
    assert ("refresh_token" in body) is refreshable
    assert set(row.pop("scopes")) == {"openid", "email", "read"}
    assert row.pop("user_agent").startswith("Werkzeug/")
    assert row == {
        "id": access["sid"],
        "user_id": user.id,
        "created_at": frozen,
        "last_used_at": frozen,
        "expires_at": frozen + ttl,
        "revoked_at": None,
        "ip": "127.0.0.1",
        "refresh_jti": refresh["jti"] if refresh else None,
        "refresh_iat": refresh["iat"] if refresh else None,
        "refresh_exp": refresh["exp"] if refresh else None,
        "previous_refresh_jti": None,
        "rotated_at": None,
        "replay_recorded": False,
        "reuse_recorded_at": None,
        "client_id": access["client_id"],
        "audience": None,
        "amr": "pwd",
        "status_idx": status_lists.index_of(access),
    }
    if refresh:
        assert refresh["exp"] == int((frozen + ttl).timestamp())
        assert status_lists.index_of(refresh) == row["status_idx"]


# --- the whole flow ---


def test_authorization_code_flow_with_pkce_and_openid(
    app: Flask, flow: Flow, user: TestUser
) -> None:
    partner = flow.register()
    assert partner["client_secret"].startswith("cs_") and partner["confidential"] is True
    body = flow.tokens(partner)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"openid", "email", "read"}
    access = claims_of(body["access_token"])
    assert header_of(body["access_token"])["typ"] == "at+jwt"
    assert access["client_id"] == partner["client_id"] and access["aud"] == "authsvc"
    assert access["sub"] == user.id
    id_token = body["id_token"]
    assert header_of(id_token)["alg"] == "RS256"
    jwks = flow.client.get("/.well-known/jwks.json").get_json()
    key = next(k for k in jwks["keys"] if k["kid"] == header_of(id_token)["kid"])
    claims = jwt.decode(
        id_token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=partner["client_id"],
        issuer=ISSUER,
    )
    assert claims["sub"] == user.id and claims["nonce"] == "n-456" and claims["email"] == user.email
    assert claims["amr"] == ["pwd"] and isinstance(claims["auth_time"], int)
    from authsvc.core.oauth import at_hash

    assert claims["at_hash"] == at_hash(body["access_token"], "RS256")

    # The access token works at authsvc itself, and at userinfo.
    me = flow.client.get("/api/v1/auth/verify", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.get_json()["sub"] == user.id
    info = flow.client.get("/api/v1/auth/oauth2/userinfo", headers=bearer(body["access_token"]))
    assert info.status_code == 200 and info.get_json() == {"sub": user.id, "email": user.email}
    assert info.headers["Cache-Control"] == "no-store"

    # Refresh through the sessions service.
    refreshed = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(partner["client_id"], partner["client_secret"]),
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    again = refreshed.get_json()
    assert claims_of(again["access_token"])["client_id"] == partner["client_id"]
    assert again["refresh_token"] != body["refresh_token"] and "id_token" not in again
    assert set(again["scope"].split()) == {"openid", "email", "read"}

    # An OAuth refresh token is not a first-party one.
    first_party = flow.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": again["refresh_token"]}
    )
    assert (
        first_party.status_code == 401 and error_of(first_party)["extra"]["reason"] == "wrong_type"
    )
    types = events(app)
    assert types.count("oauth.token_issued") == 2 and "oauth.code_redeemed" in types
    assert "oauth.consent_granted" in types and "oauth.client_created" in types


def test_first_party_tokens_carry_client_id_authsvc(tokens: dict[str, Any]) -> None:
    assert claims_of(tokens["access_token"])["client_id"] == "authsvc"


def test_remembered_consent_covers_same_or_fewer_scopes(app: Flask, flow: Flow) -> None:
    partner = flow.register()
    _, challenge = pkce()
    sealed = flow.sealed(flow.authorize_params(partner, challenge))
    view = flow.client.get(
        "/api/v1/auth/oauth2/consent",
        query_string={"request": sealed},
        headers=bearer(flow.user_token),
    )
    assert view.status_code == 200
    shown = view.get_json()
    assert shown["client"]["name"] == "Partner app" and shown["remembered"] is False
    assert [s["name"] for s in shown["scopes"]] == ["openid", "email", "read"]
    assert all(s["description"] for s in shown["scopes"])
    assert flow.decide(sealed).status_code == 200
    fewer = flow.sealed(flow.authorize_params(partner, challenge, scope="openid read"))
    assert (
        flow.client.get(
            "/api/v1/auth/oauth2/consent",
            query_string={"request": fewer},
            headers=bearer(flow.user_token),
        ).get_json()["skip"]
        is True
    )
    more = flow.sealed(flow.authorize_params(partner, challenge, scope="openid read write"))
    assert (
        flow.client.get(
            "/api/v1/auth/oauth2/consent",
            query_string={"request": more},
            headers=bearer(flow.user_token),
        ).get_json()["remembered"]
        is False
    )
    # prompt=none with consent missing: consent_required, no code.
    none = flow.sealed(
        flow.authorize_params(partner, challenge, scope="openid read write", prompt="none")
    )
    answer = query_of(flow.decide(none).get_json()["redirect_to"])
    assert answer["error"] == "consent_required" and answer["iss"] == ISSUER


def test_deny_redirects_access_denied_and_stores_nothing(app: Flask, flow: Flow) -> None:
    partner = flow.register()
    _, challenge = pkce()
    sealed = flow.sealed(flow.authorize_params(partner, challenge))
    before = counts(app)
    response = flow.decide(sealed, "deny")
    assert response.status_code == 200
    location = response.get_json()["redirect_to"]
    assert location.startswith(REDIRECT + "?")
    assert query_of(location) == {
        "error": "access_denied",
        "error_description": "The user denied the request.",
        "state": "st-123",
        "iss": ISSUER,
    }
    assert counts(app) == before


def test_consent_needs_a_console_token_not_an_oauth_one(flow: Flow) -> None:
    partner = flow.register()
    oauth_access = flow.tokens(partner)["access_token"]
    _, challenge = pkce()
    sealed = flow.sealed(flow.authorize_params(partner, challenge))
    response = flow.decide(sealed, "allow", token=oauth_access)
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"


def test_tampered_sealed_request_is_refused(flow: Flow) -> None:
    partner = flow.register()
    _, challenge = pkce()
    sealed = flow.sealed(flow.authorize_params(partner, challenge))
    payload, mac = sealed.split(".")
    response = flow.decide(payload[:-2] + "AA." + mac)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


# --- bad authorize requests ---

UNTRUSTED = [
    ("unknown client", {"client_id": "c_nope"}, "invalid_client"),
    ("no client", {"client_id": None}, "invalid_request"),
    ("unregistered redirect", {"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
    ("redirect with other path", {"redirect_uri": REDIRECT + "/x"}, "invalid_request"),
    ("no redirect", {"redirect_uri": None}, "invalid_request"),
    ("two redirects", {"redirect_uri": [REDIRECT, REDIRECT]}, "invalid_request"),
]


@pytest.mark.parametrize("label,change,error", UNTRUSTED, ids=[u[0] for u in UNTRUSTED])
def test_untrusted_authorize_requests_get_an_error_page(
    app: Flask, flow: Flow, label: str, change: dict[str, Any], error: str
) -> None:
    partner = flow.register()
    _, challenge = pkce()
    params = {
        k: v
        for k, v in {**flow.authorize_params(partner, challenge), **change}.items()
        if v is not None
    }
    before = counts(app)
    response = flow.client.get("/api/v1/auth/oauth2/authorize?" + urlencode(params, doseq=True))
    assert response.status_code == 400 and "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert f'data-oauth-error="{error}"' in response.get_data(as_text=True)
    assert counts(app) == before


REDIRECTED = [
    ("no response_type", {"response_type": None}, "unsupported_response_type"),
    ("token response", {"response_type": "token"}, "unsupported_response_type"),
    ("no challenge", {"code_challenge": None}, "invalid_request"),
    ("no method", {"code_challenge_method": None}, "invalid_request"),
    ("plain", {"code_challenge_method": "plain"}, "invalid_request"),
    ("short challenge", {"code_challenge": "abc"}, "invalid_request"),
    ("foreign scopes only", {"scope": "payroll"}, "invalid_scope"),
    ("bad scope chars", {"scope": 'read "x"'}, "invalid_scope"),
    ("two scopes params", {"scope": ["read", "write"]}, "invalid_request"),
    ("bad prompt", {"prompt": "select_everything"}, "invalid_request"),
    ("prompt none plus", {"prompt": "none login"}, "invalid_request"),
    ("long nonce", {"nonce": "n" * 600}, "invalid_request"),
]


@pytest.mark.parametrize("label,change,error", REDIRECTED, ids=[r[0] for r in REDIRECTED])
def test_bad_authorize_requests_redirect_with_error_state_and_iss(
    app: Flask, flow: Flow, label: str, change: dict[str, Any], error: str
) -> None:
    partner = flow.register()
    _, challenge = pkce()
    params = {
        k: v
        for k, v in {**flow.authorize_params(partner, challenge), **change}.items()
        if v is not None
    }
    before = counts(app)
    response = flow.client.get("/api/v1/auth/oauth2/authorize?" + urlencode(params, doseq=True))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == error and query["state"] == "st-123" and query["iss"] == ISSUER
    assert query["error_description"]
    assert counts(app) == before


def test_client_without_code_grant_is_unauthorized_client(flow: Flow) -> None:
    service = flow.register("Batch", grant_types=["client_credentials"], redirect_uris=[REDIRECT])
    _, challenge = pkce()
    response = flow.client.get(
        "/api/v1/auth/oauth2/authorize?" + urlencode(flow.authorize_params(service, challenge))
    )
    assert query_of(response.headers["Location"])["error"] == "unauthorized_client"


def test_loopback_redirect_any_port(flow: Flow) -> None:
    native = flow.register(
        "CLI", redirect_uris=["http://127.0.0.1/callback"], token_endpoint_auth_method="none"
    )
    _, challenge = pkce()
    params = {
        **flow.authorize_params(native, challenge),
        "redirect_uri": "http://127.0.0.1:53187/callback",
    }
    response = flow.client.get("/api/v1/auth/oauth2/authorize?" + urlencode(params))
    assert (
        response.status_code == 302
        and urlsplit(response.headers["Location"]).path == "/console/authorize"
    )
    params["redirect_uri"] = "http://127.0.0.1:53187/other"
    assert flow.client.get("/api/v1/auth/oauth2/authorize?" + urlencode(params)).status_code == 400


# --- the token endpoint ---


def test_code_is_single_use_and_replay_revokes_its_tokens(app: Flask, flow: Flow) -> None:
    partner = flow.register()
    code, verifier = flow.code(partner)
    first = flow.exchange(partner, code, verifier)
    assert first.status_code == 200
    issued = first.get_json()
    second = flow.exchange(partner, code, verifier)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert second.headers["Cache-Control"] == "no-store"
    dead = flow.client.get("/api/v1/auth/verify", headers=bearer(issued["access_token"]))
    assert dead.status_code == 401 and error_of(dead)["extra"]["reason"] == "revoked"
    refresh = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic(partner["client_id"], partner["client_secret"]),
    )
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"
    assert "oauth.code_replay_detected" in events(app)


def test_code_expires_after_60_seconds(frozen: Any, flow: Flow) -> None:
    from authsvc.core import clock

    partner = flow.register()
    code, verifier = flow.code(partner)
    clock.advance(61)
    response = flow.exchange(partner, code, verifier)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def _bad_token_requests() -> list[
    tuple[
        str,
        Callable[[dict[str, Any], dict[str, str]], tuple[dict[str, Any], dict[str, str]]],
        int,
        str,
        bool,
    ]
]:
    """(label, make(form, headers) -> (form, headers), status, error, basic challenge)."""

    def change(**kw: Any) -> Callable[..., Any]:
        return lambda form, headers: (
            {k: v for k, v in {**form, **kw}.items() if v is not None},
            headers,
        )

    wrong_secret = lambda form, headers: (form, basic(form.pop("_id"), "cs_wrong"))  # noqa: E731
    no_auth = lambda form, headers: (form, {})  # noqa: E731
    both = lambda form, headers: ({**form, "client_secret": "x"}, headers)  # noqa: E731
    post_instead = lambda form, headers: (  # noqa: E731
        {**form, "client_id": form["_id"], "client_secret": form["_secret"]},
        {},
    )
    bad_basic = lambda form, headers: (form, {"Authorization": "Basic !!!"})  # noqa: E731
    return [
        ("no grant type", change(grant_type=None), 400, "invalid_request", False),
        ("unknown grant", change(grant_type="password"), 400, "unsupported_grant_type", False),
        (
            "grant not allowed",
            change(grant_type="client_credentials"),
            400,
            "unauthorized_client",
            False,
        ),
        ("no code", change(code=None), 400, "invalid_request", False),
        ("wrong code", change(code="nope"), 400, "invalid_grant", False),
        ("no verifier", change(code_verifier=None), 400, "invalid_request", False),
        ("wrong verifier", change(code_verifier="x" * 50), 400, "invalid_grant", False),
        ("short verifier", change(code_verifier="abc"), 400, "invalid_grant", False),
        (
            "other redirect",
            change(redirect_uri="https://app.example/other"),
            400,
            "invalid_grant",
            False,
        ),
        ("no redirect", change(redirect_uri=None), 400, "invalid_request", False),
        ("wrong secret", wrong_secret, 401, "invalid_client", True),
        ("no client auth", no_auth, 400, "invalid_client", False),
        ("two methods", both, 400, "invalid_request", False),
        ("method not registered", post_instead, 400, "invalid_client", False),
        ("malformed basic", bad_basic, 401, "invalid_client", True),
    ]


BAD_TOKEN = _bad_token_requests()


@pytest.mark.parametrize(
    "label,make,status,error,challenge", BAD_TOKEN, ids=[b[0] for b in BAD_TOKEN]
)
def test_bad_token_requests(
    app: Flask, flow: Flow, label: str, make: Any, status: int, error: str, challenge: bool
) -> None:
    partner = flow.register()
    code, verifier = flow.code(partner)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "_id": partner["client_id"],
        "_secret": partner["client_secret"],
    }
    form, headers = make(form, basic(partner["client_id"], partner["client_secret"]))
    form = {k: v for k, v in form.items() if not k.startswith("_")}
    before = counts(app)
    response = flow.client.post("/api/v1/auth/oauth2/token", data=form, headers=headers)
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert ("WWW-Authenticate" in response.headers) == challenge
    if challenge:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert counts(app) == before
    # The code still works afterwards: a bad request spent nothing.
    assert flow.exchange(partner, code, verifier).status_code == 200


def test_token_endpoint_wants_a_form_body(flow: Flow) -> None:
    partner = flow.register()
    response = flow.client.post(
        "/api/v1/auth/oauth2/token",
        json={"grant_type": "client_credentials"},
        headers=basic(partner["client_id"], partner["client_secret"]),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_public_client_uses_none_plus_pkce(flow: Flow) -> None:
    spa = flow.register("SPA", token_endpoint_auth_method="none")
    assert spa["client_secret"] is None
    code, verifier = flow.code(spa)
    response = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": spa["client_id"],
        },
    )
    assert response.status_code == 200 and "refresh_token" in response.get_json()


def test_client_secret_post(flow: Flow) -> None:
    app_ = flow.register("Poster", token_endpoint_auth_method="client_secret_post")
    code, verifier = flow.code(app_)
    response = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": app_["client_id"],
            "client_secret": app_["client_secret"],
        },
    )
    assert response.status_code == 200


def test_client_credentials(app: Flask, flow: Flow) -> None:
    service = flow.register(
        "Batch",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["read", "introspect"],
        audiences=["https://api.example"],
    )
    response = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "read",
            "resource": "https://api.example",
        },
        headers=basic(service["client_id"], service["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and body["scope"] == "read"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == service["client_id"] == claims["client_id"]
    assert claims["aud"] == "https://api.example"
    verified = flow.client.get("/api/v1/auth/verify", headers=bearer(body["access_token"]))
    assert verified.status_code == 200 and verified.get_json()["sub"] == service["client_id"]
    # Introspection by a client with the introspect scope.
    answer = flow.client.post(
        "/api/v1/auth/introspect",
        data={"token": body["access_token"]},
        headers=basic(service["client_id"], service["client_secret"]),
    )
    assert answer.status_code == 200, answer.get_json()
    assert (
        answer.get_json()["active"] is True
        and answer.get_json()["client_id"] == service["client_id"]
    )
    assert answer.get_json()["aud"] == "https://api.example"
    bad = flow.client.post(
        "/api/v1/auth/introspect",
        data={"token": body["access_token"]},
        headers=basic(service["client_id"], "cs_wrong"),
    )
    assert bad.status_code == 401 and error_of(bad)["code"] == "invalid_credentials"
    wider = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        headers=basic(service["client_id"], service["client_secret"]),
    )
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    # Deleting the client kills its token.
    assert (
        flow.client.delete(
            f"/api/v1/oauth2/clients/{service['client_id']}", headers=bearer(flow.admin_token)
        ).status_code
        == 204
    )
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(body["access_token"])).status_code
        == 401
    )


def test_public_client_cannot_use_client_credentials(flow: Flow) -> None:
    response = flow.client.post(
        "/api/v1/oauth2/clients",
        json={
            "name": "x",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "none",
            "scopes": ["read"],
        },
        headers=bearer(flow.admin_token),
    )
    assert response.status_code == 400 and error_of(response)["attr"] == "grant_types"


def test_resource_within_audiences_sets_aud(flow: Flow) -> None:
    partner = flow.register(audiences=["https://api.example"])
    body = flow.tokens(partner, resource="https://api.example")
    assert claims_of(body["access_token"])["aud"] == "https://api.example"
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(body["access_token"])).status_code
        == 200
    )
    other = flow.tokens(partner, resource="https://elsewhere.example")
    assert claims_of(other["access_token"])["aud"] == "authsvc"
    # Refreshed tokens keep the audience.
    refreshed = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(partner["client_id"], partner["client_secret"]),
    )
    assert claims_of(refreshed.get_json()["access_token"])["aud"] == "https://api.example"


def test_es256_id_token_for_a_client_that_asks(flow: Flow) -> None:
    partner = flow.register(id_token_signed_response_alg="ES256")
    id_token = flow.tokens(partner)["id_token"]
    assert header_of(id_token)["alg"] == "ES256"
    jwks = flow.client.get("/.well-known/jwks.json").get_json()
    key = next(k for k in jwks["keys"] if k["kid"] == header_of(id_token)["kid"])
    jwt.decode(id_token, jwt.PyJWK(key).key, algorithms=["ES256"], audience=partner["client_id"])


def test_id_token_key_never_verifies_access_tokens(flow: Flow, tokens: dict[str, Any]) -> None:
    partner = flow.register()
    id_token = flow.tokens(partner)["id_token"]
    response = flow.client.get("/api/v1/auth/verify", headers=bearer(id_token))
    assert response.status_code == 401


def test_userinfo_needs_openid(flow: Flow, tokens: dict[str, Any]) -> None:
    response = flow.client.get(
        "/api/v1/auth/oauth2/userinfo", headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    none = flow.client.post("/api/v1/auth/oauth2/userinfo")
    assert none.status_code == 401 and none.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    bad = flow.client.get("/api/v1/auth/oauth2/userinfo", headers=bearer("x.y.z"))
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_token"


# --- revocation, consent withdrawal ---


def test_client_may_revoke_only_its_own_tokens(flow: Flow, tokens: dict[str, Any]) -> None:
    partner = flow.register()
    other = flow.register("Other")
    issued = flow.tokens(partner)
    # Another client cannot revoke it (quietly ignored), nor the user's first-party token.
    for token in (issued["access_token"], tokens["access_token"]):
        response = flow.client.post(
            "/api/v1/auth/revoke",
            data={"token": token},
            headers=basic(other["client_id"], other["client_secret"]),
        )
        assert response.status_code == 200 and response.get_json() == {}
        assert flow.client.get("/api/v1/auth/verify", headers=bearer(token)).status_code == 200
    wrong = flow.client.post(
        "/api/v1/auth/revoke",
        data={"token": issued["refresh_token"]},
        headers=basic(partner["client_id"], "cs_wrong"),
    )
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_credentials"
    ok = flow.client.post(
        "/api/v1/auth/revoke",
        data={"token": issued["refresh_token"]},
        headers=basic(partner["client_id"], partner["client_secret"]),
    )
    assert ok.status_code == 200
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(issued["access_token"])).status_code
        == 401
    )


def test_withdrawing_consent_revokes_the_apps_tokens(app: Flask, flow: Flow) -> None:
    partner = flow.register()
    issued = flow.tokens(partner)
    listed = flow.client.get("/api/v1/oauth2/consents", headers=bearer(flow.user_token)).get_json()[
        "items"
    ]
    assert [c["client_id"] for c in listed] == [partner["client_id"]]
    response = flow.client.delete(
        f"/api/v1/oauth2/consents/{partner['client_id']}", headers=bearer(flow.user_token)
    )
    assert response.status_code == 204
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(issued["access_token"])).status_code
        == 401
    )
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(flow.user_token)).status_code == 200
    )
    assert "oauth.consent_withdrawn" in events(app)
    assert (
        flow.client.delete(
            f"/api/v1/oauth2/consents/{partner['client_id']}", headers=bearer(flow.user_token)
        ).status_code
        == 404
    )


# --- clients API ---


def test_clients_crud_and_secret_rotation(app: Flask, flow: Flow) -> None:
    partner = flow.register()
    cid = partner["client_id"]
    with app.app_context():
        row = db.session.get(OAuthClient, cid)
        assert row is not None and partner["client_secret"] not in (row.secret_digest or "")
    listed = flow.client.get("/api/v1/oauth2/clients", headers=bearer(flow.admin_token)).get_json()[
        "items"
    ]
    assert [c["client_id"] for c in listed] == [cid] and "client_secret" not in listed[0]
    one = flow.client.get(f"/api/v1/oauth2/clients/{cid}", headers=bearer(flow.admin_token))
    assert one.status_code == 200 and "client_secret" not in one.get_json()
    patched = flow.client.patch(
        f"/api/v1/oauth2/clients/{cid}",
        json={"name": "Renamed", "scopes": ["openid", "read"]},
        headers=bearer(flow.admin_token),
    )
    assert patched.status_code == 200 and patched.get_json()["name"] == "Renamed"
    assert patched.get_json()["scopes"] == ["openid", "read"]
    readonly = flow.client.patch(
        f"/api/v1/oauth2/clients/{cid}",
        json={"grant_types": ["client_credentials"]},
        headers=bearer(flow.admin_token),
    )
    assert readonly.status_code == 400 and error_of(readonly)["code"] == "read_only"
    rotated = flow.client.post(
        f"/api/v1/oauth2/clients/{cid}/rotate-secret", headers=bearer(flow.admin_token)
    )
    assert rotated.status_code == 201
    new_secret = rotated.get_json()["client_secret"]
    assert new_secret != partner["client_secret"]
    old = flow.client.post(
        "/api/v1/auth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers=basic(cid, partner["client_secret"]),
    )
    assert old.status_code == 401
    issued = flow.tokens({**partner, "client_secret": new_secret})
    assert (
        flow.client.delete(
            f"/api/v1/oauth2/clients/{cid}", headers=bearer(flow.admin_token)
        ).status_code
        == 204
    )
    assert (
        flow.client.get("/api/v1/auth/verify", headers=bearer(issued["access_token"])).status_code
        == 401
    )
    assert (
        flow.client.get(
            f"/api/v1/oauth2/clients/{cid}", headers=bearer(flow.admin_token)
        ).status_code
        == 404
    )
    assert events(app) == [
        "oauth.client_created",
        "oauth.client_updated",
        "oauth.client_secret_rotated",
        "oauth.consent_granted",
        "oauth.code_redeemed",
        "oauth.token_issued",
        "oauth.client_deleted",
    ]


BAD_CLIENTS = [
    ("http not loopback", {"redirect_uris": ["http://app.example/cb"]}, "redirect_uris.0"),
    ("fragment", {"redirect_uris": ["https://app.example/cb#x"]}, "redirect_uris.0"),
    ("relative", {"redirect_uris": ["/cb"]}, "redirect_uris.0"),
    ("custom scheme", {"redirect_uris": ["myapp:/cb"]}, "redirect_uris.0"),
    ("no redirect for code", {"redirect_uris": []}, "redirect_uris"),
    ("unknown grant", {"grant_types": ["password"]}, "grant_types.0"),
    (
        "unknown method",
        {"token_endpoint_auth_method": "private_key_jwt"},
        "token_endpoint_auth_method",
    ),
    ("bad id alg", {"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
]


@pytest.mark.parametrize("label,change,attr", BAD_CLIENTS, ids=[b[0] for b in BAD_CLIENTS])
def test_bad_client_registrations(
    app: Flask, flow: Flow, label: str, change: dict[str, Any], attr: str
) -> None:
    body = {
        "name": "x",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none",
        "scopes": ["read"],
        **change,
    }
    before = counts(app)
    response = flow.client.post(
        "/api/v1/oauth2/clients", json=body, headers=bearer(flow.admin_token)
    )
    assert response.status_code == 400, response.get_json()
    assert attr in [e["attr"] for e in response.get_json()["errors"]]
    assert counts(app) == before


def test_client_routes_need_admin_and_the_admin_scope(
    client: FlaskClient, admin: TestUser, login: Callable[..., dict[str, Any]], user: TestUser
) -> None:
    admin_access = login(admin)["access_token"]
    read_key = client.post(
        "/api/v1/private-tokens",
        headers=bearer(admin_access),
        json={"name": "ci", "expires_in_days": 1, "scopes": ["read"], "current_password": PASSWORD},
    ).get_json()["token"]
    callers = (
        (login(user)["access_token"], "permission_denied", None),  # not an administrator
        (read_key, "insufficient_scope", {"scopes": ["admin"]}),
    )  # an admin's read-only key
    for token, code, extra in callers:
        for method, path in (
            ("get", "/api/v1/oauth2/clients"),
            ("post", "/api/v1/oauth2/clients"),
            ("get", "/api/v1/oauth2/clients/x"),
            ("delete", "/api/v1/oauth2/clients/x"),
            ("post", "/api/v1/oauth2/clients/x/rotate-secret"),
        ):
            response = getattr(client, method)(path, headers=bearer(token), json={})
            assert response.status_code == 403, (code, path)
            assert error_of(response) == {
                "type": "client_error",
                "code": code,
                "attr": None,
                "extra": extra,
            }
            if extra:
                assert 'scope="admin"' in response.headers["WWW-Authenticate"]


# --- dynamic registration ---


def test_dynamic_registration_closed_by_default(client: FlaskClient, flow: Flow) -> None:
    body = {
        "client_name": "MCP",
        "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
    }
    anon = client.post("/api/v1/auth/oauth2/register", json=body)
    assert anon.status_code == 401 and set(anon.get_json()) == {"error", "error_description"}
    user = client.post("/api/v1/auth/oauth2/register", json=body, headers=bearer(flow.user_token))
    assert user.status_code == 403
    admin = client.post(
        "/api/v1/auth/oauth2/register",
        json={**body, "scope": "openid read write admin"},
        headers=bearer(flow.admin_token),
    )
    assert admin.status_code == 201, admin.get_json()
    assert admin.get_json()["scope"] == "openid read" and "client_secret" not in admin.get_json()


@pytest.fixture
def open_registration(config: dict[str, Any]) -> None:
    config["AUTHSVC_OAUTH_DYNAMIC_REGISTRATION"] = True
    config["AUTHSVC_ADDRESS_RATE"] = "3 per minute"


@pytest.mark.usefixtures("open_registration")
def test_open_dynamic_registration_is_capped_and_rate_limited(
    app: Flask, client: FlaskClient
) -> None:
    body = {
        "client_name": "MCP",
        "redirect_uris": ["http://127.0.0.1/cb"],
        "scope": "read write admin",
    }
    first = client.post("/api/v1/auth/oauth2/register", json=body)
    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert answer["scope"] == "read" and answer["client_secret"].startswith("cs_")
    assert answer["token_endpoint_auth_method"] == "client_secret_basic"
    bad = client.post(
        "/api/v1/auth/oauth2/register", json={**body, "redirect_uris": ["http://evil.example/cb"]}
    )
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_redirect_uri"
    cc = client.post(
        "/api/v1/auth/oauth2/register", json={**body, "grant_types": ["client_credentials"]}
    )
    assert cc.status_code == 400 and cc.get_json()["error"] == "invalid_client_metadata"
    limited = client.post("/api/v1/auth/oauth2/register", json=body)
    assert limited.status_code == 429
    assert counts(app)["oauth_clients"] == 1


# --- metadata ---


@pytest.fixture
def https_issuer(config: dict[str, Any]) -> str:
    config["AUTHSVC_ISSUER"] = "https://authsvc.test"
    return "https://authsvc.test"


def test_metadata_documents_validate_with_authlib(https_issuer: str, client: FlaskClient) -> None:
    """authlib's validators (RFC 8414 wants an https issuer, so this app has one)."""
    rfc8414 = pytest.importorskip("authlib.oauth2.rfc8414")
    oidc = pytest.importorskip("authlib.oidc.discovery")
    server = client.get("/.well-known/oauth-authorization-server").get_json()
    rfc8414.AuthorizationServerMetadata(server).validate()
    provider = client.get("/.well-known/openid-configuration").get_json()
    oidc.OpenIDProviderMetadata(provider).validate()
    base = https_issuer
    for doc in (server, provider):
        assert doc["issuer"] == base
        assert doc["token_endpoint"] == base + "/api/v1/auth/oauth2/token"
        assert doc["authorization_endpoint"] == base + "/api/v1/auth/oauth2/authorize"
        assert doc["response_types_supported"] == ["code"]
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["authorization_response_iss_parameter_supported"] is True
        assert set(doc["grant_types_supported"]) == {
            "authorization_code",
            "refresh_token",
            "client_credentials",
        }
        assert set(doc["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "none",
        }
        assert "openid" in doc["scopes_supported"]
        assert doc["registration_endpoint"] == base + "/api/v1/auth/oauth2/register"
    assert provider["userinfo_endpoint"] == base + "/api/v1/auth/oauth2/userinfo"
    assert "RS256" in provider["id_token_signing_alg_values_supported"]


@pytest.fixture
def described(config: dict[str, Any]) -> None:
    config["AUTHSVC_SCOPE_DESCRIPTIONS"] = {"read": "Look at your projects, never change them."}


def test_the_consent_page_says_the_configured_scope_words(described: None, flow: Flow) -> None:
    """Issue 21 item 2: the words the key dialog shows are the consent page's too."""
    partner = flow.register()
    _, challenge = pkce()
    sealed = flow.sealed(flow.authorize_params(partner, challenge))
    view = flow.client.get(
        "/api/v1/auth/oauth2/consent",
        query_string={"request": sealed},
        headers=bearer(flow.user_token),
    )
    assert view.status_code == 200
    words = {s["name"]: s["description"] for s in view.get_json()["scopes"]}
    assert words["read"] == "Look at your projects, never change them."
    assert words["email"] == "See your email address."
