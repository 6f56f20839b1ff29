"""/api/v1/oauth2/clients (admins) and /api/v1/oauth2/consents (the caller's connected apps)."""

from __future__ import annotations

from functools import wraps
from typing import Any, cast

import marshmallow as ma

from authsvc.core import oauth
from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import oauth as oauth_service
from authsvc.services import oauth_clients, users
from authsvc.web.api import Blueprint, F, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.web.credentials import current_principal

bp = Blueprint(
    "oauth_clients",
    __name__,
    url_prefix="/api/v1/oauth2",
    description="OAuth clients (admins only) and the caller's connected apps.",
)


def admin_scope_required(view: F) -> F:
    """Admin and the `admin` scope on the token, before the body is read."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        users.require_admin(current_principal())
        return view(*args, **kwargs)

    return cast(F, wrapper)


class _Uris(f.List[str]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(f.Str(max_length=2000), validate=ma.validate.Length(max=20), **kwargs)


class CreateClientSchema(Schema):
    name = f.Str(required=True, max_length=100)
    redirect_uris = _Uris(load_default=list)
    grant_types = f.List(
        f.Str(max_length=32, validate=ma.validate.OneOf(oauth.GRANT_TYPES)),
        required=True,
        validate=ma.validate.Length(min=1, max=3),
    )
    token_endpoint_auth_method = f.Str(
        required=True, max_length=32, validate=ma.validate.OneOf(oauth.AUTH_METHODS)
    )
    scopes = f.Scopes(required=True)
    audiences = f.List(
        f.Str(max_length=255), load_default=list, validate=ma.validate.Length(max=20)
    )
    id_token_signed_response_alg = f.Str(
        load_default="RS256", max_length=16, validate=ma.validate.OneOf(oauth.ID_TOKEN_ALGS)
    )


class UpdateClientSchema(Schema):
    name = f.Str(max_length=100)
    redirect_uris = _Uris()
    scopes = f.Scopes()
    audiences = f.List(f.Str(max_length=255), validate=ma.validate.Length(max=20))
    client_id = f.ReadOnly()
    grant_types = f.ReadOnly()
    token_endpoint_auth_method = f.ReadOnly()
    client_secret = f.ReadOnly()
    created_at = f.ReadOnly()


class ClientSchema(Schema):
    client_id = ma.fields.String(attribute="id", required=True)
    name = ma.fields.String(required=True)
    redirect_uris = ma.fields.List(ma.fields.String(), required=True)
    grant_types = ma.fields.List(ma.fields.String(), required=True)
    token_endpoint_auth_method = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    audiences = ma.fields.List(ma.fields.String(), required=True)
    id_token_signed_response_alg = ma.fields.String(attribute="id_token_alg", required=True)
    confidential = ma.fields.Boolean(required=True)
    dynamic = ma.fields.Boolean(required=True)
    created_at = f.Timestamp(required=True)
    updated_at = f.Timestamp(required=True)


class ClientWithSecretSchema(ClientSchema):
    client_secret = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Shown in this answer only; null for public clients."},
    )


class ClientListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ClientSchema), required=True)


class ScopeWordsSchema(Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class ConsentSchema(Schema):
    client_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    granted_at = f.Timestamp(required=True)
    scopes = ma.fields.List(ma.fields.Nested(ScopeWordsSchema), required=True)


class ConsentListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ConsentSchema), required=True)


class _WithSecret:
    """A client row plus the secret made just now, for the one answer that shows it."""

    def __init__(self, created: oauth_clients.Created) -> None:
        self._row = created.client
        self.client_secret = created.secret

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def _with_secret(created: oauth_clients.Created) -> _WithSecret:
    return _WithSecret(created)


@bp.route("/clients", methods=["POST"])
@bp.authenticated()
@admin_scope_required
@bp.arguments(CreateClientSchema)
@bp.response(201, ClientWithSecretSchema)
@bp.errors(403, 415)
def create_client(body: dict[str, Any]) -> _WithSecret:
    """Register an app; a confidential one's `client_secret` is in this answer only."""
    return _with_secret(oauth_clients.create(current_principal(), body, client()))


@bp.route("/clients", methods=["GET"])
@bp.authenticated()
@admin_scope_required
@bp.response(200, ClientListSchema)
@bp.errors(403)
def list_clients() -> dict[str, Any]:
    """Every registered app, oldest first."""
    return {"items": oauth_clients.list_clients(current_principal())}


@bp.route("/clients/<client_id>", methods=["GET"])
@bp.authenticated()
@admin_scope_required
@bp.response(200, ClientSchema)
@bp.errors(403, 404)
def get_client(client_id: str) -> Any:
    """One app (never its secret)."""
    return oauth_clients.get(current_principal(), client_id)


@bp.route("/clients/<client_id>", methods=["PATCH"])
@bp.authenticated()
@admin_scope_required
@bp.arguments(UpdateClientSchema)
@bp.response(200, ClientSchema)
@bp.errors(403, 404, 415)
def update_client(body: dict[str, Any], client_id: str) -> Any:
    """Change an app's name, redirect URIs, scopes or audiences."""
    return oauth_clients.update_client(current_principal(), client_id, body, client())


@bp.route("/clients/<client_id>/rotate-secret", methods=["POST"])
@bp.authenticated()
@admin_scope_required
@bp.response(201, ClientWithSecretSchema)
@bp.errors(403, 404)
def rotate_secret(client_id: str) -> _WithSecret:
    """A new secret, shown once; the old one stops working at once."""
    return _with_secret(oauth_clients.rotate_secret(current_principal(), client_id, client()))


@bp.route("/clients/<client_id>", methods=["DELETE"])
@bp.authenticated()
@admin_scope_required
@bp.response(204)
@bp.errors(403, 404)
def delete_client(client_id: str) -> None:
    """Delete an app; every token issued to it is revoked."""
    oauth_clients.delete_client(current_principal(), client_id, client())


@bp.route("/consents", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, ConsentListSchema)
def list_consents() -> dict[str, Any]:
    """The apps you allowed, with the scopes you granted each."""
    return {"items": oauth_service.list_consents(current_principal())}


@bp.route("/consents/<client_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404)
def withdraw_consent(client_id: str) -> None:
    """Withdraw your consent: the app's tokens for you are revoked at once."""
    oauth_service.withdraw_consent(current_principal(), client_id, client())
