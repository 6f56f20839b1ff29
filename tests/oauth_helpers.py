"""Helpers for the OAuth tests: register clients, walk the authorize + consent flow."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient

from tests.helpers import bearer

REDIRECT = "https://app.example/callback"
ISSUER = "http://authsvc.test"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Flow:
    client: FlaskClient
    admin_token: str
    user_token: str
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def register(self, name: str = "Partner app", **overrides: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scopes": ["openid", "email", "read", "write"],
            **overrides,
        }
        response = self.client.post(
            "/api/v1/oauth2/clients", json=body, headers=bearer(self.admin_token)
        )
        assert response.status_code == 201, response.get_json()
        app = response.get_json()
        self.apps[name] = app
        return app

    def authorize_params(self, app: dict[str, Any], challenge: str, **extra: Any) -> dict[str, Any]:
        return {
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": REDIRECT,
            "scope": "openid email read",
            "state": "st-123",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n-456",
            **extra,
        }

    def sealed(self, params: dict[str, Any]) -> str:
        response = self.client.get("/api/v1/auth/oauth2/authorize?" + urlencode(params, doseq=True))
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert urlsplit(location).path == "/console/authorize", location
        return query_of(location)["request"]

    def decide(self, sealed: str, decision: str = "allow", token: str | None = None) -> Any:
        headers = bearer(token or self.user_token) if decision == "allow" or token else {}
        return self.client.post(
            "/api/v1/auth/oauth2/consent",
            json={"request": sealed, "decision": decision},
            headers=headers,
        )

    def code(self, app: dict[str, Any], **extra: Any) -> tuple[str, str]:
        """(code, verifier) after Allow."""
        verifier, challenge = pkce()
        sealed = self.sealed(self.authorize_params(app, challenge, **extra))
        response = self.decide(sealed)
        assert response.status_code == 200, response.get_json()
        query = query_of(response.get_json()["redirect_to"])
        assert query["state"] == extra.get("state", "st-123") and query["iss"] == ISSUER
        return query["code"], verifier

    def exchange(self, app: dict[str, Any], code: str, verifier: str, **extra: Any) -> Any:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            **extra,
        }
        return self.client.post(
            "/api/v1/auth/oauth2/token",
            data=form,
            headers=basic(app["client_id"], app["client_secret"]),
        )

    def tokens(self, app: dict[str, Any], **extra: Any) -> dict[str, Any]:
        code, verifier = self.code(app, **extra)
        response = self.exchange(app, code, verifier)
        assert response.status_code == 200, response.get_json()
        return response.get_json()
