"""Settings: defaults, then `instance/config.py`, then `AUTHSVC_*` variables, then test config.

Every setting is named as its environment variable. Values from the environment are
parsed by the type of their default, and `validate` fails at start, not at first use.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from limits import parse_many

from authsvc import crypto
from authsvc.keys import ALGORITHMS
from authsvc.passwords import OWASP_MINIMUM, HashParams

DEFAULTS: dict[str, Any] = {
    "AUTHSVC_DATABASE_URL": None,  # None: SQLite in the instance folder
    "AUTHSVC_REDIS_URL": None,
    "AUTHSVC_REDIS_PREFIX": "authsvc:",  # namespaces this service's keys in a shared Redis
    "AUTHSVC_SECRET_KEY": None,  # None: instance/secret_key, created on first start
    "AUTHSVC_ISSUER": "http://127.0.0.1:5000",
    "AUTHSVC_AUDIENCE": "authsvc",
    "AUTHSVC_SIGNING_ALG": "ES256",
    "AUTHSVC_DEFAULT_SCOPES": "read write",
    "AUTHSVC_ACCESS_TTL": 3600,
    "AUTHSVC_REFRESH_TTL": 30 * 24 * 3600,
    "AUTHSVC_REFRESH_REUSE_WINDOW": 10,  # seconds the predecessor is answered with its successor
    "AUTHSVC_PRIVATE_TOKEN_MAX_DAYS": 365,
    "AUTHSVC_LEEWAY": 10,
    "AUTHSVC_OPEN_REGISTRATION": False,
    "AUTHSVC_REQUIRE_TOTP_FOR_PRIVATE_TOKENS": False,
    "AUTHSVC_TOTP_ISSUER": "authsvc",
    "AUTHSVC_LOGIN_FAILURES": 5,
    "AUTHSVC_LOGIN_WINDOW": 15 * 60,
    "AUTHSVC_ADDRESS_RATE": "50 per minute",
    "AUTHSVC_TRUSTED_PROXIES": 0,
    "AUTHSVC_MAX_BODY_BYTES": 64 * 1024,
    "AUTHSVC_BODY_TIMEOUT": 10,  # seconds for a whole request body to arrive (gevent workers)
    "AUTHSVC_AUTO_MIGRATE": True,
    "AUTHSVC_ARGON2_MEMORY_KIB": OWASP_MINIMUM.memory_kib,
    "AUTHSVC_ARGON2_TIME_COST": OWASP_MINIMUM.time_cost,
    "AUTHSVC_ARGON2_PARALLELISM": OWASP_MINIMUM.parallelism,
    "AUTHSVC_LAST_USED_RESOLUTION": 60,
    "AUTHSVC_KEY_PUBLISH_DELAY": 600,  # seconds a rotated-in key is published before it signs
    "AUTHSVC_KEY_ROTATION_DAYS": 0,  # 0: no automatic rotation
    "AUTHSVC_CONSOLE_SECURE_COOKIE": True,  # False only to serve the console over plain http beyond loopback
}
_TYPES = {name: type(value) for name, value in DEFAULTS.items() if value is not None}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting that would make the service unsafe or unable to run."""


def parse(name: str, raw: str) -> Any:
    kind = _TYPES.get(name, str)
    if kind is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    for name, raw in os.environ.items():
        if name.startswith("AUTHSVC_") and name != "AUTHSVC_INSTANCE_PATH":
            app.config[name] = parse(name, raw)
    if test_config:
        app.config.from_mapping(test_config)

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["AUTHSVC_DATABASE_URL"]:
        database = instance / "authsvc.sqlite3"
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        app.config["AUTHSVC_DATABASE_URL"] = f"sqlite:///{database}"
    secret = app.config["AUTHSVC_SECRET_KEY"]
    app.config["INSTANCE_SECRET"] = (
        secret.encode() if secret else crypto.load_or_create_secret(instance / "secret_key")
    )
    app.config["SECRET_KEY"] = crypto.derive_key(app.config["INSTANCE_SECRET"], "flask-session")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["AUTHSVC_DATABASE_URL"]
    app.config["MAX_CONTENT_LENGTH"] = app.config["AUTHSVC_MAX_BODY_BYTES"]
    # A ping per checkout finds connections a PostgreSQL restart dropped; SQLite has none to drop.
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
        "pool_pre_ping": not app.config["AUTHSVC_DATABASE_URL"].startswith("sqlite")})
    validate(app.config)


