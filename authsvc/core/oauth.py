"""OAuth 2.1 / OpenID Connect rules that need no storage: pure functions and the error type.

Redirect-URI rules (absolute `https`, or `http` on a loopback host, no fragment; exact
matching, any port on loopback as RFC 8252 section 7.3 says), PKCE S256 (RFC 7636; `plain`
is refused), client-secret digests, `at_hash`, and the words the consent page shows for
each scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

FIRST_PARTY_CLIENT = "authsvc"
# OpenID Connect's scopes: about the user, so every user has them to grant.
IDENTITY_SCOPES = frozenset({"openid", "email"})
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
ID_TOKEN_ALGS = ("RS256", "ES256")
CODE_TTL_SECONDS = 60
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_LOOPBACK_NAMES = frozenset({"localhost"})

SCOPE_WORDS: dict[str, str] = {
    "openid": "Know who you are: your account id on this service.",
    "email": "See your email address.",
    "read": "Read your data on services that trust this sign-in.",
    "write": "Change your data on services that trust this sign-in.",
    "introspect": "Check whether tokens of this service are still valid.",
    "admin": "Administer this service with your administrator rights: users, apps and audit log.",
}


def scope_words(scope: str) -> str:
    return SCOPE_WORDS.get(scope, f"Use the “{scope}” permission on your behalf.")


@dataclass
class OAuthError(Exception):
    """An answer in RFC 6749 section 5.2 / 4.1.2.1 / RFC 7591 form: `{"error", "error_description"}`."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.description)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str, *, basic: bool) -> OAuthError:
    """RFC 6749 5.2: 401 with a Basic challenge when the client tried HTTP Basic."""
    headers = {"WWW-Authenticate": 'Basic realm="authsvc", charset="UTF-8"'} if basic else {}
    return OAuthError("invalid_client", description, 401 if basic else 400, headers)


# --- redirect URIs ---


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be registered, or None: absolute https, or http on loopback; no fragment."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000 or uri != uri.strip():
        return "must be an absolute URI of at most 2000 characters"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a valid URI"
    if "#" in uri:
        return "must not have a fragment"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https URI (or http on a loopback address)"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "may use http only on a loopback address (127.0.0.1, [::1], localhost)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    return None


def _without_port(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def match_redirect_uri(registered: list[str], asked: str) -> bool:
    """Exact string match; for http on loopback the port may differ (RFC 8252 section 7.3)."""
    if asked in registered:
        return True
    try:
        parts = urlsplit(asked)
        parts.port  # noqa: B018
    except ValueError:
        return False
    if parts.scheme != "http" or not is_loopback(parts.hostname) or "#" in asked:
        return False
    loose = _without_port(asked)
    return any(
        urlsplit(r).scheme == "http"
        and is_loopback(urlsplit(r).hostname)
        and _without_port(r) == loose
        for r in registered
    )


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """`uri` with `params` added to its query (keeping the registered query, RFC 6749 3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# --- PKCE, secrets, hashes ---


def valid_challenge(challenge: str | None) -> bool:
    """An S256 challenge is base64url(SHA-256), 43 characters, no padding."""
    return isinstance(challenge, str) and bool(_CHALLENGE.fullmatch(challenge))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def verify_pkce(challenge: str, verifier: str | None) -> bool:
    if not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_digest(key: bytes, secret: str) -> str:
    """HMAC-SHA256 of a high-entropy secret under a key derived from the instance secret.

    A fast keyed hash is enough: the secrets are 256 random bits, so there is nothing to
    guess, and the key keeps a stolen table from being checked offline at all.
    """
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def code_digest(code: str) -> str:
    """Codes are stored by their SHA-256 only, so a database read reveals none."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def at_hash(access_token: str, alg: str) -> str:
    """OIDC Core 3.1.3.6: left half of the hash of the access token (SHA-256 for *256 algs)."""
    if not alg.endswith("256"):
        raise ValueError(f"no at_hash rule for {alg}")
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest()[:16])


def format_scope(scopes: Iterable[str]) -> str:
    """The wire form of a scope list (RFC 6749 3.3): the one spelling answers and claims use."""
    return " ".join(scopes)


def parse_scope(raw: Any) -> list[str] | None:
    """A space-separated scope string as an ordered, duplicate-free list; None if not a string."""
    if raw is None:
        return []
    if not isinstance(raw, str) or len(raw) > 1024:
        return None
    out: list[str] = []
    for word in raw.split(" "):
        if not word:
            continue
        if not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in word):
            return None
        if word not in out:
            out.append(word)
    return out
