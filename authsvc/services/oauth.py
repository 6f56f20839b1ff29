"""OAuth 2.1 authorization server and OpenID Connect provider: the use cases (issue 16).

- `parse_authorization_request` checks an authorize request without storing anything and
  seals it (`seal_request`) for the console, which signs the user in and asks for consent.
- `consent_view` / `decide` are what the console calls with its in-memory access token;
  Allow makes a code (stored by its SHA-256, 60 s, bound to client, redirect URI, PKCE
  challenge, nonce, audience and the sign-in's auth_time/amr) and remembers the consent.
- `token` is the token endpoint: authorization_code (redeemed by one conditional UPDATE,
  so of concurrent redemptions exactly one wins; a replay revokes what the first issued),
  refresh_token (rotation by `sessions.refresh`, the one rotation function) and
  client_credentials. Every failure is an `OAuthError` raised before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from sqlalchemy import select, update

from authsvc.core import clock, crypto, oauth, tokens
from authsvc.core.errors import NotFound, PermissionDenied
from authsvc.core.oauth import FIRST_PARTY_CLIENT, IDENTITY_SCOPES, OAuthError
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db, rowcount
from authsvc.models import AuthorizationCode, LoginSession, OAuthClient, OAuthConsent, User, new_id
from authsvc.services import audit, sessions, status_lists
from authsvc.services.authentication import verify
from authsvc.services.oauth_clients import ClientAuth, authenticate
from authsvc.services.runtime import id_keystore, keystore, settings
from authsvc.services.scopes import describe as describe_scope
from authsvc.services.transaction import transaction

REQUEST_TTL = 600  # seconds the console has to sign the user in and ask
_REQUEST_PURPOSE = "oauth-authorize-request"
PROMPTS = frozenset({"none", "login", "consent"})


# --- the authorization request ---


class Untrusted(OAuthError):
    """RFC 6749 4.1.2.1: the client or redirect URI cannot be trusted: show a page, never redirect."""


class RedirectError(OAuthError):
    """An error the client hears about at its redirect URI (with `state` and `iss`)."""

    def __init__(
        self, error: str, description: str, *, redirect_uri: str, state: str | None
    ) -> None:
        super().__init__(error, description, 302)
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self) -> str:
        return oauth.with_query(
            self.redirect_uri,
            {
                "error": self.error,
                "error_description": self.description,
                "state": self.state,
                "iss": settings().issuer,
            },
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    nonce: str | None
    audience: str | None
    prompt: str | None
    issued_at: int


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise ValueError(name)
    return values[0] if values else None


def parse_authorization_request(params: Mapping[str, Sequence[str]]) -> AuthorizationRequest:
    """Check an authorize request (RFC 6749 4.1.1, RFC 7636, RFC 8707, OIDC); nothing is stored."""
    try:
        client_id = _one(params, "client_id")
        redirect_uri = _one(params, "redirect_uri")
    except ValueError as exc:
        raise Untrusted("invalid_request", f"{exc} is given more than once.") from exc
    if not client_id:
        raise Untrusted("invalid_request", "client_id is missing.")
    client = db.session.get(OAuthClient, client_id) if len(client_id) <= 64 else None
    db.session.rollback()
    if client is None:
        raise Untrusted("invalid_client", "This app is not registered here.")
    if not redirect_uri:
        raise Untrusted("invalid_request", "redirect_uri is missing.")
    if not oauth.match_redirect_uri(client.redirect_uris, redirect_uri):
        raise Untrusted("invalid_request", "This redirect URI is not registered for the app.")

    state_values = params.get("state") or []
    state = state_values[0] if len(state_values) == 1 else None

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(error, description, redirect_uri=redirect_uri, state=state)

    names = (
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "resource",
        "prompt",
    )
    for name in names:
        if len(params.get(name) or []) > 1:
            raise fail("invalid_request", f"{name} is given more than once.")
    get = {name: _one(params, name) for name in names}
    if get["state"] is not None and len(get["state"]) > 2000:
        raise fail("invalid_request", "state is too long.")
    if get["response_type"] != "code":
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "This app may not use the authorization code grant.")
    if get["code_challenge_method"] != "S256":
        raise fail("invalid_request", "PKCE with code_challenge_method=S256 is required.")
    if not oauth.valid_challenge(get["code_challenge"]):
        raise fail("invalid_request", "code_challenge must be the 43-character S256 challenge.")
    asked = oauth.parse_scope(get["scope"])
    if asked is None:
        raise fail("invalid_scope", "scope is not a valid scope string.")
    allowed = client.scopes
    scopes = [s for s in asked if s in allowed] if asked else list(allowed)
    if not scopes:
        raise fail("invalid_scope", "None of the scopes asked for is allowed to this app.")
    nonce = get["nonce"]
    if nonce is not None and not 1 <= len(nonce) <= 512:
        raise fail("invalid_request", "nonce must be 1 to 512 characters.")
    prompt = get["prompt"]
    if prompt is not None and not set(prompt.split()) <= PROMPTS:
        raise fail("invalid_request", "prompt may be none, login or consent.")
    if prompt is not None and "none" in prompt.split() and prompt != "none":
        raise fail("invalid_request", "prompt=none cannot be combined with other values.")
    resource = get["resource"]
    audience = resource if resource is not None and resource in client.audiences else None
    if resource is not None and oauth.redirect_uri_problem(resource) == "is not a valid URI":
        raise fail("invalid_target", "resource must be an absolute URI.")
    return AuthorizationRequest(
        client_id=client.id,
        redirect_uri=redirect_uri,
        scopes=tuple(scopes),
        state=state,
        code_challenge=get["code_challenge"] or "",
        nonce=nonce,
        audience=audience,
        prompt=prompt,
        issued_at=int(clock.now().timestamp()),
    )


def _request_key() -> bytes:
    return crypto.derive_key(settings().secret, _REQUEST_PURPOSE)


def seal_request(req: AuthorizationRequest) -> str:
    """The checked request as one MAC'd string: the console's handle on it and its CSRF token.

    Nothing is stored: the request travels with the browser, sealed so it cannot be changed,
    and expires after REQUEST_TTL. Only a page that went through `/authorize` holds one, and
    Allow also needs the user's access token, which no other site can send.
    """
    payload = oauth.b64url(json.dumps(asdict(req), separators=(",", ":")).encode())
    mac = oauth.b64url(hmac.new(_request_key(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def open_request(sealed: str) -> AuthorizationRequest:
    if not isinstance(sealed, str) or sealed.count(".") != 1 or len(sealed) > 8192:
        raise Untrusted("invalid_request", "This sign-in request is not valid.")
    payload, mac = sealed.split(".")
    good = oauth.b64url(hmac.new(_request_key(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(good, mac):
        raise Untrusted("invalid_request", "This sign-in request is not valid.")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["scopes"] = tuple(data["scopes"])
    req = AuthorizationRequest(**data)
    if clock.now().timestamp() - req.issued_at > REQUEST_TTL:
        raise Untrusted(
            "invalid_request", "This sign-in request has expired; start again from the app."
        )
    return req


# --- consent ---


def _first_party(principal: Principal) -> None:
    """Only the console's own sign-in (a first-party access token) may approve for the user."""
    if (
        principal.kind != "access"
        or principal.claims.get("client_id", FIRST_PARTY_CLIENT) != FIRST_PARTY_CLIENT
    ):
        raise PermissionDenied("Only a console sign-in may answer a consent request.")


