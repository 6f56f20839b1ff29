"""Following authsvc's Token Status Lists from a resource server (draft-ietf-oauth-status-list).

A token's `status` claim names a list and an index in it. The first token naming a list
fetches it (one fetcher per list, the others wait for it); afterwards a list older than its
`ttl` is refreshed in the background with `If-None-Match` (a `304` only renews it), so no
request waits for a refresh while the copy is fresh. A copy that could not be refreshed for
`max_status_age` seconds is not trusted: the token is answered `Unavailable` (503), never
accepted on a stale list. Only the standard library, PyJWT and `authsvc.core`.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authsvc.core import status_list, tokens

log = logging.getLogger(__name__)

PATH = "/api/v1/status-lists/"
_LIST_ID = re.compile(r"0|[1-9][0-9]{0,11}")
_MAX_LIST_BYTES = 4 << 20
_RETRY_AFTER_FAILURE = 1.0  # a failed fetch is not retried by requests sooner than this


class StatusUnavailable(Exception):
    """The list could not be fetched, or the copy is older than `max_status_age`."""


@dataclass
class _Copy:
    raw: bytes
    etag: str | None
    ttl: float
    fresh_at: float  # monotonic time of the last fetch (or 304) that confirmed it


class StatusLists:
    """The lists one verifier follows; thread-safe."""

    def __init__(
        self,
        *,
        issuer: str,
        base_url: str,
        keys: Callable[[str], tokens.Key | None],
        algorithm: str,
        opener: urllib.request.OpenerDirector,
        timeout: float,
        max_status_age: float,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        leeway: float = 10,
        background: bool = True,
    ) -> None:
        self._prefix = issuer.rstrip("/") + PATH
        self._base = base_url.rstrip("/") + PATH
        self._keys = keys
        self._algorithm = algorithm
        self._opener = opener
        self._timeout = timeout
        self.max_status_age = max_status_age
        self._now = now
        self._monotonic = monotonic
        self._leeway = leeway
        self._background = background
        self._lock = threading.Lock()
        self._copies: dict[str, _Copy] = {}
        self._fetch_locks: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._failed_at: dict[str, float] = {}
        self.fetches = 0
        self.not_modified = 0

    def check(self, claims: dict[str, Any]) -> None:
        """Refuse a token whose status is not 0; a token without a `status` claim (signed
        before authsvc had lists) passes."""
        if "status" not in claims:
            return
        list_id, idx = self._reference(claims["status"])
        status = self._status(list_id, idx)
        if status == status_list.SUSPENDED:
            raise tokens.InactiveUser()
        if status != status_list.VALID:
            raise tokens.Revoked()

    def _reference(self, claim: object) -> tuple[str, int]:
        ref = claim.get("status_list") if isinstance(claim, dict) else None
        if not isinstance(ref, dict):
            raise tokens.Malformed()
        idx, uri = ref.get("idx"), ref.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise tokens.Malformed()
        # Only authsvc's own lists are fetched, whatever a token names.
        if not isinstance(uri, str) or not uri.startswith(self._prefix):
            raise tokens.Malformed()
        list_id = uri[len(self._prefix) :]
        if not _LIST_ID.fullmatch(list_id):
            raise tokens.Malformed()
        return list_id, idx

    def _status(self, list_id: str, idx: int) -> int:
        copy = self._current(list_id)
        try:
            return status_list.status_at(copy.raw, idx)
        except IndexError:
            raise tokens.Malformed() from None

    def _current(self, list_id: str) -> _Copy:
        now = self._monotonic()
        copy = self._copies.get(list_id)
        if copy is not None and now - copy.fresh_at < copy.ttl:
            return copy
        if copy is not None and now - copy.fresh_at < self.max_status_age:
            self._refresh_soon(list_id)
            return copy
        # No copy, or one too old to trust: this request waits for one fetch (shared).
        with self._fetch_lock(list_id):
            copy = self._copies.get(list_id)
            now = self._monotonic()
            if copy is not None and now - copy.fresh_at < self.max_status_age:
                return copy
            failed = self._failed_at.get(list_id)
            if failed is not None and now - failed < _RETRY_AFTER_FAILURE:
                raise StatusUnavailable("the status list could not be fetched")
            return self._fetch(list_id)

    def _fetch_lock(self, list_id: str) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(list_id, threading.Lock())

    def _refresh_soon(self, list_id: str) -> None:
        """At most one refresher per list, off the request's path."""
        with self._lock:
            if list_id in self._refreshing:
                return
            self._refreshing.add(list_id)

        def run() -> None:
            try:
                with self._fetch_lock(list_id):
                    copy = self._copies.get(list_id)
                    if copy is None or self._monotonic() - copy.fresh_at >= copy.ttl:
                        self._fetch(list_id)
            except StatusUnavailable:
                log.warning("status list %s could not be refreshed; keeping the copy", list_id)
            finally:
                with self._lock:
                    self._refreshing.discard(list_id)

        if self._background:
            threading.Thread(target=run, name=f"status-list-{list_id}", daemon=True).start()
        else:
            run()

    def _fetch(self, list_id: str) -> _Copy:
        """GET the list (conditional when a copy exists); the caller holds its fetch lock."""
        started = self._monotonic()
        old = self._copies.get(list_id)
        headers = {"Accept": status_list.MEDIA_TYPE}
        if old is not None and old.etag:
            headers["If-None-Match"] = old.etag
        self.fetches += 1
        try:
            body, etag = self._get(self._base + list_id, headers)
        except StatusUnavailable:
            self._failed_at[list_id] = self._monotonic()
            raise
        if body is None and old is not None:
            self.not_modified += 1
            copy = _Copy(old.raw, old.etag, old.ttl, started)
        else:
            copy = self._parse(list_id, body or "", etag)
            copy.fresh_at = started
        self._copies[list_id] = copy
        self._failed_at.pop(list_id, None)
        return copy

    def _parse(self, list_id: str, body: str, etag: str | None) -> _Copy:
        try:
            payload, raw = status_list.verify(
                body.strip(),
                uri=self._prefix + list_id,
                keys=self._keys,
                algorithm=self._algorithm,
                now=self._now(),
                leeway=self._leeway,
            )
        except (ValueError, tokens.InvalidToken) as exc:
            log.error("status list %s refused: %s", list_id, exc)
            self._failed_at[list_id] = self._monotonic()
            raise StatusUnavailable("the status list is not a valid statuslist+jwt") from exc
        ttl = payload.get("ttl")
        ttl = float(ttl) if isinstance(ttl, int) and ttl > 0 else 60.0
        return _Copy(raw, etag, min(ttl, self.max_status_age), 0.0)

    def _get(self, url: str, headers: dict[str, str]) -> tuple[str | None, str | None]:
        """(body, ETag), or (None, ETag) for a 304."""
        req = urllib.request.Request(url, headers=headers)
        try:
            with self._opener.open(req, timeout=self._timeout) as response:
                raw = response.read(_MAX_LIST_BYTES + 1)
                etag = response.headers.get("ETag")
                ctype = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 304:
                return None, exc.headers.get("ETag")
            log.error("authsvc answered %s at %s", exc.code, url)
            raise StatusUnavailable(f"authsvc answered {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.error("authsvc unreachable at %s: %s", url, exc)
            raise StatusUnavailable("authsvc is unreachable") from exc
        if len(raw) > _MAX_LIST_BYTES or not ctype.startswith(status_list.MEDIA_TYPE):
            raise StatusUnavailable("not a status list")
        try:
            return raw.decode("ascii"), etag
        except UnicodeDecodeError as exc:
            raise StatusUnavailable("not a status list") from exc
