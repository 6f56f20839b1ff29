"""Settings: one declaration per setting, read from every source through it.

Each field of `Settings` is one `AUTHSVC_*` setting: its environment name is the field's
name in capitals, and its `setting(...)` carries the default, how a string from the
environment is parsed, the check it must pass, and the sentence the docs show. Sources,
later winning: the defaults, `config.py` in the instance folder (same names), the
environment, and `create_app(test_config)`. A bad value stops the app at start with one
line naming the setting; nothing is checked at first use.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from authsvc.core.passwords import OWASP_MINIMUM, HashParams
from authsvc.core.rates import parse_many
from authsvc.core.tokens import ALGORITHMS

PREFIX = "AUTHSVC_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting that would make the service unsafe or unable to run."""


Check = Callable[[Any], str | None]


def setting(
    default: Any, doc: str, *, parse: Callable[[Any], Any] | None = None, check: Check | None = None
) -> Any:
    """Declare one setting: its default, docs line, parser (strings from the environment and
    values from `config.py` alike) and check (returns what is wrong, or None)."""
    return field(default=default, metadata={"doc": doc, "parse": parse, "check": check})


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("must be a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise ValueError("must be a whole number")


def _seconds(raw: Any) -> timedelta:
    return raw if isinstance(raw, timedelta) else timedelta(seconds=_int(raw))


def _words(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, (list, tuple)) and all(isinstance(w, str) for w in raw):
        return tuple(raw)
    raise ValueError("must be space-separated words")


def _descriptions(raw: Any) -> tuple[tuple[str, str], ...]:
    """A JSON object, or `scope=text` lines (environment); a dict in `config.py`."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except ValueError:
                raise ValueError("must be a JSON object of scope: text") from None
        else:
            pairs = [line.partition("=") for line in text.splitlines() if line.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("must be a JSON object or scope=text lines")
            raw = {k.strip(): v.strip() for k, _, v in pairs}
    if isinstance(raw, Mapping) and all(
        isinstance(k, str) and k.strip() and " " not in k.strip() and isinstance(v, str)
        for k, v in raw.items()
    ):
        return tuple((k.strip(), v.strip()) for k, v in raw.items())
    raise ValueError("must be a JSON object of scope: text")


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be text")
    return raw


def _optional_text(raw: Any) -> str | None:
    return None if raw is None or raw == "" else _text(raw)


def _positive(value: Any) -> str | None:
    zero = timedelta(0) if isinstance(value, timedelta) else 0
    return None if value > zero else "must be a positive whole number"


def _at_least(low: int) -> Check:
    return lambda value: None if value >= low else f"must be {low} or more"


def _between(low: int, high: int, unit: str = "") -> Check:
    def check(value: Any) -> str | None:
        number = value.total_seconds() if isinstance(value, timedelta) else value
        return None if low <= number <= high else f"must be between {low} and {high}{unit}"

    return check


def _one_of(choices: tuple[str, ...]) -> Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _rate(value: str) -> str | None:
    try:
        return None if parse_many(value) else 'must read like "50 per minute"'
    except ValueError:
        return 'must read like "50 per minute"'


def _secret_key(value: str | None) -> str | None:
    return None if value is None or len(value) >= 32 else "must be at least 32 characters"


_TEXT_PARSERS = (_text, _optional_text, _words, _descriptions)
_EXPECTED = {
    _int: "must be a whole number",
    _seconds: "must be a whole number",
    _bool: "must be true or false",
}


@dataclass(frozen=True)
class Settings:
    """The typed settings the use cases and the wiring read, made once per app."""

    database_url: str | None = setting(
        None,
        "any SQLAlchemy URL; `postgresql+psycopg://…` for more than one host "
        "(default: SQLite in the instance folder)",
        parse=_optional_text,
    )
    redis_url: str | None = setting(
        None,
        "shared rate-limit and lockout counters for every worker and host",
        parse=_optional_text,
    )
    redis_prefix: str = setting("authsvc:", "prefix of every Redis key authsvc writes", parse=_text)
    secret_key: str | None = setting(
        None,
        "the instance secret (32+ characters) that encrypts signing keys and TOTP "
        "secrets (default: `instance/secret_key`, made on first start, 0600)",
        parse=_optional_text,
        check=_secret_key,
    )
    issuer: str = setting(
        "http://127.0.0.1:5000",
        "`iss` of every token, and the base of the URLs in the metadata",
        parse=_text,
    )
    audience: str = setting("authsvc", "`aud` of access and private tokens", parse=_text)
    signing_alg: str = setting(
        "ES256",
        "the one algorithm tokens are signed and verified with",
        parse=_text,
        check=_one_of(ALGORITHMS),
    )
    default_scopes: tuple[str, ...] = setting(
        ("read", "write"), "scopes of new users", parse=_words
    )
    private_token_base_scopes: tuple[str, ...] = setting(
        ("read",),
        "scopes in every private token, which a key cannot leave out (of those its holder "
        "has); a key created without `scopes` gets only these; empty: none",
        parse=_words,
    )
    scope_descriptions: tuple[tuple[str, str], ...] = setting(
        (),
        "one line per scope of what it grants, shown when keys are made and on the OAuth "
        "consent page: a JSON object, or `scope=text` lines; over the built-in ones",
        parse=_descriptions,
    )
    access_ttl: timedelta = setting(
        timedelta(seconds=3600), "access-token lifetime, seconds", parse=_seconds, check=_positive
    )
    refresh_ttl: timedelta = setting(
        timedelta(days=30),
        "refresh-token lifetime, seconds; each rotation starts a new one",
        parse=_seconds,
        check=_positive,
    )
    status_list_ttl: int = setting(
        2,
        "`ttl` of the Token Status Lists: how often verifiers poll them, seconds",
        parse=_int,
        check=_positive,
    )
    private_token_max_days: int = setting(
        365, "longest private-token lifetime, days", parse=_int, check=_positive
    )
    leeway: int = setting(
        10,
        "clock-skew allowance for `exp`, `nbf`, `iat`, seconds",
        parse=_int,
        check=_between(0, 300, " seconds"),
    )
    open_registration: bool = setting(False, "let anyone `POST /auth/register`", parse=_bool)
    require_totp_for_private_tokens: bool = setting(
        False, "creating a private token needs two-factor on", parse=_bool
    )
    totp_issuer: str = setting("authsvc", "the issuer authenticator apps show", parse=_text)
    login_failures: int = setting(
        5, "failed logins per account per window before `429`", parse=_int, check=_positive
    )
    login_window: int = setting(900, "the lockout window, seconds", parse=_int, check=_positive)
    address_rate: str = setting(
        "50 per minute",
        "requests per client address on login, register and TOTP routes",
        parse=_text,
        check=_rate,
    )
    trusted_proxies: int = setting(
        0, "proxy hops whose `X-Forwarded-*` headers are believed", parse=_int, check=_at_least(0)
    )
    max_body_bytes: int = setting(
        64 * 1024, "larger bodies get `413 too_large`", parse=_int, check=_positive
    )
    auto_migrate: bool = setting(
        True, "apply migrations on start; `false` refuses to start on an old schema", parse=_bool
    )
    argon2_memory_kib: int = setting(
        OWASP_MINIMUM.memory_kib, "argon2id memory, KiB", parse=_int, check=_positive
    )
    argon2_time_cost: int = setting(
        OWASP_MINIMUM.time_cost, "argon2id passes", parse=_int, check=_positive
    )
    argon2_parallelism: int = setting(
        OWASP_MINIMUM.parallelism, "argon2id lanes", parse=_int, check=_positive
    )
    last_used_resolution: timedelta = setting(
        timedelta(seconds=60),
        "`last_used_at` of sessions and private tokens is written at most this often, seconds",
        parse=_seconds,
        check=_between(0, 86400, " seconds"),
    )
    refresh_reuse_window: timedelta = setting(
        timedelta(seconds=10),
        "seconds after a rotation in which the immediate predecessor is "
        "answered with the same successor; 0 is strict single use",
        parse=_seconds,
        check=_between(0, 60, " seconds"),
    )
    body_timeout: int = setting(
        10,
        "seconds for a whole request body to arrive under the shipped "
        "gunicorn (gevent) server, else `408`",
        parse=_int,
        check=_positive,
    )
    key_publish_delay: timedelta = setting(
        timedelta(seconds=600),
        "seconds a rotated-in key is published before it signs",
        parse=_seconds,
        check=_between(0, 7 * 24 * 3600, " seconds"),
    )
    key_rotation_days: int = setting(
        0,
        "rotate the signing key automatically after this many days; 0 is off",
        parse=_int,
        check=_at_least(0),
    )
    oauth_dynamic_registration: bool = setting(
        False,
        "RFC 7591 registration open to anyone (rate limited per address); otherwise admins only",
        parse=_bool,
    )
    oauth_dynamic_scopes: tuple[str, ...] = setting(
        ("read",), "the most a dynamically registered client may get", parse=_words
    )
    console_secure_cookie: bool = setting(
        True,
        "the console's refresh cookie is `Secure` (browsers keep it on "
        "`http://127.0.0.1` and `localhost`)",
        parse=_bool,
    )
    secret: bytes = field(default=b"", metadata={"derived": True})
    testing: bool = field(default=False, metadata={"derived": True})

    @classmethod
    def from_sources(
        cls, *sources: Mapping[str, Any], environment: Mapping[str, str], testing: bool = False
    ) -> Settings:
        """Read every declared setting (defaults < `sources` in order < `environment` < the
        last source, the tests' overrides), parse and check each one; `validate` checks the
        rules across settings once the derived ones are filled in.

        Strings are parsed only from the environment: in `config.py` a number is a number
        (`"10"` there is refused as "must be a whole number")."""
        *python_sources, overrides = sources
        ordered = [(s, False) for s in python_sources] + [(environment, True), (overrides, False)]
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.metadata.get("derived"):
                continue
            name = env_name(f.name)
            raw, from_env = f.default, False
            for source, is_env in ordered:
                if name in source:
                    raw, from_env = source[name], is_env
            parse = f.metadata["parse"]
            try:
                if isinstance(raw, str) and not from_env and parse not in _TEXT_PARSERS:
                    raise ValueError(_EXPECTED.get(parse, "has the wrong type"))
                value = raw if raw is f.default or parse is None else parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{name} {exc}, not {raw!r}") from None
            check = f.metadata["check"]
            problem = check(value) if check is not None and value is not None else None
            if problem:
                raise ConfigError(f"{name} {problem}")
            values[f.name] = value
        return cls(**values, testing=testing)

    def validate(self) -> None:
        """Rules across settings, and the ones that depend on where the app runs."""
        if len(self.secret) < 32:
            raise ConfigError("AUTHSVC_SECRET_KEY must be at least 32 characters")
        if self.audience == self.issuer:
            # Refresh tokens carry aud = issuer: the two must differ for aud to tell them apart.
            raise ConfigError("AUTHSVC_AUDIENCE must differ from AUTHSVC_ISSUER")
        if self.access_ttl > self.refresh_ttl:
            raise ConfigError("AUTHSVC_ACCESS_TTL must not exceed AUTHSVC_REFRESH_TTL")
        weaker = (
            self.argon2_memory_kib < OWASP_MINIMUM.memory_kib
            or self.argon2_time_cost < OWASP_MINIMUM.time_cost
            or self.argon2_parallelism < OWASP_MINIMUM.parallelism
        )
        if weaker and not self.testing:
            raise ConfigError("argon2id parameters below OWASP's minimum (19 MiB, t=2, p=1)")

    @property
    def hash_params(self) -> HashParams:
        return HashParams(
            memory_kib=self.argon2_memory_kib,
            time_cost=self.argon2_time_cost,
            parallelism=self.argon2_parallelism,
        )

    @property
    def longest_lifetime(self) -> timedelta:
        """How long a retired key must stay published: the longest any token lives."""
        return max(
            self.access_ttl, self.refresh_ttl, timedelta(days=self.private_token_max_days)
        ) + timedelta(seconds=self.leeway)


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def declared() -> list[tuple[str, Any, str]]:
    """(environment name, default, docs line) of every setting, for the docs and their test."""
    return [
        (env_name(f.name), f.default, f.metadata["doc"])
        for f in dataclasses.fields(Settings)
        if not f.metadata.get("derived")
    ]


# Variables of the server itself, not settings: where the instance is, what `make run` serves.
SERVER_VARIABLES = ("AUTHSVC_INSTANCE_PATH", "AUTHSVC_SERVED_URL")


def served_issuer(raw: str) -> str | None:
    """The issuer `AUTHSVC_SERVED_URL` stands for (`make run` sets it to the address it
    serves), used only when AUTHSVC_ISSUER is set nowhere. A wildcard bind address
    (`0.0.0.0`, `::`) is reached on loopback from this machine."""
    raw = raw.strip().rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port, parts = None, parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ConfigError(f"AUTHSVC_SERVED_URL must read like http://127.0.0.1:5000, not {raw!r}")
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(parts.hostname)
    if host is None:
        return raw
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