def _live_client(req: AuthorizationRequest) -> OAuthClient:
    client = db.session.get(OAuthClient, req.client_id)
    if client is None or not oauth.match_redirect_uri(client.redirect_uris, req.redirect_uri):
        raise Untrusted("invalid_client", "This app is no longer registered here.")
    return client


def _granted(
    req: AuthorizationRequest, client: OAuthClient, user_scopes: Sequence[str]
) -> list[str]:
    """Scopes granted = asked for ∩ the client's (now) ∩ the user's (openid/email always the user's)."""
    mine = set(user_scopes) | IDENTITY_SCOPES
    allowed = set(client.scopes)
    return [s for s in req.scopes if s in allowed and s in mine]


def _remembered(user_id: str, client_id: str, scopes: Sequence[str]) -> bool:
    row = db.session.get(OAuthConsent, (user_id, client_id))
    return row is not None and set(scopes) <= set(row.scopes)


def consent_view(principal: Principal, sealed: str) -> dict[str, Any]:
    """What the consent page shows: the app, the scopes in words, whether consent is remembered."""
    _first_party(principal)
    req = open_request(sealed)
    client = _live_client(req)
    user = db.session.get(User, principal.user_id)
    assert user is not None
    scopes = _granted(req, client, user.scopes)
    remembered = _remembered(user.id, client.id, scopes)
    return {
        "client": {
            "client_id": client.id,
            "name": client.name,
            "redirect_host": urlsplit(req.redirect_uri).netloc,
        },
        "scopes": [{"name": s, "description": describe_scope(s)} for s in scopes],
        "remembered": remembered,
        "prompt": req.prompt,
        "skip": remembered and req.prompt not in ("consent", "login"),
    }


