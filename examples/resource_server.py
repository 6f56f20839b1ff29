"""A backend that trusts authsvc's tokens, checked offline (README: "Verifying tokens in your backend").

    AUTHSVC_URL=http://127.0.0.1:5000 AUTHSVC_INTROSPECT_TOKEN=<token with the introspect scope> \
        flask --app examples.resource_server run --port 5001
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g

from authsvc.verifier import Verifier


def create_app(authsvc_url: str | None = None, **options: Any) -> Flask:
    url = authsvc_url or os.environ.get("AUTHSVC_URL", "http://127.0.0.1:5000")
    verifier = Verifier(
        **{
            "issuer": os.environ.get("AUTHSVC_ISSUER", url),
            "audience": "authsvc",
            "jwks_url": f"{url}/.well-known/jwks.json",
            "introspect_url": f"{url}/api/v1/auth/introspect",
            "introspect_token": os.environ.get("AUTHSVC_INTROSPECT_TOKEN"),
            **options,
        }
    )
    app = Flask(__name__)

    @app.get("/notes")
    @verifier.require_token(scopes=["read"])  # offline: signature, type, claims, expiry
    def notes() -> dict[str, Any]:
        return {"owner": g.token_claims["sub"], "notes": []}

    @app.post("/payments")
    @verifier.require_token(scopes=["write"], introspect=True)  # also sees revocations at once
    def pay() -> tuple[dict[str, Any], int]:
        return {"paid_by": g.token_claims["sub"]}, 201

    return app
