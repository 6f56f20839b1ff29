"""The web console at /console/: server-rendered page shells over static ES modules.

The pages hold no data and no secrets; their scripts fetch everything from the JSON API
with an access token kept in memory, so every rule stays in the API. The session cookie
adapter (`console.session`) is nested here so `create_app` registers one blueprint. The
pages need nothing that the app's HTML Content-Security-Policy (`authsvc.HTML_CSP`) forbids.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from authsvc.services.private_tokens import DESCRIPTION_MAX, NAME_MAX
from authsvc.services.runtime import settings
from authsvc.web import errors
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
    "admin-users": ("Users", "console/admin_users.html"),
    "admin-user": ("User", "console/admin_user.html"),
    "audit": ("Audit log", "console/audit.html"),
    "admin-teams": ("All teams", "console/admin_teams.html"),
}

bp = Blueprint(
    "console", __name__, url_prefix="/console", template_folder="templates", static_folder="static"
)
bp.register_blueprint(session.bp)
# Outside /console: `/` and `/favicon.ico`, which browsers ask for first.
root = Blueprint("console_root", __name__)


def wants_html() -> bool:
    """A browser navigating (it lists text/html), not a JSON client or curl's `*/*`."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


@root.get("/")
def home() -> BaseResponse:
    """A browser opening the service's address lands on the console; anything else gets
    the API's 404 envelope, as for every unknown path."""
    if not wants_html():
        abort(404)
    return redirect(url_for("console.page", name="keys"))  # relative: no Host header in it


@root.get("/favicon.ico")
def favicon() -> BaseResponse:
    return redirect(url_for("console.static", filename="favicon.svg"), code=301)


@bp.get("/")
def index() -> BaseResponse:
    from authsvc.web.api.discovery import public_url

    return redirect(public_url("console.page", name="keys"))  # from the issuer, never the request


@bp.get("/<name>")
def page(name: str) -> str | tuple[str, int]:
    """Every page is the same kind of shell; its module (`static/pages/<name>.js`) does the rest."""
    if name not in PAGES:
        return not_found()
    title, template = PAGES[name]
    return render_template(
        template,
        page=name,
        title=title,
        private_token_max_days=settings().private_token_max_days,
        name_max_length=NAME_MAX,
        description_max_length=DESCRIPTION_MAX,
    )


def not_found() -> tuple[str, int]:
    """A person who mistyped a console address gets a page with a way back, not JSON."""
    if not wants_html():
        abort(404)
    return render_template("console/not_found.html", title="Page not found", path=request.path), 404


@bp.app_errorhandler(404)
def _unknown_path(error: NotFound) -> Any:
    """Paths no route matches: under /console/ a browser gets the console's 404 page; every
    other client and path the API's envelope (`web.errors`)."""
    if request.path.startswith(bp.url_prefix or "/console") and wants_html():
        return not_found()
    return errors.handle_http_exception(error)
