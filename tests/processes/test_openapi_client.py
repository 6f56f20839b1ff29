"""Issue 17: /api/v1/openapi.json passes openapi-spec-validator, and a client generated from it
(openapi-python-client) has typed bodies and works against the live service."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PASSWORD

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def document(client: Any) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def test_the_document_passes_openapi_spec_validator(client):
    validator = pytest.importorskip(
        "openapi_spec_validator",
        reason="openapi-spec-validator not installed: pip install -e '.[test]'",
    )
    errors = list(validator.OpenAPIV31SpecValidator(document(client)).iter_errors())
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def test_every_write_body_is_an_object_schema_with_properties(client):
    doc = document(client)
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue  # path-level `parameters`
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                schema = content["schema"]
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
                where = f"{method.upper()} {path} ({media})"
                assert not {"oneOf", "anyOf", "allOf"} & set(schema), where
                assert schema.get("type") == "object" and schema.get("properties"), where
                for name, prop in schema["properties"].items():
                    assert not prop.get("readOnly"), f"{where}: {name} is read-only"
                    assert prop.get("type") or "$ref" in prop or "enum" in prop, (
                        f"{where}: {name} untyped"
                    )


@pytest.fixture
def generated(app, client, tmp_path: Path) -> Any:
    """The client openapi-python-client generates from the document, imported from tmp_path."""
    if not GENERATOR.exists() and shutil.which("openapi-python-client") is None:
        pytest.skip("openapi-python-client not installed: pip install -e '.[test]'")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document(client)))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "package_name_override": "authsvc_client",
                "project_name_override": "authsvc-client",
                "post_hooks": [],
                # the generator knows no vendor JWT types; a status list is a string
                "content_type_overrides": {"application/statuslist+jwt": "text/plain"},
            }
        )
    )
    command = str(GENERATOR) if GENERATOR.exists() else "openapi-python-client"
    result = subprocess.run(
        [
            command,
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(tmp_path / "authsvc_client"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("authsvc_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [
            m for m in sys.modules if m == "authsvc_client" or m.startswith("authsvc_client.")
        ]:
            del sys.modules[name]


def _body_annotations(package: Any) -> dict[str, list[str]]:
    """`{module: [type names]}` of the `body` of every generated POST/PUT/PATCH operation.

    Read from the source, not imported: openapi-python-client 0.29 writes a body with two
    content types (revoke and introspect take JSON and a form) as `A | B | Unset` without
    importing `Unset` (upstream issue #1451), so those modules fail to import as generated.
    """
    root = Path(package.__file__).parent / "api"
    found = {}
    for path in sorted(root.rglob("*.py")):
        if not path.stem.startswith(("post_", "put_", "patch_")):
            continue
        tree = ast.parse(path.read_text())
        (function,) = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "sync_detailed"
        ]
        for arg in function.args.kwonlyargs:
            if arg.arg == "body":
                names = [n.id for n in ast.walk(arg.annotation) if isinstance(n, ast.Name)]
                found[path.stem] = [n for n in names if n != "Unset"]
    return found


def test_the_generated_client_types_every_write_body(generated):
    models = importlib.import_module("authsvc_client.models")
    bodies = _body_annotations(generated)
    assert {
        "post_api_v1_auth_login",
        "post_api_v1_private_tokens",
        "post_api_v1_auth_revoke",
        "patch_api_v1_private_tokens_token_id",
        "post_api_v1_auth_introspect",
    } <= set(bodies)
    for operation, names in bodies.items():
        assert names and all(inspect.isclass(getattr(models, n, None)) for n in names), (
            operation,
            names,
        )  # a model class each, never Any
    assert bodies["post_api_v1_auth_revoke"] == ["Revoke", "RevokeForm"]
    create = getattr(models, bodies["post_api_v1_private_tokens"][0])
    assert {"name", "expires_in_days", "expires_at", "scopes", "description"} <= set(
        inspect.signature(create).parameters
    )
    patch = getattr(models, bodies["patch_api_v1_private_tokens_token_id"][0])
    assert set(inspect.signature(patch).parameters) == {"name", "description", "rate_limit"}
    update_user = getattr(models, bodies["patch_api_v1_users_user_id"][0])
    assert not {"id", "email", "password", "totp_enabled", "created_at"} & set(
        inspect.signature(update_user).parameters
    )


@pytest.mark.slow
def test_the_generated_client_works_against_the_live_service(generated, serve, user):
    server = serve()
    from authsvc_client import AuthenticatedClient, Client
    from authsvc_client.api.auth import post_api_v1_auth_login
    from authsvc_client.api.private_tokens import (
        delete_api_v1_private_tokens_token_id,
        patch_api_v1_private_tokens_token_id,
        post_api_v1_private_tokens,
    )
    from authsvc_client.api.users import get_api_v1_users_me
    from authsvc_client.models import Create, Login, TokenPair, Update, User

    anonymous = Client(base_url=server.url)
    pair = post_api_v1_auth_login.sync(
        client=anonymous, body=Login(email=user.email, password=user.password)
    )
    assert isinstance(pair, TokenPair) and pair.token_type.value == "bearer"

    me_client = AuthenticatedClient(base_url=server.url, token=pair.access_token)
    me = get_api_v1_users_me.sync(client=me_client)
    assert isinstance(me, User) and me.email == user.email and me.id == user.id

    created = post_api_v1_private_tokens.sync(
        client=me_client,
        body=Create(
            name="generated", scopes=["read"], expires_in_days=30, current_password=PASSWORD
        ),
    )
    assert created.name == "generated" and created.scopes == ["read"] and created.token
    assert created.status.value == "active"
    with_pat = AuthenticatedClient(base_url=server.url, token=created.token)
    assert get_api_v1_users_me.sync(client=with_pat).id == user.id

    renamed = patch_api_v1_private_tokens_token_id.sync(
        client=me_client, token_id=created.id, body=Update(name="renamed")
    )
    assert renamed.name == "renamed" and renamed.scopes == ["read"]

    refused = post_api_v1_private_tokens.sync_detailed(
        client=me_client, body=Create(name="neither", current_password=PASSWORD)
    )
    assert refused.status_code == 400
    assert (
        delete_api_v1_private_tokens_token_id.sync_detailed(
            client=me_client, token_id=created.id
        ).status_code
        == 204
    )
    assert get_api_v1_users_me.sync_detailed(client=with_pat).status_code == 401
