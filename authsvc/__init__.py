"""authsvc: the token service every other service trusts to say who is calling.

The server's modules are imported inside `create_app`, so that `authsvc.verifier`
(and `authsvc.tokens`) can be imported by other services that lack SQLAlchemy & co.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface

HTML_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    from sqlalchemy import event
    from werkzeug.middleware.proxy_fix import ProxyFix

    from authsvc import api, cli, config, console, errors, logs, metrics, runtime, schema, transport
    from authsvc.extensions import db
    from authsvc import ratelimit

    app = Flask(__name__, instance_path=os.environ.get("AUTHSVC_INSTANCE_PATH") or None,
                instance_relative_config=True)
    app.session_interface = _NoCookieSession()  # no route uses flask.session; tokens are the state
    config.load(app, test_config)

    db.init_app(app)
    if click.get_current_context(silent=True) is not None:
        schema.init_migrations(app)  # a `flask …` command: `flask db` needs Flask-Migrate
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    transport.init_app(app)
    ratelimit.init_app(app)
    rt = runtime.init_app(app)
    api.init_app(app)
    cli.init_app(app)
    app.register_blueprint(console.bp)
    app.after_request(_security_headers)
    if app.config["AUTHSVC_TRUSTED_PROXIES"]:
        hops = app.config["AUTHSVC_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    with app.app_context():
        schema.ensure_current(auto_migrate=app.config["AUTHSVC_AUTO_MIGRATE"])
        rt.keystore.ensure()
    return app


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", HTML_CSP)
    return response


class _NoCookieSession(SecureCookieSessionInterface):
    """Flask's cookie session is never read or written here: skip parsing it on every request."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None
