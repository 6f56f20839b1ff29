"""Per-app objects the use cases need: the typed settings and the key store."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from authsvc.config import Settings
from authsvc.services.keystore import KeyStore

_EXTENSION = "authsvc"


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    keystore: KeyStore


def init_app(app: Flask) -> Runtime:
    settings = Settings.from_config(app.config)
    runtime = Runtime(
        settings=settings,
        keystore=KeyStore(secret=settings.secret, alg=settings.alg,
                          longest_lifetime=settings.longest_lifetime,
                          leeway=timedelta(seconds=settings.leeway),
                          publish_delay=settings.key_publish_delay,
                          rotation_days=settings.key_rotation_days),
    )
    app.extensions[_EXTENSION] = runtime
    if settings.key_rotation_days:
        app.before_request(_rotate_when_due)
    return runtime


def _rotate_when_due() -> None:
    """Automatic key rotation, checked before a request (at most once a minute per process),
    in a transaction of its own; a failure is logged and never fails the request."""
    from sqlalchemy.exc import DBAPIError

    from authsvc.extensions import db

    try:
        keystore().maybe_rotate()
    except DBAPIError:
        db.session.rollback()
        current_app.logger.warning("automatic key rotation check failed: storage unreachable", exc_info=True)


def settings() -> Settings:
    return current_app.extensions[_EXTENSION].settings


def keystore() -> KeyStore:
    return current_app.extensions[_EXTENSION].keystore
