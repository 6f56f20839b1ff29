"""Reading the token of an HTTP request (RFC 6750), shared by the server and `authsvc.verifier`.

Only the request's query arguments and headers are read, so a resource server can use it
without the server's dependencies.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Protocol


class AmbiguousCredentials(ValueError):
    """A token where it must not be (the URL) or two tokens that disagree: a `400`."""

    def __init__(self, detail: str, attr: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attr = attr


class Headers(Protocol):
    """What is read of the headers: a plain mapping, or a framework's multi-valued ones
    (werkzeug's `Headers` is no `Mapping`)."""

    def get(self, key: str) -> str | None: ...


def read_token(args: Container[str], headers: Headers) -> str | None:
    """The token from `Authorization: Bearer` or `X-API-Key`; never from the query string."""
    if "access_token" in args:
        raise AmbiguousCredentials(
            "Send tokens in the Authorization header, not in the URL.", attr="access_token"
        )
    bearer: str | None = None
    header = headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            bearer = value.strip()
    api_key = headers.get("X-API-Key")
    if bearer is not None and api_key is not None and bearer != api_key.strip():
        raise AmbiguousCredentials("Send one token: Authorization and X-API-Key disagree.")
    token = bearer if bearer is not None else api_key
    return token.strip() if token is not None else None
