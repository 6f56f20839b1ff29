"""The app factory: settings, storage, the runtime of the use cases, and every blueprint."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import (
    Config,
    Flask,
    Request,
    current_app,
)
from flask.ctx import AppContext
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from authsvc import config
from authsvc.core import crypto
from authsvc.extensions import db
from authsvc.services import runtime
from authsvc.services.keystore import KeyStore
from authsvc.web import (
    api,
    cli,
    console,
    credentials,
    edge,
    errors,
    logs,
    migrate,
    ratelimit,
    transport,
)
from authsvc.web.edge import HTML_CSP as HTML_CSP  # where the console's tests look for it

_SYNC_CACHE = 512  # far more hooks, views and handlers than the app registers


class _Flask(Flask):
    """Flask, asking once per function whether a hook or view is a coroutine function:
    Flask asks `inspect` on every request, for each of a dozen hooks (docs/performance.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            done = super().ensure_sync(func)
            if len(self._sync) < _SYNC_CACHE:  # a callable made per request is not kept
                self._sync[func] = done
            return done
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)

    def app_context(self) -> AppContext:
        return _AppContext(self)


class _AppContext(AppContext):
    """An app context that makes its app's runtime the current one while it is pushed.
    Done here, not by `appcontext_pushed`/`appcontext_popped` receivers: blinker asks
    `inspect` of every receiver on every send, twice a request (docs/performance.md)."""

    def push(self) -> None:
        super().push()
        rt = self.app.extensions.get("authsvc")
        if isinstance(rt, runtime.Runtime):
            runtime.activate(rt)

    def pop(self, *args: Any, **kwargs: Any) -> None:
        super().pop(*args, **kwargs)
        rt = self.app.extensions.get("authsvc")
        if isinstance(rt, runtime.Runtime):
            runtime.deactivate(rt)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = _Flask(
        "authsvc",
        instance_path=os.environ.get("AUTHSVC_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    app.session_interface = _NoCookieSession()  # no route uses flask.session; tokens are the state
    settings = _load_config(app, test_config)

    db.init_app(app)
    if click.get_current_context(silent=True) is not None:
        migrate.init_migrations(app)  # a `flask …` command: `flask db` needs Flask-Migrate
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

    logs.init_app(app)
    errors.init_app(app)
    # Innermost of the WSGI wrappers: ProxyFix (outermost) and BufferedBody act first.
    app.wsgi_app = edge.Edge(app.wsgi_app)  # type: ignore[method-assign]
    transport.init_app(app, settings)
    ratelimit.init_app(app, settings)
    rt = _init_runtime(app, settings)
    api.init_app(app)
    cli.init_app(app)
    app.register_blueprint(console.bp)
    app.register_blueprint(console.root)
    app.after_request(credentials.rate_limit_headers)
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    with app.app_context():
        migrate.ensure_current(auto_migrate=settings.auto_migrate)
        rt.keystore.ensure()
    return app


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _NoCookieSession(SecureCookieSessionInterface):
    """Flask's cookie session is never read or written here: skip parsing it on every request."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None


def _load_config(app: Flask, test_config: Mapping[str, Any] | None) -> config.Settings:
    """Read the settings (defaults < instance `config.py` < environment < `test_config`)."""
    instance_file = Config(app.instance_path)
    instance_file.from_pyfile("config.py", silent=True)
    environment = {
        name: raw
        for name, raw in os.environ.items()
        if name.startswith(config.PREFIX) and name not in config.SERVER_VARIABLES
    }
    overrides = dict(test_config or {})
    app.config.from_mapping({k: v for k, v in overrides.items() if not k.startswith(config.PREFIX)})

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    served = config.served_issuer(os.environ.get("AUTHSVC_SERVED_URL", ""))
    defaults = {"AUTHSVC_ISSUER": served} if served else {}
    settings = config.Settings.from_sources(
        defaults,
        instance_file,
        overrides,
        environment=environment,
        testing=bool(app.config.get("TESTING")),
    )
    app.config["ISSUER_FROM"] = next(
        (
            where
            for where, source in (
                ("the tests", overrides),
                ("AUTHSVC_ISSUER", environment),
                (f"{Path(app.instance_path) / 'config.py'}", instance_file),
                ("AUTHSVC_SERVED_URL, the address served", defaults),
            )
            if "AUTHSVC_ISSUER" in source
        ),
        "the default",
    )
    secret = (
        settings.secret_key.encode()
        if settings.secret_key
        else crypto.load_or_create_secret(instance / "secret_key")
    )
    database_url = settings.database_url
    if not database_url:
        database = instance / "authsvc.sqlite3"
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        database_url = f"sqlite:///{database}"
    settings = dataclasses.replace(settings, secret=secret, database_url=database_url)
    settings.validate()
    app.config["SECRET_KEY"] = crypto.derive_key(secret, "flask-session")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # A ping per checkout finds connections a PostgreSQL restart dropped; SQLite has none to drop.
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": not database_url.startswith("sqlite")}
    )
    return settings


def _init_runtime(app: Flask, settings: config.Settings) -> runtime.Runtime:
    rt = runtime.Runtime(
        settings=settings,
        keystore=KeyStore(
            secret=settings.secret,
            alg=settings.signing_alg,
            longest_lifetime=settings.longest_lifetime,
            leeway=timedelta(seconds=settings.leeway),
            publish_delay=settings.key_publish_delay,
            rotation_days=settings.key_rotation_days,
        ),
        failure_log=ratelimit.failure_log(settings),
        use_counter=ratelimit.use_counter(settings),
        key_prefix=settings.redis_prefix,
        id_keystores={
            alg: KeyStore(
                secret=settings.secret,
                alg=alg,
                label=f"id:{alg}",
                longest_lifetime=settings.access_ttl,
                leeway=timedelta(seconds=settings.leeway),
            )
            for alg in ("RS256", "ES256")
        },
    )
    app.extensions["authsvc"] = rt
    if settings.key_rotation_days:
        app.before_request(_rotate_when_due)
    return rt


def _rotate_when_due() -> None:
    """Automatic key rotation, checked before a request (at most once a minute per process),
    in a transaction of its own; a failure is logged and never fails the request."""
    try:
        runtime.keystore().maybe_rotate()
    except DBAPIError:
        db.session.rollback()
        current_app.logger.warning(
            "automatic key rotation check failed: storage unreachable", exc_info=True
        )
