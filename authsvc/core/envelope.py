"""The contract's error envelope and its RFC 6750 challenge, for the server and `authsvc.verifier`.

Pure: no Flask, no SQLAlchemy. `authsvc.errors` (the server's handlers) and `authsvc.verifier`
(a resource server's) both call `render`, so a client meets one body and one
`WWW-Authenticate` whichever of the two refused it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["REALM", "challenge", "render"]

REALM = "authsvc"
# RFC 6750 section 3: error_description and scope are %x20-21 / %x23-5B / %x5D-7E.
_NOT_QUOTABLE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(value: str) -> str:
    return '"' + _NOT_QUOTABLE.sub("?", value) + '"'


def _scopes(extra: Mapping[str, Any] | None) -> list[str]:
    scopes = (extra or {}).get("scopes")
    if isinstance(scopes, (list, tuple)):
        return [s for s in scopes if isinstance(s, str)]
    return []


def challenge(
    status: int,
    code: str,
    detail: str,
    extra: Mapping[str, Any] | None = None,
    *,
    realm: str = REALM,
    bearer_error: str | None = None,
) -> str | None:
    """The `WWW-Authenticate` value of one error (RFC 6750 section 3), or None.

    - any 401: `Bearer realm=...`, plus `error="invalid_token"` and `error_description`
      when a token was refused;
    - `403 insufficient_scope`: `error="insufficient_scope"`, `scope` from `extra["scopes"]`
      (so every such error, from any route, gets it);
    - a `400` for a badly sent token (`bearer_error="invalid_request"`): `error="invalid_request"`.
    """
    base = f"Bearer realm={_quoted(realm)}"
    if code == "invalid_token":
        return f'{base}, error="invalid_token", error_description={_quoted(detail)}'
    if status == 403 and code == "insufficient_scope":
        scopes = _scopes(extra)
        scope = f", scope={_quoted(' '.join(scopes))}" if scopes else ""
        return f'{base}, error="insufficient_scope"{scope}'
    if bearer_error is not None:
        return f"{base}, error={_quoted(bearer_error)}, error_description={_quoted(detail)}"
    if status == 401:
        return base
    return None


def render(
    status: int,
    items: Sequence[Mapping[str, Any]],
    *,
    type: str | None = None,
    realm: str = REALM,
    bearer_error: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """`(body, headers)` of an error answer: the envelope and, where it applies, the challenge.

    `items` are `{"code", "detail", "attr"?, "extra"?}`; the first one decides the challenge.
    """
    body = {
        "type": type or ("server_error" if status >= 500 else "client_error"),
        "errors": [
            {
                "code": item["code"],
                "detail": item["detail"],
                "attr": item.get("attr"),
                "extra": dict(item["extra"]) if item.get("extra") is not None else None,
            }
            for item in items
        ],
    }
    headers: dict[str, str] = {}
    if items:
        first = items[0]
        value = challenge(
            status,
            first["code"],
            first["detail"],
            first.get("extra"),
            realm=realm,
            bearer_error=bearer_error,
        )
        if value is not None:
            headers["WWW-Authenticate"] = value
    return body, headers
