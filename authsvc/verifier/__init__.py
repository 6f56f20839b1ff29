"""For other services: check authsvc's tokens offline, and ask authsvc where revocation matters.

A backend that receives authsvc's Bearer tokens verifies them here without calling authsvc
on every request: the public keys come from the JWKS (fetched once, cached, fetched again
when a token names an unknown `kid`, at most once a minute, and refreshed when older than
five minutes), and `authsvc.tokens.decode` applies the same rules as the server (one
algorithm, typed tokens, every claim). Offline checks cannot see a logout, a revocation or
a deactivated user before the token expires, except through authsvc's Token Status Lists,
which this verifier follows by default (`authsvc.verifier.status`: a revocation shows within
the list's `ttl`, 2 s by default; a list that cannot be refreshed for `max_status_age`
answers 503). A route that must see them at once asks `/auth/introspect` (answers cached a
few seconds).

Needs only PyJWT and cryptography: importing this module pulls in no other part of the
server than `authsvc.core`, which is pure; its Flask integration is `authsvc.verifier.flask`.
HTTP goes through `urllib`, without following redirects (the introspection credential must never be sent to another host).
Failures are answered in the contract's envelope; when authsvc cannot be reached the
answer is 503 `service_unavailable`, never a success.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import jwt

from authsvc.core import restrictions, tokens
from authsvc.core.errors import ApiError, PermissionDenied, RateLimited
from authsvc.verifier.status import StatusLists, StatusUnavailable

__all__ = ["Unavailable", "VerifiedToken", "Verifier"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

ALGORITHMS = tokens.ALGORITHMS
BEARER_KINDS = tuple(sorted(tokens.BEARER_KINDS))
_EXPECTED_KEY = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519"), "RS256": ("RSA", None)}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_RESPONSE = 1 << 20
_FAILED_FETCH_BACKOFF = 5.0


class Unavailable(Exception):
    """authsvc could not be asked (JWKS or introspection); the request cannot be decided."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class VerifiedToken:
    """A token accepted for this request. `scopes` are the live ones when introspected."""

    kind: str
    claims: dict[str, Any]
    scopes: tuple[str, ...]
    introspected: bool

    @property
    def sub(self) -> str:
        return cast(str, self.claims["sub"])

    @property
    def jti(self) -> str:
        return cast(str, self.claims["jti"])