def decide(principal: Principal | None, sealed: str, decision: str, client: Client) -> str:
    """The consent page's answer: the URL to send the browser to (code, or an error), with iss.

    `deny` and `login_required` (prompt=none without a console session) need no sign-in:
    they only send the browser back with an error. `allow` needs the console's token.
    """
    req = open_request(sealed)
    app = _live_client(req)
    iss = settings().issuer

    def back(**params: str | None) -> str:
        return oauth.with_query(req.redirect_uri, {**params, "state": req.state, "iss": iss})

    if decision == "login_required":
        if principal is not None:
            raise PermissionDenied("Signed in: answer allow or deny.")
        return back(error="login_required", error_description="The user is not signed in.")
    if decision == "deny":
        return back(error="access_denied", error_description="The user denied the request.")
    if decision != "allow" or principal is None:
        raise PermissionDenied("Sign in to allow this app.")
    _first_party(principal)
    now = clock.now()
    user = db.session.get(User, principal.user_id)
    console_session = (
        db.session.get(LoginSession, principal.session_id) if principal.session_id else None
    )
    if user is None or console_session is None:
        raise PermissionDenied("Sign in to allow this app.")
    scopes = _granted(req, app, user.scopes)
    if not scopes:
        return back(
            error="invalid_scope", error_description="You hold none of the scopes asked for."
        )
    remembered = _remembered(user.id, app.id, scopes)
    if req.prompt == "none" and not remembered:
        return back(error="consent_required", error_description="The user has not consented yet.")
    if req.prompt == "login" and console_session.created_at.timestamp() < req.issued_at - 1:
        raise PermissionDenied("This app asked for a fresh sign-in: sign in again.")
    with transaction():
        code = secrets.token_urlsafe(32)
        db.session.add(
            AuthorizationCode(
                code_digest=oauth.code_digest(code),
                client_id=app.id,
                user_id=user.id,
                redirect_uri=req.redirect_uri,
                scopes=scopes,
                code_challenge=req.code_challenge,
                nonce=req.nonce,
                audience=req.audience,
                auth_time=console_session.created_at,
                amr=console_session.amr or "pwd",
                created_at=now,
                expires_at=now + timedelta(seconds=oauth.CODE_TTL_SECONDS),
            )
        )
        if not remembered:
            consent = db.session.get(OAuthConsent, (user.id, app.id))
            if consent is None:
                db.session.add(
                    OAuthConsent(user_id=user.id, client_id=app.id, scopes=scopes, granted_at=now)
                )
            else:
                consent.scopes = list(dict.fromkeys([*consent.scopes, *scopes]))
                consent.granted_at = now
            audit.record(
                "oauth.consent_granted",
                client=client,
                user_id=user.id,
                client_id=app.id,
                scopes=scopes,
            )
    return back(code=code)


