"""Starting the app: configuration, instance folder, schema, storage settings, OpenAPI."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import inspect, text

from authsvc import create_app
from authsvc.config import ConfigError
from authsvc.extensions import db
from tests.helpers import SECRET


def test_fresh_instance_gets_secret_database_and_key(tmp_path, monkeypatch):
    instance = tmp_path / "inst"
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(instance))
    for name in [
        n for n in os.environ if n.startswith("AUTHSVC_") and n != "AUTHSVC_INSTANCE_PATH"
    ]:
        monkeypatch.delenv(name)
    app = create_app({"TESTING": True, "AUTHSVC_ARGON2_MEMORY_KIB": 256})
    for name in ("secret_key", "authsvc.sqlite3"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name
    with app.app_context():
        assert {
            "users",
            "sessions",
            "revoked_tokens",
            "private_tokens",
            "signing_keys",
            "audit_events",
            "alembic_version",
        } <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    assert len(jwks["keys"]) == 1 and jwks["keys"][0]["alg"] == "ES256"
    # a second start over the same instance keeps the same secret and key
    again = create_app({"TESTING": True, "AUTHSVC_ARGON2_MEMORY_KIB": 256})
    assert again.test_client().get("/.well-known/jwks.json").get_json() == jwks


def test_environment_overrides_and_is_typed(config, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_ACCESS_TTL", "120")
    monkeypatch.setenv("AUTHSVC_OPEN_REGISTRATION", "true")
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    app = create_app(dict(config))
    settings = app.extensions["authsvc"].settings
    assert settings.access_ttl.total_seconds() == 120 and settings.open_registration is True


@pytest.mark.parametrize(
    "override,message",
    [
        ({"AUTHSVC_SIGNING_ALG": "HS512"}, "AUTHSVC_SIGNING_ALG"),
        ({"AUTHSVC_SECRET_KEY": "short"}, "at least 32"),
        ({"AUTHSVC_ACCESS_TTL": 0}, "AUTHSVC_ACCESS_TTL"),
        ({"AUTHSVC_ACCESS_TTL": 10**9}, "must not exceed"),
        ({"TESTING": False}, "OWASP"),
    ],
)
def test_unsafe_configuration_fails_at_start(config, tmp_path, monkeypatch, override, message):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        create_app({**config, **override})


def test_bad_environment_value_fails_at_start(config, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("AUTHSVC_LOGIN_FAILURES", "five")
    with pytest.raises(ConfigError, match="whole number"):
        create_app(config)


def test_wrong_instance_secret_is_refused_at_start(app, config, tmp_path, monkeypatch):
    from authsvc.core.crypto import DecryptionError

    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(DecryptionError):
        create_app({**config, "AUTHSVC_SECRET_KEY": SECRET[::-1]})


def test_schema_behind_is_refused_without_auto_migrate(config, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path))
    fresh = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with pytest.raises(ConfigError, match="db upgrade"):
        create_app({**config, "AUTHSVC_DATABASE_URL": fresh, "AUTHSVC_AUTO_MIGRATE": False})


def test_openapi_documents_every_route_with_errors(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{session_id}",
        "/api/v1/auth/verify",
        "/api/v1/auth/revoke",
        "/api/v1/auth/register",
        "/api/v1/auth/password",
        "/api/v1/users/me",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/api/v1/health",
    ]:
        assert path in doc["paths"], path
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert {"200", "400", "401", "415"} <= set(login["responses"])
    assert login["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Error"
    )
    assert doc["paths"]["/api/v1/auth/verify"]["get"]["security"]


def test_a_views_openapi_notes_share_its_schema_instances(client):
    """flask-smorest deep-copies a view's notes at each decorator; `Schema.__deepcopy__`
    keeps one instance per schema (docs/performance.md, "RSS"), and it still validates."""
    import copy

    from authsvc.web.api.auth import LoginSchema, login
    from authsvc.web.api.schemas import ErrorSchema

    schema = LoginSchema()
    assert copy.deepcopy({"schema": schema})["schema"] is schema
    # The 401 answer's schema, as each decorator layer's copy of the notes holds it: one object.
    layers, func = [], login
    while func is not None:
        for doc in (
            getattr(func, "_apidoc", {}).get("response", {}).get("responses", {}).get(401, [])
        ):
            if isinstance(doc.get("schema"), ErrorSchema):
                layers.append(doc["schema"])
        func = getattr(func, "__wrapped__", None)
    assert len(layers) >= 3 and len({id(s) for s in layers}) == 1
    response = client.post("/api/v1/auth/login", json={"email": "nobody@example.com"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["type"] == "validation_error"


def test_metadata(client):
    body = client.get("/.well-known/oauth-authorization-server").get_json()
    assert body["issuer"] == "http://authsvc.test"
    assert body["jwks_uri"] == "http://authsvc.test/.well-known/jwks.json"
    # The OAuth token endpoint (issue 16), no longer the first-party login.
    assert body["token_endpoint"] == "http://authsvc.test/api/v1/auth/oauth2/token"
    assert body["revocation_endpoint"] == "http://authsvc.test/api/v1/auth/revoke"


def test_schema_head_constant_matches_the_migrations():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from authsvc.web import migrate as schema

    config = Config()
    config.set_main_option("script_location", schema.MIGRATIONS)
    assert ScriptDirectory.from_config(config).get_heads() == [schema.HEAD]


def test_serving_app_does_not_load_alembic_or_zxcvbn(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from authsvc import create_app; "
        "create_app({'TESTING': True, 'AUTHSVC_ARGON2_MEMORY_KIB': 256}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'flask_migrate', 'zxcvbn'}))"
    )
    # first start migrates (alembic loads); a second start over the same database must not
    env = {
        **__import__("os").environ,
        "AUTHSVC_INSTANCE_PATH": str(tmp_path),
        "AUTHSVC_SECRET_KEY": SECRET,
    }
    env = {k: v for k, v in env.items() if k not in ("AUTHSVC_DATABASE_URL",)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- the issuer follows the address `make run` serves (issue 21 item 13) -------------------


@pytest.fixture
def no_issuer(config, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("AUTHSVC_ISSUER", raising=False)
    return {k: v for k, v in config.items() if k != "AUTHSVC_ISSUER"}


@pytest.mark.parametrize(
    "served,issuer",
    [
        ("http://127.0.0.1:5123", "http://127.0.0.1:5123"),
        ("http://0.0.0.0:8080/", "http://127.0.0.1:8080"),
        ("http://[::]:8080", "http://[::1]:8080"),
        ("http://auth.local:5000", "http://auth.local:5000"),
        ("", "http://127.0.0.1:5000"),
    ],
)
def test_the_issuer_follows_the_served_address_when_set_nowhere(
    no_issuer, monkeypatch, served, issuer
):
    monkeypatch.setenv("AUTHSVC_SERVED_URL", served)
    app = create_app(no_issuer)
    assert app.extensions["authsvc"].settings.issuer == issuer
    meta = app.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert meta["issuer"] == issuer


def test_an_issuer_set_anywhere_wins_over_the_served_address(no_issuer, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_SERVED_URL", "http://127.0.0.1:5123")
    (tmp_path / "inst").mkdir()
    (tmp_path / "inst" / "config.py").write_text('AUTHSVC_ISSUER = "https://from-config.test"\n')
    app = create_app(no_issuer)
    assert app.extensions["authsvc"].settings.issuer == "https://from-config.test"
    assert app.config["ISSUER_FROM"].endswith("config.py")
    monkeypatch.setenv("AUTHSVC_ISSUER", "https://from-env.test")
    app = create_app(no_issuer)
    assert app.extensions["authsvc"].settings.issuer == "https://from-env.test"
    assert app.config["ISSUER_FROM"] == "AUTHSVC_ISSUER"


@pytest.mark.parametrize("served", ["127.0.0.1:5000", "ftp://x", "http://h:port", "http://h/x"])
def test_a_bad_served_address_names_itself(no_issuer, monkeypatch, served):
    monkeypatch.setenv("AUTHSVC_SERVED_URL", served)
    with pytest.raises(ConfigError, match=r"^AUTHSVC_SERVED_URL must read like"):
        create_app(no_issuer)


def test_init_says_where_the_console_is_and_which_issuer_is_in_force(no_issuer, monkeypatch):
    monkeypatch.setenv("AUTHSVC_SERVED_URL", "http://127.0.0.1:5123")
    app = create_app(no_issuer)
    out = app.test_cli_runner().invoke(args=["init"]).output
    assert "issuer:          http://127.0.0.1:5123 (from AUTHSVC_SERVED_URL" in out
    assert "console:         http://127.0.0.1:5123/console/" in out
    assert "sign in at http://127.0.0.1:5123/console/" in out
    assert "will refuse them" not in out
    # an issuer that differs from where the server is reached is pointed out
    monkeypatch.setenv("AUTHSVC_ISSUER", "https://auth.example.test")
    out = create_app(no_issuer).test_cli_runner().invoke(args=["init"]).output
    assert "issuer:          https://auth.example.test (from AUTHSVC_ISSUER)" in out
    assert "console:         http://127.0.0.1:5123/console/" in out
    assert "Set AUTHSVC_ISSUER" in out


def test_make_run_serves_and_names_the_same_address():
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        ["make", "-n", "run", "HOST=0.0.0.0", "PORT=5123"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "AUTHSVC_SERVED_URL=http://0.0.0.0:5123" in out
    assert "--host 0.0.0.0 --port 5123" in out
