"""OAuth clients (issue 16): administered over the API, registered dynamically (RFC 7591),
and authenticated at the token, introspection and revocation endpoints.

A secret is shown once, when made, and kept only as its HMAC-SHA256 under a key derived
from the instance secret (`core.oauth.secret_digest`), compared in constant time.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from authsvc.core import clock, crypto, oauth
from authsvc.core.errors import (
    ErrorItem,
    InsufficientScope,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from authsvc.core.oauth import OAuthError
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db, rowcount
from authsvc.models import LoginSession, OAuthClient
from authsvc.services import audiences, audit, status_lists
from authsvc.services.runtime import settings
from authsvc.services.transaction import transaction
from authsvc.services.users import require_admin

_PURPOSE = "oauth-client-secret"
MUTABLE = ("name", "redirect_uris", "scopes", "audiences")


@dataclass(frozen=True)
class Created:
    client: OAuthClient
    secret: str | None


def _digest(secret: str) -> str:
    return oauth.secret_digest(crypto.derive_key(settings().secret, _PURPOSE), secret)


def _new_id() -> str:
    return "c_" + secrets.token_urlsafe(18)


def _check(values: Mapping[str, Any]) -> list[ErrorItem]:
    """Rules across fields, beyond what the schema checks one field at a time."""
    problems: list[ErrorItem] = []
    for i, uri in enumerate(values.get("redirect_uris", [])):
        why = oauth.redirect_uri_problem(uri)
        if why:
            problems.append(ErrorItem("invalid", f"A redirect URI {why}.", f"redirect_uris.{i}"))
    grants = values.get("grant_types")
    method = values.get("token_endpoint_auth_method")
    if grants is not None and method is not None:
        if method == "none" and "client_credentials" in grants:
            problems.append(
                ErrorItem(
                    "invalid", "A public client cannot use client_credentials.", "grant_types"
                )
            )
        if "authorization_code" in grants and not values.get("redirect_uris"):
            problems.append(
                ErrorItem(
                    "required",
                    "The authorization_code grant needs a redirect URI.",
                    "redirect_uris",
                )
            )
        if "refresh_token" in grants and "authorization_code" not in grants:
            problems.append(
                ErrorItem("invalid", "refresh_token comes with authorization_code.", "grant_types")
            )
    for i, aud in enumerate(values.get("audiences", [])):
        if not isinstance(aud, str) or not aud or len(aud) > 255 or aud != aud.strip():
            problems.append(
                ErrorItem(
                    "invalid",
                    "An audience is a non-empty string of at most 255 characters.",
                    f"audiences.{i}",
                )
            )
        elif aud == settings().audience:
            problems.append(
                ErrorItem(
                    "invalid", "The default audience needs no registration.", f"audiences.{i}"
                )
            )
    return problems


def create(
    principal: Principal | None, values: Mapping[str, Any], client: Client, *, dynamic: bool = False
) -> Created:
    """Register a client. Commits. `principal` is the admin (None: open dynamic registration)."""
    if not dynamic:
        assert principal is not None
        require_admin(principal)
    problems = _check(values)
    if problems:
        raise ValidationFailed(problems)
    now = clock.now()
    method = values["token_endpoint_auth_method"]
    # a team key (open dynamic registration) is no user: the client has no creator
    actor = principal.user_id if principal and principal.team_id is None else None
    secret = oauth.new_secret("cs_") if method != "none" else None
    with transaction():
        row = OAuthClient(
            id=_new_id(),
            name=values["name"],
            secret_digest=_digest(secret) if secret else None,
            redirect_uris=list(values.get("redirect_uris", [])),
            grant_types=list(values["grant_types"]),
            token_endpoint_auth_method=method,
            scopes=list(dict.fromkeys(values.get("scopes", []))),
            audiences=list(dict.fromkeys(values.get("audiences", []))),
            id_token_alg=values.get("id_token_signed_response_alg") or "RS256",
            dynamic=dynamic,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        db.session.add(row)
        audit.record(
            "oauth.client_created",
            client=client,
            user_id=actor,
            actor_id=actor,
            client_id=row.id,
            name=row.name,
            grant_types=row.grant_types,
            scopes=row.scopes,
            dynamic=dynamic,
        )
    audiences.forget()
    return Created(row, secret)


def list_clients(principal: Principal) -> list[OAuthClient]:
    require_admin(principal)
    return list(
        db.session.scalars(select(OAuthClient).order_by(OAuthClient.created_at, OAuthClient.id))
    )


def get(principal: Principal, client_id: str) -> OAuthClient:
    require_admin(principal)
    row = db.session.get(OAuthClient, client_id)
    if row is None:
        raise NotFound()
    return row


def update_client(
    principal: Principal, client_id: str, values: Mapping[str, Any], client: Client
) -> OAuthClient:
    """Change name, redirect URIs, scopes or audiences. Commits."""
    row = get(principal, client_id)
    after = {
        "grant_types": row.grant_types,
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "redirect_uris": values.get("redirect_uris", row.redirect_uris),
        "audiences": values.get("audiences", []),
    }
    problems = _check(after)
    if problems:
        raise ValidationFailed(problems)
    with transaction():
        changed: dict[str, Any] = {}
        for name in MUTABLE:
            if name not in values:
                continue
            new = values[name]
            if name in ("scopes", "redirect_uris", "audiences"):
                new = list(dict.fromkeys(new))
            if getattr(row, name) != new:
                setattr(row, name, new)
                changed[name] = new
        if changed:
            row.updated_at = clock.now()
            audit.record(
                "oauth.client_updated",
                client=client,
                user_id=principal.user_id,
                actor_id=principal.user_id,
                client_id=row.id,
                **changed,
            )
    audiences.forget()
    return row


def rotate_secret(principal: Principal, client_id: str, client: Client) -> Created:
    """A new secret at once; the old one stops working. Tokens already issued live on. Commits."""
    row = get(principal, client_id)
    if not row.confidential:
        raise ValidationFailed.one(
            "token_endpoint_auth_method", "invalid", "A public client has no secret to rotate."
        )
    secret = oauth.new_secret("cs_")
    with transaction():
        row.secret_digest = _digest(secret)
        row.secret_rotated_at = row.updated_at = clock.now()
        audit.record(
            "oauth.client_secret_rotated",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            client_id=row.id,
        )
    return Created(row, secret)


def delete_client(principal: Principal, client_id: str, client: Client) -> None:
    """Delete a client and revoke every token issued to it. Commits.

    Its users' sessions with it are revoked (their access and refresh tokens die); its
    own client_credentials tokens die with the row (`check_state` finds no client); its
    codes and consents go with it (ON DELETE CASCADE, and explicitly for SQLite).
    """
    from authsvc.models import AuthorizationCode, OAuthConsent

    row = get(principal, client_id)
    now = clock.now()
    with transaction():
        revoked = rowcount(
            db.session.execute(
                update(LoginSession)
                .where(LoginSession.client_id == row.id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        )
        db.session.query(AuthorizationCode).filter(AuthorizationCode.client_id == row.id).delete()
        db.session.query(OAuthConsent).filter(OAuthConsent.client_id == row.id).delete()
        if row.status_idx is not None:  # its client_credentials tokens: invalid in the lists too
            status_lists.retire(
                row.status_idx,
                jti=f"client:{row.id}:{row.status_idx}",
                expires_at=now + settings().access_ttl,
            )
        db.session.delete(row)
        audit.record(
            "oauth.client_deleted",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            client_id=client_id,
            sessions_revoked=revoked,
        )
    audiences.forget()


# --- client authentication (token, introspection, revocation endpoints) ---


@dataclass(frozen=True)
class ClientAuth:
    """What the request offered: HTTP Basic, form fields, or only a client_id (method none)."""

    method: str | None  # client_secret_basic | client_secret_post | none | None (nothing sent)
    client_id: str | None
    secret: str | None = None

    @property
    def basic(self) -> bool:
        return self.method == "client_secret_basic"


def authenticate(auth: ClientAuth) -> OAuthClient:
    """The client these credentials prove, or `invalid_client` (nothing is written either way).

    The method used must be the one the client registered; public clients prove nothing
    here and rely on PKCE. The answer does not tell an unknown id from a wrong secret.
    """
    if auth.method is None or not auth.client_id:
        raise oauth.invalid_client("Client authentication is required.", basic=False)
    row = db.session.get(OAuthClient, auth.client_id) if len(auth.client_id) <= 64 else None
    digest = _digest(auth.secret or "")
    if row is None or row.token_endpoint_auth_method != auth.method:
        raise oauth.invalid_client("Client authentication failed.", basic=auth.basic)
    if row.confidential and not (
        row.secret_digest and oauth.same_digest(row.secret_digest, digest)
    ):
        raise oauth.invalid_client("Client authentication failed.", basic=auth.basic)
    return row


def authenticate_confidential(auth: ClientAuth) -> OAuthClient:
    row = authenticate(auth)
    if not row.confidential:
        raise oauth.invalid_client(
            "This needs a confidential client's credentials.", basic=auth.basic
        )
    return row


# --- RFC 7591 dynamic registration ---

_DYNAMIC_GRANTS = frozenset({"authorization_code", "refresh_token"})


def register(
    principal: Principal | None, metadata: Mapping[str, Any], client: Client
) -> dict[str, Any]:
    """RFC 7591 section 3: open when AUTHSVC_OAUTH_DYNAMIC_REGISTRATION is on, else admins only.

    Dynamically registered clients get no scope beyond AUTHSVC_OAUTH_DYNAMIC_SCOPES (plus
    `openid` and `email`, which only name the user who consents) and no client_credentials.
    """
    s = settings()
    if not s.oauth_dynamic_registration:
        if principal is None:
            raise OAuthError(
                "access_denied",
                "Client registration is open to administrators only.",
                401,
                {"WWW-Authenticate": 'Bearer realm="authsvc"'},
            )
        try:
            require_admin(principal)
        except (InsufficientScope, PermissionDenied) as exc:
            raise OAuthError("access_denied", exc.detail, 403) from exc
    values = _rfc7591_values(
        metadata, admin=principal is not None and s.oauth_dynamic_registration is False
    )
    try:
        created = create(principal, values, client, dynamic=True)
    except ValidationFailed as exc:
        item = exc.items()[0]
        code = (
            "invalid_redirect_uri"
            if (item.attr or "").startswith("redirect_uris")
            else "invalid_client_metadata"
        )
        raise OAuthError(code, f"{item.attr}: {item.detail}" if item.attr else item.detail) from exc
    return registration_answer(created)


def _list_of_strings(metadata: Mapping[str, Any], name: str, default: Sequence[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 20:
        raise OAuthError(
            "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata",
            f"{name} must be a list of at most 20 strings.",
        )
    return value


def _rfc7591_values(metadata: Mapping[str, Any], *, admin: bool) -> dict[str, Any]:
    s = settings()
    name = metadata.get("client_name", "Unnamed app")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise OAuthError("invalid_client_metadata", "client_name must be 1 to 100 characters.")
    redirect_uris = _list_of_strings(metadata, "redirect_uris", [])
    grants = _list_of_strings(metadata, "grant_types", ["authorization_code"])
    allowed = set(oauth.GRANT_TYPES) if admin else _DYNAMIC_GRANTS
    if not grants or not set(grants) <= allowed:
        raise OAuthError(
            "invalid_client_metadata", f"grant_types may hold only {', '.join(sorted(allowed))}."
        )
    response_types = _list_of_strings(metadata, "response_types", ["code"])
    if response_types != ["code"] and "authorization_code" in grants:
        raise OAuthError("invalid_client_metadata", 'response_types must be ["code"].')
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in oauth.AUTH_METHODS:
        raise OAuthError(
            "invalid_client_metadata",
            f"token_endpoint_auth_method must be one of {', '.join(oauth.AUTH_METHODS)}.",
        )
    alg = metadata.get("id_token_signed_response_alg", "RS256")
    if alg not in oauth.ID_TOKEN_ALGS:
        raise OAuthError(
            "invalid_client_metadata", "id_token_signed_response_alg must be RS256 or ES256."
        )
    asked = oauth.parse_scope(metadata.get("scope"))
    if asked is None:
        raise OAuthError("invalid_client_metadata", "scope must be a space-separated string.")
    cap = set(s.oauth_dynamic_scopes) | oauth.IDENTITY_SCOPES
    scopes = (
        [x for x in asked if x in cap] if asked else [*s.oauth_dynamic_scopes, "openid", "email"]
    )
    return {
        "name": name.strip(),
        "redirect_uris": redirect_uris,
        "grant_types": grants,
        "token_endpoint_auth_method": method,
        "scopes": scopes,
        "audiences": [],
        "id_token_signed_response_alg": alg,
    }


def registration_answer(created: Created) -> dict[str, Any]:
    row = created.client
    body: dict[str, Any] = {
        "client_id": row.id,
        "client_id_issued_at": int(row.created_at.timestamp()),
        "client_name": row.name,
        "redirect_uris": row.redirect_uris,
        "grant_types": row.grant_types,
        "response_types": ["code"] if "authorization_code" in row.grant_types else [],
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "scope": oauth.format_scope(row.scopes),
        "id_token_signed_response_alg": row.id_token_alg,
    }
    if created.secret is not None:
        body["client_secret"] = created.secret
        body["client_secret_expires_at"] = 0
    return body