def list_consents(principal: Principal) -> list[dict[str, Any]]:
    """The apps the caller has let in ("Connected apps")."""
    rows = db.session.execute(
        select(OAuthConsent, OAuthClient.name)
        .join(OAuthClient, OAuthClient.id == OAuthConsent.client_id)
        .where(OAuthConsent.user_id == principal.user_id)
        .order_by(OAuthConsent.granted_at.desc())
    )
    return [
        {
            "client_id": c.client_id,
            "name": name,
            "granted_at": c.granted_at,
            "scopes": [{"name": s, "description": describe_scope(s)} for s in c.scopes],
        }
        for c, name in rows
    ]


def withdraw_consent(principal: Principal, client_id: str, client: Client) -> None:
    """Forget the consent and revoke every token the app holds for this user. Commits."""
    row = db.session.get(OAuthConsent, (principal.user_id, client_id))
    if row is None:
        raise NotFound()
    with transaction():
        db.session.delete(row)
        revoked = rowcount(
            db.session.execute(
                update(LoginSession)
                .where(
                    LoginSession.user_id == principal.user_id,
                    LoginSession.client_id == client_id,
                    LoginSession.revoked_at.is_(None),
                )
                .values(revoked_at=clock.now())
            )
        )
        db.session.query(AuthorizationCode).filter(
            AuthorizationCode.user_id == principal.user_id,
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.redeemed_at.is_(None),
        ).delete()
        audit.record(
            "oauth.consent_withdrawn",
            client=client,
            user_id=principal.user_id,
            client_id=client_id,
            sessions_revoked=revoked,
        )


# --- the token endpoint ---


def _single(form: Mapping[str, Sequence[str]], name: str, *, required: bool = True) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        raise OAuthError("invalid_request", f"{name} is given more than once.")
    if required and not (values and values[0]):
        raise OAuthError("invalid_request", f"{name} is missing.")
    return values[0] if values else None


def token(form: Mapping[str, Sequence[str]], auth: ClientAuth, client: Client) -> dict[str, Any]:
    """POST /oauth2/token (RFC 6749 section 3.2): the answer body, or an `OAuthError`."""
    for name, values in form.items():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"{name} is given more than once.")
    grant_type = _single(form, "grant_type")
    app = authenticate(auth)
    if grant_type not in oauth.GRANT_TYPES:
        raise OAuthError(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials.",
        )
    if grant_type not in app.grant_types:
        raise OAuthError("unauthorized_client", f"This client may not use the {grant_type} grant.")
    if grant_type == "authorization_code":
        return _authorization_code(app, form, client)
    if grant_type == "refresh_token":
        return _refresh_token(app, form, client)
    return _client_credentials(app, form, client)