def validate(config: Mapping[str, Any]) -> None:
    if config["AUTHSVC_SIGNING_ALG"] not in ALGORITHMS:
        raise ConfigError(f"AUTHSVC_SIGNING_ALG must be one of {', '.join(ALGORITHMS)}")
    if len(config["INSTANCE_SECRET"]) < 32:
        raise ConfigError("AUTHSVC_SECRET_KEY must be at least 32 characters")
    for name in ("AUTHSVC_ACCESS_TTL", "AUTHSVC_REFRESH_TTL", "AUTHSVC_PRIVATE_TOKEN_MAX_DAYS",
                 "AUTHSVC_LOGIN_FAILURES", "AUTHSVC_LOGIN_WINDOW", "AUTHSVC_MAX_BODY_BYTES",
                 "AUTHSVC_BODY_TIMEOUT"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number")
    if config["AUTHSVC_ACCESS_TTL"] > config["AUTHSVC_REFRESH_TTL"]:
        raise ConfigError("AUTHSVC_ACCESS_TTL must not exceed AUTHSVC_REFRESH_TTL")
    try:
        if not parse_many(config["AUTHSVC_ADDRESS_RATE"]):
            raise ValueError("empty")
    except ValueError:
        raise ConfigError('AUTHSVC_ADDRESS_RATE must read like "50 per minute"') from None
    if not isinstance(config["AUTHSVC_TRUSTED_PROXIES"], int) or config["AUTHSVC_TRUSTED_PROXIES"] < 0:
        raise ConfigError("AUTHSVC_TRUSTED_PROXIES must be a whole number of proxy hops, 0 or more")
    if not isinstance(config["AUTHSVC_KEY_PUBLISH_DELAY"], int) \
            or not 0 <= config["AUTHSVC_KEY_PUBLISH_DELAY"] <= 7 * 24 * 3600:
        raise ConfigError("AUTHSVC_KEY_PUBLISH_DELAY must be between 0 and 604800 seconds")
    if not isinstance(config["AUTHSVC_KEY_ROTATION_DAYS"], int) or config["AUTHSVC_KEY_ROTATION_DAYS"] < 0:
        raise ConfigError("AUTHSVC_KEY_ROTATION_DAYS must be a whole number of days, 0 (off) or more")
    if not 0 <= config["AUTHSVC_LEEWAY"] <= 300:
        raise ConfigError("AUTHSVC_LEEWAY must be between 0 and 300 seconds")
    window = config["AUTHSVC_REFRESH_REUSE_WINDOW"]
    if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 60:
        raise ConfigError("AUTHSVC_REFRESH_REUSE_WINDOW must be a whole number of seconds, 0 to 60")
    if config["AUTHSVC_AUDIENCE"] == config["AUTHSVC_ISSUER"]:
        # Refresh tokens carry aud = issuer: the two must differ for aud to tell them apart.
        raise ConfigError("AUTHSVC_AUDIENCE must differ from AUTHSVC_ISSUER")
    weaker = (
        config["AUTHSVC_ARGON2_MEMORY_KIB"] < OWASP_MINIMUM.memory_kib
        or config["AUTHSVC_ARGON2_TIME_COST"] < OWASP_MINIMUM.time_cost
        or config["AUTHSVC_ARGON2_PARALLELISM"] < OWASP_MINIMUM.parallelism
    )
    if weaker and not config.get("TESTING"):
        raise ConfigError("argon2id parameters below OWASP's minimum (19 MiB, t=2, p=1)")


@dataclass(frozen=True)
class Settings:
    """The settings the use cases read, typed and computed once per app."""

    issuer: str
    audience: str
    alg: str
    leeway: int
    access_ttl: timedelta
    refresh_ttl: timedelta
    refresh_reuse_window: timedelta
    private_max_days: int
    default_scopes: tuple[str, ...]
    open_registration: bool
    require_totp_for_private_tokens: bool
    totp_issuer: str
    hash_params: HashParams
    last_used_resolution: timedelta
    login_failures: int
    login_window: int
    secret: bytes
    console_secure_cookie: bool = True
    key_publish_delay: timedelta = timedelta(seconds=600)
    key_rotation_days: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            issuer=config["AUTHSVC_ISSUER"],
            audience=config["AUTHSVC_AUDIENCE"],
            alg=config["AUTHSVC_SIGNING_ALG"],
            leeway=config["AUTHSVC_LEEWAY"],
            access_ttl=timedelta(seconds=config["AUTHSVC_ACCESS_TTL"]),
            refresh_ttl=timedelta(seconds=config["AUTHSVC_REFRESH_TTL"]),
            refresh_reuse_window=timedelta(seconds=config["AUTHSVC_REFRESH_REUSE_WINDOW"]),
            private_max_days=config["AUTHSVC_PRIVATE_TOKEN_MAX_DAYS"],
            default_scopes=tuple(config["AUTHSVC_DEFAULT_SCOPES"].split()),
            open_registration=config["AUTHSVC_OPEN_REGISTRATION"],
            require_totp_for_private_tokens=config["AUTHSVC_REQUIRE_TOTP_FOR_PRIVATE_TOKENS"],
            totp_issuer=config["AUTHSVC_TOTP_ISSUER"],
            hash_params=HashParams(
                memory_kib=config["AUTHSVC_ARGON2_MEMORY_KIB"],
                time_cost=config["AUTHSVC_ARGON2_TIME_COST"],
                parallelism=config["AUTHSVC_ARGON2_PARALLELISM"],
            ),
            last_used_resolution=timedelta(seconds=config["AUTHSVC_LAST_USED_RESOLUTION"]),
            login_failures=config["AUTHSVC_LOGIN_FAILURES"],
            login_window=config["AUTHSVC_LOGIN_WINDOW"],
            secret=config["INSTANCE_SECRET"],
            console_secure_cookie=config["AUTHSVC_CONSOLE_SECURE_COOKIE"],
            key_publish_delay=timedelta(seconds=config["AUTHSVC_KEY_PUBLISH_DELAY"]),
            key_rotation_days=config["AUTHSVC_KEY_ROTATION_DAYS"],
        )

    @property
    def longest_lifetime(self) -> timedelta:
        """How long a retired key must stay published: the longest any token lives."""
        return max(self.access_ttl, self.refresh_ttl, timedelta(days=self.private_max_days)) + \
            timedelta(seconds=self.leeway)
