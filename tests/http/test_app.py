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
