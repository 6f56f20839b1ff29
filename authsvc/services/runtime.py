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
                          leeway=timedelta(seconds=settings.leeway)),
    )
    app.extensions[_EXTENSION] = runtime
    return runtime


def settings() -> Settings:
    return current_app.extensions[_EXTENSION].settings


def keystore() -> KeyStore:
    return current_app.extensions[_EXTENSION].keystore