class Verifier:
    """Verifies authsvc tokens for one backend; thread-safe, one instance per process.

    `introspect_url` and `introspect_token` (an authsvc access or private token with the
    `introspect` scope) are needed only for `introspect=True` routes, and always with
    HS256, whose key is never published. `now` and `monotonic` exist for tests.

    A private token with an `allowed_ips` claim is accepted only from those addresses: the
    request's peer, or with `trusted_proxies` = N the client N hops back in
    `X-Forwarded-For` (as authsvc's `AUTHSVC_TRUSTED_PROXIES`). Its rate limit is
    counted only where authsvc sees the use (introspection), never offline.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str,
        algorithm: str = "ES256",
        introspect_url: str | None = None,
        introspect_token: str | None = None,
        *,
        kinds: Collection[str] = BEARER_KINDS,
        leeway: float = 10,
        timeout: float = 5.0,
        jwks_refetch_interval: float = 60.0,
        jwks_max_age: float = 300.0,
        introspect_cache_seconds: float = 5.0,
        introspect_cache_size: int = 10_000,
        realm: str = "authsvc",
        follow_status_lists: bool = True,
        max_status_age: float = 60.0,
        status_lists_url: str | None = None,
        trusted_proxies: int = 0,
        now: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if not set(kinds) <= set(BEARER_KINDS) or not kinds:
            raise ValueError("kinds must be some of 'access' and 'private'")
        for url in (jwks_url, introspect_url):
            if url is not None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {url!r}")
        if trusted_proxies < 0:
            raise ValueError("trusted_proxies must be 0 or more")
        if (introspect_url is None) != (introspect_token is None):
            raise ValueError("introspect_url and introspect_token go together")
        if algorithm == "HS256" and introspect_url is None:
            raise ValueError(
                "HS256 tokens cannot be verified outside authsvc: "
                "give introspect_url and introspect_token"
            )
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.algorithm = algorithm
        self.introspect_url = introspect_url
        self._introspect_token = introspect_token
        self.kinds = tuple(kinds)
        self.leeway = leeway
        self.timeout = timeout
        self.jwks_refetch_interval = jwks_refetch_interval
        self.jwks_max_age = jwks_max_age
        self.introspect_cache_seconds = introspect_cache_seconds
        self.introspect_cache_size = introspect_cache_size
        self.realm = realm
        self.trusted_proxies = trusted_proxies
        self._now = now or (lambda: datetime.now(UTC))
        self._monotonic = monotonic
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._lock = threading.Lock()
        self._keys: dict[str, tokens.Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._kid_fetch_at: float | None = None
        self._last_fetch_failed = False
        self._answers: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
        self.jwks_fetches = 0
        self.introspections = 0
        self.status_lists: StatusLists | None = None
        if follow_status_lists and algorithm != "HS256":
            base = status_lists_url or jwks_url.removesuffix("/.well-known/jwks.json")
            if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {base!r}")
            self.status_lists = StatusLists(
                issuer=issuer,
                base_url=base,
                keys=self._key,
                algorithm=algorithm,
                opener=self._opener,
                timeout=timeout,
                max_status_age=max_status_age,
                now=self._now,
                monotonic=monotonic,
                leeway=leeway,
            )

    # --- verification ------------------------------------------------------------------

    def client_address(self, remote_addr: str | None, forwarded_for: str | None) -> str | None:
        """The address a key's allowlist is checked against, behind `trusted_proxies` hops."""
        return restrictions.forwarded_address(remote_addr, forwarded_for, self.trusted_proxies)

    def verify(
        self,
        token: object,
        *,
        introspect: bool = False,
        kinds: Collection[str] | None = None,
        client_ip: str | None = None,
    ) -> VerifiedToken:
        """Accept `token` or raise `tokens.InvalidToken` (why), `Unavailable`, or the
        `ApiError` of a refused use (`403 permission_denied` from an address the key does
        not allow, `429 rate_limited` when authsvc counted it over its limit).

        `client_ip` is who presented the token (see `client_address`); a key that names
        addresses is refused without one.
        """
        kinds = tuple(kinds) if kinds is not None else self.kinds
        if self.algorithm == "HS256":
            return self._verify_by_introspection(token, kinds, client_ip)
        v = tokens.decode(
            token,
            kinds=kinds,
            keys=self._key,
            algorithm=self.algorithm,
            issuer=self.issuer,
            audience=self.audience,
            now=self._now(),
            leeway=self.leeway,
        )
        if not introspect:
            if self.status_lists is not None:
                try:
                    self.status_lists.check(v.claims)
                except StatusUnavailable as exc:
                    raise Unavailable(str(exc)) from exc
            restrictions.check(v.claims, client_ip)
            return VerifiedToken(v.kind, v.claims, tuple(v.scopes), False)
        restrictions.check(v.claims, client_ip)
        answer = self._introspect(cast(str, token), client_ip)
        if not answer["active"]:
            raise tokens.Revoked()
        if answer.get("jti") != v.jti or answer.get("sub") != v.sub:
            raise Unavailable("introspection answered about another token")
        return VerifiedToken(v.kind, v.claims, _scopes(answer), True)

    def _verify_by_introspection(
        self, token: object, kinds: Collection[str], client_ip: str | None
    ) -> VerifiedToken:
        """HS256: only authsvc holds the key, so it decides; the header is checked first."""
        if not isinstance(token, str) or len(token) > tokens.MAX_TOKEN_LENGTH:
            raise tokens.Malformed()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, UnicodeError, ValueError, TypeError) as exc:
            raise tokens.Malformed() from exc
        if header.get("alg") != self.algorithm:
            raise tokens.BadAlgorithm()
        kind = tokens.read_kind(token)
        if kind is None or kind not in kinds:
            raise tokens.WrongType()
        answer = self._introspect(token, client_ip)
        if not answer["active"]:
            exp = unverified.get("exp")
            if isinstance(exp, int) and self._now().timestamp() >= exp + self.leeway:
                raise tokens.Expired()
            raise tokens.Revoked()
        if answer.get("iss") != self.issuer or answer.get("aud") != self.audience:
            raise tokens.Malformed()
        if answer.get("token_type") != kind:
            raise tokens.WrongType()
        claims: dict[str, Any] = {
            name: answer[name]
            for name in ("iss", "aud", "sub", "iat", "exp", "jti", "scope")
            if name in answer
        }
        return VerifiedToken(kind, claims, _scopes(answer), True)

    # --- JWKS -----------------------------------------------------------------------------

    def _key(self, kid: str) -> tokens.Key | None:
        """The published key `kid`, fetching the JWKS when this process has none, when it is
        stale, or when `kid` is new (a rotation): that last at most once a minute, so a flood
        of made-up kids costs authsvc one request a minute, not one per token.
        """
        now = self._monotonic()
        key = self._keys.get(kid)
        if key is not None and not self._stale(now):
            return key
        with self._lock:
            key = self._keys.get(kid)
            if key is not None and not self._stale(now):
                return key
            if self._fetched_at is None:
                if (
                    self._attempted_at is not None
                    and now - self._attempted_at < _FAILED_FETCH_BACKOFF
                ):
                    raise Unavailable("the JWKS could not be fetched")
            elif key is not None:
                if now - (self._attempted_at or 0.0) < self.jwks_refetch_interval:
                    return key
            elif (
                self._kid_fetch_at is not None
                and now - self._kid_fetch_at < self.jwks_refetch_interval
            ):
                if self._last_fetch_failed:
                    raise Unavailable("the JWKS could not be fetched")
                return None
            else:
                self._kid_fetch_at = now
            try:
                self._keys = self._fetch_jwks()
            except Unavailable:
                if key is None:
                    raise
                log.warning("JWKS refresh failed; keeping the keys fetched before")
            return self._keys.get(kid)

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.jwks_max_age

    def refresh_keys(self) -> None:
        """Fetch the JWKS now (e.g. at start-up, to fail early when authsvc is unreachable)."""
        with self._lock:
            self._keys = self._fetch_jwks()

    def _fetch_jwks(self) -> dict[str, tokens.Key]:
        """The JWKS's usable keys; sets the fetch times. The caller holds the lock."""
        self._attempted_at = self._monotonic()
        self._last_fetch_failed = True
        self.jwks_fetches += 1
        body = self._http_json(
            urllib.request.Request(self.jwks_url, headers={"Accept": "application/json"})
        )
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise Unavailable("the JWKS is not a key set")
        found: dict[str, tokens.Key] = {}
        for entry in body["keys"]:
            key = self._parse_jwk(entry)
            if key is not None:
                found[key.kid] = key
        self._fetched_at = self._attempted_at
        self._last_fetch_failed = False
        return found

    def _parse_jwk(self, entry: object) -> tokens.Key | None:
        """A verification key from one JWKS entry, or None for an entry this backend must not use."""
        if not isinstance(entry, dict):
            return None
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("alg") != self.algorithm:
            return None
        if _PRIVATE_MEMBERS & entry.keys():
            log.warning("JWKS entry %s carries private key members; ignored", kid)
            return None
        if entry.get("use", "sig") != "sig":
            return None
        kty, crv = _EXPECTED_KEY[self.algorithm]
        if entry.get("kty") != kty or (crv is not None and entry.get("crv") != crv):
            return None
        try:
            verifying = jwt.PyJWK(entry, algorithm=self.algorithm).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("JWKS entry %s is not a usable %s key; ignored", kid, self.algorithm)
            return None
        if self.algorithm == "RS256" and verifying.key_size < 2048:
            return None
        return tokens.Key(kid=kid, alg=self.algorithm, verifying=verifying)

    # --- introspection ----------------------------------------------------------------------

    def _introspect(self, token: str, client_ip: str | None = None) -> dict[str, Any]:
        """authsvc's answer about `token` used from `client_ip` (cached per token and address:
        authsvc counts a rate-limited key's uses only when it is asked)."""
        if self.introspect_url is None:
            raise Unavailable("this route needs introspection, and no introspect_url is set")
        form = {"token": token, **({"client_ip": client_ip} if client_ip else {})}
        digest = hashlib.sha256(
            f"{client_ip or ''} {token}".encode("utf-8", "surrogatepass")
        ).digest()
        now = self._monotonic()
        with self._lock:
            hit = self._answers.get(digest)
            if hit is not None and hit[0] > now:
                return hit[1]
        self.introspections += 1
        answer = self._http_json(
            urllib.request.Request(
                self.introspect_url,
                method="POST",
                data=urllib.parse.urlencode(form).encode(),
                headers={
                    "Authorization": f"Bearer {self._introspect_token}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
            )
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise Unavailable("the introspection answer is not RFC 7662")
        with self._lock:
            self._answers[digest] = (now + self.introspect_cache_seconds, answer)
            self._answers.move_to_end(digest)
            while len(self._answers) > self.introspect_cache_size:
                self._answers.popitem(last=False)
        return answer

    def _http_json(self, req: urllib.request.Request) -> Any:
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                raw = response.read(_MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            refusal = _refusal(exc)
            if refusal is not None:
                raise refusal from None
            if exc.code in (401, 403):
                log.error(
                    "authsvc refused this backend's credential at %s (%s): it needs a live "
                    "token with the introspect scope",
                    req.full_url,
                    exc.code,
                )
            else:
                log.error("authsvc answered %s at %s", exc.code, req.full_url)
            exc.close()
            raise Unavailable(f"authsvc answered {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.error("authsvc unreachable at %s: %s", req.full_url, exc)
            raise Unavailable("authsvc is unreachable") from exc
        if len(raw) > _MAX_RESPONSE:
            raise Unavailable("authsvc's answer is too large")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise Unavailable("authsvc's answer is not JSON") from exc

    # --- Flask ------------------------------------------------------------------------------

    def require_token(
        self,
        scopes: Iterable[str] = (),
        *,
        introspect: bool = False,
        kinds: Collection[str] | None = None,
    ) -> Callable[[F], F]:
        """`authsvc.verifier.flask.require_token` for this verifier (loads Flask when called)."""
        from authsvc.verifier.flask import require_token

        return require_token(self, scopes, introspect=introspect, kinds=kinds)


def _refusal(exc: urllib.error.HTTPError) -> ApiError | None:
    """authsvc's 403/429 about the introspected key's restrictions (`extra.introspected`),
    as the error this backend answers its own client; None for anything else."""
    if exc.code not in (403, 429):
        return None
    try:
        body = json.loads(exc.read(_MAX_RESPONSE))
        item = body["errors"][0]
        extra = item["extra"]
        if not isinstance(extra, dict) or extra.get("introspected") is not True:
            return None
    except (ValueError, KeyError, IndexError, TypeError, OSError):
        return None
    finally:
        exc.close()
    retry_after = extra.get("retry_after")
    if exc.code == 429 and item.get("code") == "rate_limited":
        return RateLimited(retry_after if isinstance(retry_after, int) else 1, item.get("detail"))
    if exc.code == 403 and item.get("code") == "permission_denied":
        return PermissionDenied(
            item.get("detail"), extra={k: v for k, v in extra.items() if k != "introspected"}
        )
    return None


def _scopes(answer: Mapping[str, Any]) -> tuple[str, ...]:
    scope = answer.get("scope")
    return tuple(scope.split()) if isinstance(scope, str) else ()
