"""/console/session: the console's cookie adapter over the same session use cases.

A page script must never hold a refresh token, yet the console must survive a reload.
So login and refresh here call `services.sessions.login/refresh` exactly as the JSON
API does, answer with the access token only, and keep the refresh token in an
HttpOnly, Secure, SameSite=Strict cookie whose path is this blueprint: no script can
read it and no other route receives it. Cross-site use is refused twice over: the
cookie is SameSite=Strict, and every call must carry the `X-Authsvc-Console` header
(which a form cannot send and a cross-origin fetch cannot send without a CORS
preflight this app never grants) and, when the browser says where it comes from,
a same-origin `Origin` and `Sec-Fetch-Site`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, after_this_request, jsonify, request

from authsvc.core.errors import PermissionDenied
from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import sessions
from authsvc.services.runtime import settings
from authsvc.web.api import Blueprint as ApiBlueprint
from authsvc.web.api import client
from authsvc.web.api.auth import LoginSchema
from authsvc.web.credentials import authenticate, read_credentials

PATH = "/console/session"
GUARD_HEADER = "X-Authsvc-Console"

bp = Blueprint("session", __name__, url_prefix="/session")
_parser = ApiBlueprint.ARGUMENTS_PARSER


def cookie_name() -> str:
    """`__Secure-` makes the browser refuse the cookie from any non-secure origin."""
    return "__Secure-authsvc_refresh" if settings().console_secure_cookie else "authsvc_refresh"


@bp.before_request
def _same_origin_only() -> None:
    if request.headers.get(GUARD_HEADER) != "1":
        raise PermissionDenied(f"Console session calls must send the {GUARD_HEADER} header.")
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        raise PermissionDenied("Cross-site request refused.")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        raise PermissionDenied("Cross-site request refused.")


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _forget(response: Response) -> Response:
    s = settings()
    response.delete_cookie(
        cookie_name(), path=PATH, secure=s.console_secure_cookie, httponly=True, samesite="Strict"
    )
    return response


def _forget_if_refused(response: Response) -> Response:
    """A refresh token the service refused is dead for good; one it could not check is not."""
    return _forget(response) if response.status_code == 401 else response


def _answer(pair: sessions.TokenPair) -> Response:
    s = settings()
    response = jsonify(
        access_token=pair.access_token, token_type=pair.token_type, expires_in=pair.expires_in
    )
    response.set_cookie(
        cookie_name(),
        pair.refresh_token,
        max_age=int(s.refresh_ttl.total_seconds()),
        path=PATH,
        secure=s.console_secure_cookie,
        httponly=True,
        samesite="Strict",
    )
    return response


@bp.post("/login")
@_parser.use_args(LoginSchema(), location="json")
def login(body: dict[str, Any]) -> Response:
    """POST /auth/login, with the refresh token put in the cookie instead of the body."""
    return _answer(sessions.login(body["email"], body["password"], body["totp_code"], client()))


@bp.post("/refresh")
def refresh() -> Response:
    """POST /auth/refresh with the cookie's token: rotation and reuse detection as there.

    Without a cookie there is nothing to refresh: `204`, not an error, so a first visit to
    the sign-in page shows no failed request in the browser's console.
    """
    token = request.cookies.get(cookie_name())
    if not token:
        return Response(status=204)
    after_this_request(_forget_if_refused)
    return _answer(sessions.refresh(token, client()))


@bp.post("/logout")
def logout() -> Response:
    """Forget the cookie; with an access token, also end its session (POST /auth/logout)."""
    after_this_request(_forget)
    if read_credentials() is not None:
        sessions.logout(authenticate(ACCESS_ONLY), client())
    return Response(status=204)
