"""/api/v1/auth/oauth2: the OAuth 2.1 / OpenID Connect protocol endpoints (issue 16).

authorize, token, userinfo and register answer errors as OAuth clients expect them
(`{"error", "error_description"}`, RFC 6749 5.2 / 4.1.2.1, RFC 6750, RFC 7591), not in
the envelope. `consent` is the console's: it answers the envelope like every JSON route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from authsvc.core import tokens
from authsvc.core.errors import ApiError, NotAuthenticated
from authsvc.core.oauth import OAuthError
from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import oauth, oauth_clients
from authsvc.web.api import Blueprint, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.web.credentials import authenticate, read_client_auth, read_credentials

bp = Blueprint(
    "oauth",
    __name__,
    url_prefix="/api/v1/auth/oauth2",
    description="OAuth 2.1 and OpenID Connect: authorize, token, userinfo, registration.",
)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(_NO_STORE)
    return response


@bp.route("/authorize", methods=["GET"])
@bp.doc(
    responses={
        "302": {"description": "To the console's consent page, or an error redirect."},
        "400": {"description": "An HTML error page: unknown client or redirect URI."},
    }
)
def authorize() -> BaseResponse | tuple[str, int]:
    """RFC 6749 4.1.1 with PKCE S256 required: checked, sealed, and handed to the console."""
    try:
        req = oauth.parse_authorization_request(request.args.to_dict(flat=False))
    except oauth.RedirectError as exc:
        return redirect(exc.location(), 302)
    except oauth.Untrusted as exc:
        return render_template(
            "console/oauth_error.html",
            title="Sign-in request refused",
            error=exc.error,
            description=exc.description,
        ), 400
    params: dict[str, str] = {"request": oauth.seal_request(req)}
    if req.prompt:
        params["prompt"] = req.prompt
    return redirect(
        url_for("console.page", name="authorize", _external=False) + "?" + urlencode(params), 302
    )


class ConsentQuerySchema(Schema):
    request = f.Str(required=True, max_length=8192)


class ConsentDecisionSchema(Schema):
    request = f.Str(required=True, max_length=8192)
    decision = f.Str(
        required=True,
        max_length=32,
        validate=ma.validate.OneOf(("allow", "deny", "login_required")),
    )


class ConsentViewSchema(Schema):
    client = ma.fields.Dict(required=True)
    scopes = ma.fields.List(ma.fields.Dict(), required=True)
    remembered = ma.fields.Boolean(required=True)
    prompt = ma.fields.String(allow_none=True, required=True)
    skip = ma.fields.Boolean(required=True)


class RedirectSchema(Schema):
    redirect_to = ma.fields.String(required=True)


@bp.route("/consent", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(ConsentQuerySchema, location="query")
@bp.response(200, ConsentViewSchema)
def consent_view(query: dict[str, Any]) -> dict[str, Any]:
    """The console's consent page reads what to show: the app and the scopes in words."""
    from authsvc.web.credentials import current_principal

    return oauth.consent_view(current_principal(), query["request"])


@bp.route("/consent", methods=["POST"])
@bp.arguments(ConsentDecisionSchema)
@bp.response(200, RedirectSchema)
@bp.errors(401, 403, 415)
def consent_decide(body: dict[str, Any]) -> dict[str, str]:
    """Allow (needs the console's access token) or deny; answers where the browser goes next."""
    principal = authenticate(ACCESS_ONLY) if read_credentials() is not None else None
    return {"redirect_to": oauth.decide(principal, body["request"], body["decision"], client())}


@bp.route("/token", methods=["POST"])
@bp.doc(
    requestBody={
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        name: {"type": "string"}
                        for name in (
                            "grant_type",
                            "code",
                            "redirect_uri",
                            "code_verifier",
                            "refresh_token",
                            "scope",
                            "resource",
                            "client_id",
                            "client_secret",
                        )
                    },
                }
            }
        }
    }
)
def token() -> Response:
    """RFC 6749 section 3.2: authorization_code, refresh_token and client_credentials."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Send the body as application/x-www-form-urlencoded.")
    form = request.form.to_dict(flat=False)
    return _json(oauth.token(form, read_client_auth(form), client()))


def _bearer_challenge(detail: str, error: str | None = "invalid_token") -> dict[str, str]:
    if error is None:
        return {"WWW-Authenticate": 'Bearer realm="authsvc"'}
    return {
        "WWW-Authenticate": f'Bearer realm="authsvc", error="{error}", error_description="{detail}"'
    }


@bp.route("/userinfo", methods=["GET", "POST"])
@bp.doc(security=[{"bearer": []}])
def userinfo() -> Response:
    """OIDC Core 5.3: `sub` and, with the email scope, `email`."""
    try:
        principal = authenticate(ACCESS_ONLY)
    except NotAuthenticated as exc:
        raise OAuthError(
            "invalid_token", "No access token was sent.", 401, _bearer_challenge(exc.detail, None)
        ) from exc
    except tokens.InvalidToken as exc:
        raise OAuthError("invalid_token", exc.detail, 401, _bearer_challenge(exc.detail)) from exc
    except ApiError as exc:
        raise OAuthError(
            "invalid_request" if exc.status == 400 else "invalid_token",
            exc.detail,
            exc.status if exc.status in (400, 401) else 401,
            _bearer_challenge(exc.detail),
        ) from exc
    return _json(oauth.userinfo(principal))


# RFC 7591 section 2 client metadata (other members are accepted and ignored).
REGISTRATION_SCHEMA = {
    "type": "object",
    "required": ["redirect_uris"],
    "properties": {
        "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "client_name": {"type": "string", "maxLength": 100},
        "grant_types": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": ["authorization_code", "refresh_token", "client_credentials"],
            },
        },
        "response_types": {"type": "array", "items": {"type": "string", "enum": ["code"]}},
        "token_endpoint_auth_method": {
            "type": "string",
            "enum": ["client_secret_basic", "client_secret_post", "none"],
        },
        "scope": {"type": "string"},
    },
}


@bp.route("/register", methods=["POST"])
@bp.doc(requestBody={"content": {"application/json": {"schema": REGISTRATION_SCHEMA}}})
def register() -> Response:
    """RFC 7591: open when AUTHSVC_OAUTH_DYNAMIC_REGISTRATION is on, otherwise admins only."""
    principal = None
    if read_credentials() is not None:
        try:
            principal = authenticate()
        except tokens.InvalidToken as exc:
            raise OAuthError(
                "invalid_token", exc.detail, 401, _bearer_challenge(exc.detail)
            ) from exc
    if not request.is_json:
        raise OAuthError("invalid_client_metadata", "Send the metadata as application/json.")
    metadata = request.get_json(silent=True)
    if not isinstance(metadata, dict):
        raise OAuthError("invalid_client_metadata", "The body must be one JSON object.")
    return _json(oauth_clients.register(principal, metadata, client()), 201)