def _id_token(
    app: OAuthClient,
    *,
    user: User,
    scopes: Sequence[str],
    nonce: str | None,
    auth_time: datetime,
    amr: str,
    access_token: str,
    now: datetime,
) -> str:
    key = id_keystore(app.id_token_alg).signing_key()
    s = settings()
    claims: dict[str, Any] = {
        "iss": s.issuer,
        "sub": user.id,
        "aud": app.id,
        "iat": int(now.timestamp()),
        "exp": int((now + s.access_ttl).timestamp()),
        "auth_time": int(auth_time.timestamp()),
        "amr": amr.split(),
        "at_hash": oauth.at_hash(access_token, key.alg),
        "azp": app.id,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if "email" in scopes:
        claims["email"] = user.email
    return jwt.encode(
        claims, key.signing, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
    )


def _authorization_code(
    app: OAuthClient, form: Mapping[str, Sequence[str]], client: Client
) -> dict[str, Any]:
    code = _single(form, "code") or ""
    redirect_uri = _single(form, "redirect_uri")
    verifier = _single(form, "code_verifier")
    digest = oauth.code_digest(code)
    with transaction():  # the reads, ended before the one write transaction below
        row = db.session.get(AuthorizationCode, digest) if len(code) <= 512 else None
        now = clock.now()
        if row is None or row.client_id != app.id:
            raise OAuthError(
                "invalid_grant", "The code is invalid, expired or was issued to another client."
            )
        if row.redeemed_at is not None:
            _replayed(row, client)
        if row.expires_at <= now:
            raise OAuthError("invalid_grant", "The code has expired.")
        if row.redirect_uri != redirect_uri:
            raise OAuthError(
                "invalid_grant", "redirect_uri differs from the authorization request's."
            )
        if not oauth.verify_pkce(row.code_challenge, verifier):
            raise OAuthError(
                "invalid_grant", "The code_verifier does not match the code_challenge."
            )
        user = db.session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise OAuthError("invalid_grant", "The code's user is inactive.")
        scopes = sessions.session_scopes(row.scopes, user.effective_scopes)
        openid = "openid" in scopes
        if openid:
            id_keystore(
                app.id_token_alg
            ).signing_key()  # a first id_token key is made (and committed) now
        keystore().signing_key()
        session_id = new_id()

    # The one atomic step: of two concurrent redemptions exactly one updates the row.
    with transaction():
        won = (
            rowcount(
                db.session.execute(
                    update(AuthorizationCode.__table__)
                    .where(
                        AuthorizationCode.code_digest == digest,
                        AuthorizationCode.redeemed_at.is_(None),
                        AuthorizationCode.expires_at > now,
                    )
                    .values(redeemed_at=now, session_id=session_id)
                )
            )
            == 1
        )
        if not won:
            db.session.rollback()  # read the code again, afresh
            row = db.session.get(AuthorizationCode, digest)
            if row is not None and row.redeemed_at is not None:
                _replayed(row, client)
            raise OAuthError("invalid_grant", "The code is invalid or expired.")
        refreshable = "refresh_token" in app.grant_types
        pair = sessions.open_session(
            sessions.new_session(
                session_id,
                user.id,
                now,
                client,
                amr=row.amr,
                oauth_client_id=app.id,
                granted=list(scopes),
                audience=row.audience,
                refreshable=refreshable,
            ),
            scopes,
        )
        body = _answer(pair, refresh=refreshable)
        if openid:
            body["id_token"] = _id_token(
                app,
                user=user,
                scopes=scopes,
                nonce=row.nonce,
                auth_time=row.auth_time,
                amr=row.amr,
                access_token=pair.access_token,
                now=now,
            )
        audit.record(
            "oauth.code_redeemed",
            client=client,
            user_id=user.id,
            client_id=app.id,
            session_id=session_id,
        )
        audit.record(
            "oauth.token_issued",
            client=client,
            user_id=user.id,
            client_id=app.id,
            grant="authorization_code",
            scopes=scopes,
            session_id=session_id,
        )
    return body


def _replayed(row: AuthorizationCode, client: Client) -> None:
    """A redeemed code came back: revoke everything issued from it (RFC 6749 4.1.2), refuse."""
    session_id, user_id, client_id = row.session_id, row.user_id, row.client_id
    db.session.rollback()
    with transaction():
        revoked = 0
        if session_id is not None:
            revoked = rowcount(
                db.session.execute(
                    update(LoginSession)
                    .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
                    .values(revoked_at=clock.now())
                )
            )
        audit.record(
            "oauth.code_replay_detected",
            client=client,
            user_id=user_id,
            client_id=client_id,
            session_id=session_id,
            sessions_revoked=revoked,
        )
    raise OAuthError(
        "invalid_grant", "The code was already used; the tokens issued from it are revoked."
    )


def _answer(pair: sessions.TokenPair, *, refresh: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "scope": pair.scope,
    }
    if refresh:
        body["refresh_token"] = pair.refresh_token
    return body


def _refresh_token(
    app: OAuthClient, form: Mapping[str, Sequence[str]], client: Client
) -> dict[str, Any]:
    """Rotation is `sessions.refresh`'s alone (reuse window, reuse detection); this only maps errors."""
    presented = _single(form, "refresh_token") or ""
    asked = oauth.parse_scope(_single(form, "scope", required=False))
    try:
        held = verify(presented, {"refresh"})
    except tokens.InvalidToken as exc:
        raise OAuthError("invalid_grant", exc.detail) from exc
    if asked is None or (asked and not set(asked) <= set(held.scopes)):
        raise OAuthError("invalid_scope", "A refresh cannot widen the scopes granted.")
    try:
        pair = sessions.refresh(presented, client, client_id=app.id)
    except tokens.InvalidToken as exc:
        raise OAuthError("invalid_grant", exc.detail) from exc
    with transaction():
        audit.record(
            "oauth.token_issued",
            client=client,
            user_id=held.sub,
            client_id=app.id,
            grant="refresh_token",
            session_id=held.sid,
        )
    return _answer(pair, refresh=True)


def _client_credentials(
    app: OAuthClient, form: Mapping[str, Sequence[str]], client: Client
) -> dict[str, Any]:
    if not app.confidential:
        raise OAuthError(
            "unauthorized_client", "Only confidential clients may use client_credentials."
        )
    asked = oauth.parse_scope(_single(form, "scope", required=False))
    if asked is None:
        raise OAuthError("invalid_scope", "scope is not a valid scope string.")
    allowed = [s for s in app.scopes if s not in IDENTITY_SCOPES]
    if asked and not set(asked) <= set(allowed):
        raise OAuthError("invalid_scope", "The client may not have some of these scopes.")
    scopes = asked or allowed
    resource = _single(form, "resource", required=False)
    s = settings()
    audience = resource if resource is not None and resource in app.audiences else s.audience
    now = clock.now()
    access, _ = tokens.encode(
        "access",
        subject=app.id,
        scopes=scopes,
        key=keystore().signing_key(),
        issuer=s.issuer,
        audience=audience,
        now=now,
        expires_at=now + s.access_ttl,
        session_id=app.id,
        extra={"client_id": app.id, **status_lists.claim(status_lists.client_index(app))},
    )
    with transaction():
        audit.record(
            "oauth.token_issued",
            client=client,
            user_id=None,
            client_id=app.id,
            grant="client_credentials",
            scopes=scopes,
        )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(s.access_ttl.total_seconds()),
        "scope": oauth.format_scope(scopes),
    }


# --- OpenID Connect: userinfo, keys ---


def userinfo(principal: Principal) -> dict[str, Any]:
    """OIDC Core 5.3: `sub`, and `email` with the email scope. Needs `openid` on the token."""
    if "openid" not in principal.scopes or principal.kind != "access":
        raise OAuthError(
            "insufficient_scope",
            "The access token lacks the openid scope.",
            403,
            {
                "WWW-Authenticate": 'Bearer realm="authsvc", error="insufficient_scope", scope="openid"'
            },
        )
    body: dict[str, Any] = {"sub": principal.user_id}
    if "email" in principal.scopes:
        body["email"] = principal.email
    return body


def jwks() -> dict[str, Any]:
    """The published keys: the token keys, then the id_token keys.

    An id_token key is made just before the first id_token it signs (and so published
    before any client can hold such a token); until then the JWKS is the token keys alone.
    """
    from authsvc.services.runtime import id_keystores

    out = list(keystore().jwks()["keys"])
    for store in id_keystores().values():
        out.extend(store.jwks()["keys"])
    return {"keys": out}


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
