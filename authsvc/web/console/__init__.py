"""The web console at /console/: server-rendered page shells over static ES modules.

The pages hold no data and no secrets; their scripts fetch everything from the JSON API
with an access token kept in memory, so every rule stays in the API. The session cookie
adapter (`console.session`) is nested here so `create_app` registers one blueprint. The
pages need nothing that the app's HTML Content-Security-Policy (`authsvc.HTML_CSP`) forbids.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template
from werkzeug.wrappers import Response as BaseResponse

from authsvc.services.private_tokens import DESCRIPTION_MAX, NAME_MAX
from authsvc.services.runtime import settings
from authsvc.web.console import session

PAGES = {
    "signin": ("Sign in", "console/signin.html"),
    "keys": ("API keys", "console/keys.html"),
    "teams": ("Teams", "console/teams.html"),
    "team-keys": ("Team API keys", "console/keys.html"),
    "two-factor": ("Two-factor authentication", "console/two_factor.html"),
    "sessions": ("Sessions", "console/sessions.html"),
    "password": ("Change password", "console/password.html"),
    "authorize": ("Allow access", "console/authorize.html"),
    "connected-apps": ("Connected apps", "console/connected_apps.html"),
    "oauth-apps": ("OAuth apps", "console/oauth_apps.html"),
}

bp = Blueprint(
    "console", __name__, url_prefix="/console", template_folder="templates", static_folder="static"
)
bp.register_blueprint(session.bp)


@bp.get("/")
def index() -> BaseResponse:
    from authsvc.web.api.discovery import public_url

    return redirect(public_url("console.page", name="keys"))  # from the issuer, never the request


@bp.get("/<name>")
def page(name: str) -> str:
    """Every page is the same kind of shell; its module (`static/pages/<name>.js`) does the rest."""
    if name not in PAGES:
        abort(404)
    title, template = PAGES[name]
    return render_template(
        template,
        page=name,
        title=title,
        private_token_max_days=settings().private_token_max_days,
        name_max_length=NAME_MAX,
        description_max_length=DESCRIPTION_MAX,
    )
