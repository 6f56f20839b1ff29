"""A backend that trusts authsvc's tokens, checked offline (README: "Verifying tokens in your backend").

Try it in one command, offline checks only (`/payments`, which asks authsvc about each
token, then answers 503 saying what it lacks):

    flask --app examples.resource_server run --port 5001

With a token of the `introspect` scope, `/payments` sees revocations at once:

    AUTHSVC_URL=http://127.0.0.1:5000 AUTHSVC_INTROSPECT_TOKEN=<token with the introspect scope> \
        flask --app examples.resource_server run --port 5001
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, g

from authsvc.core.errors import ServiceUnavailable
from authsvc.verifier import Verifier
from authsvc.verifier.flask import error_response

NO_INTROSPECTION = (
    "This route asks authsvc about every token (introspection), and this server has no "
    "introspection token: start it with AUTHSVC_INTROSPECT_TOKEN set to a token with the "
    "introspect scope."
)


def create_app(authsvc_url: str | None = None, **options: Any) -> Flask:
    url = authsvc_url or os.environ.get("AUTHSVC_URL", "http://127.0.0.1:5000")
    introspect_token = options.pop("introspect_token", os.environ.get("AUTHSVC_INTROSPECT_TOKEN"))
    introspection = (
        {"introspect_url": f"{url}/api/v1/auth/introspect", "introspect_token": introspect_token}
        if introspect_token
        else {}
    )
    verifier = Verifier(
        **{
            "issuer": os.environ.get("AUTHSVC_ISSUER", url),
            "audience": "authsvc",
            "jwks_url": f"{url}/.well-known/jwks.json",
            **introspection,
            **options,
        }
    )
    app = Flask(__name__)

    @app.get("/notes")
    @verifier.require_token(scopes=["read"])  # offline: signature, type, claims, expiry
    def notes() -> dict[str, Any]:
        return {"owner": g.token_claims["sub"], "notes": []}

    if introspection:

        @app.post("/payments")
        @verifier.require_token(scopes=["write"], introspect=True)  # also sees revocations at once
        def pay() -> tuple[dict[str, Any], int]:
            return {"paid_by": g.token_claims["sub"]}, 201

    else:

        @app.post("/payments")
        def pay_unavailable() -> Response:
            return error_response(ServiceUnavailable(NO_INTROSPECTION), realm=verifier.realm)

    return app
