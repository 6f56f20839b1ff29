"""Signing keys kept in the database, so every host that shares it signs and verifies alike.

Each process caches the keys it has opened (decrypting a private key per request would
cost more than the signature). Lifecycle, all decided from stored times, so every host
agrees without a timer of its own:

- a key is *published* (in the JWKS, and verifies) from its creation until `publish_until`;
- it *signs* from `activates_at` until a successor's `activates_at` (its `retired_at`):
  `rotate` publishes a new key at once and lets it sign only after the publish delay, so
  verifiers that cached the JWKS already hold it when its first token arrives;
- `revoke` unpublishes a key at once (`publish_until` = now): verification reads the key's
  `publish_until` from the database on every use (`verification_key`, or on the hot path
  `published_column` in the token's own state statement), so every host refuses its
  tokens from the next request;
- automatic rotation (`AUTHSVC_KEY_ROTATION_DAYS`) is checked at most once a minute per
  process, before a request, and guarded by a conditional UPDATE of the signing key's row,
  so of several hosts exactly one publishes the successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, exists, func, or_, select, update

from authsvc.core import clock, crypto, keys
from authsvc.core.principal import Client
from authsvc.core.tokens import Key
from authsvc.extensions import db, rowcount
from authsvc.models import LoginSession, PrivateToken, SigningKey
from authsvc.services import audit, probe
from authsvc.services.transaction import transaction

_PURPOSE = "signing-key"
# Newest first: by when they sign (a pending key first); of keys that start signing in the
# same second, the one not superseded first, then by retirement (several can share a second).
_NEWEST_FIRST = (
    SigningKey.activates_at.desc(),
    case((SigningKey.retired_at.is_(None), 0), else_=1),
    SigningKey.retired_at.desc(),
    SigningKey.created_at.desc(),
    SigningKey.kid,
)
_KID_MAX = 64
RECHECK_SECONDS = 60.0


def _stamp() -> float:
    """When a cache entry was read, on the service clock: tests move past RECHECK_SECONDS."""
    return clock.now().timestamp()


def _signing_now(stmt: Any) -> Any:
    """Keys of `:alg` that sign at `:now`: active, not yet superseded, not revoked."""
    return (
        stmt.where(
            SigningKey.alg == bindparam("alg"),
            SigningKey.revoked_at.is_(None),
            SigningKey.activates_at <= bindparam("now"),
            SigningKey.retired_at.is_(None) | (SigningKey.retired_at > bindparam("now")),
        )
        .order_by(SigningKey.activates_at.desc(), SigningKey.created_at.desc(), SigningKey.kid)
        .limit(1)
    )


# Built once: asked on every login and refresh, and on every verification.
_CURRENT_KID = probe.Statement(_signing_now(select(SigningKey.kid)))


def current_kid() -> Any:
    """`signing_key`'s query as a column (parameters `KeyStore.signing_params`): a hot path
    that reads a row anyway (a refresh reads its session) reads the kid with it, and saves
    the round trip of a query of its own; `KeyStore.signing_key_named` gives the key."""
    return _signing_now(select(SigningKey.kid)).scalar_subquery()


_PUBLISHED_UNTIL = probe.Statement(
    select(SigningKey.alg, SigningKey.publish_until).where(SigningKey.kid == bindparam("kid"))
)


def published_column() -> Any:
    """True while the key `:kid` of the store `:key_label` is published at `:now`.

    The hot path's state statements (`services.authentication`) select it beside the
    token's state, so a key revoked on any host is refused by the next request here
    without a query of its own (`KeyStore.opened_key`).
    """
    return (
        exists()
        .where(
            SigningKey.kid == bindparam("kid"),
            SigningKey.alg == bindparam("key_label"),
            or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > bindparam("now")),
        )
        .label("key_published")
    )


@dataclass
class _Entry:
    key: Key
    publish_until: datetime | None
    checked: float


@dataclass(frozen=True)
class KeyInfo:
    """One row of `keys list`: public facts only, never key material."""

    kid: str
    alg: str
    created_at: datetime
    retired_at: datetime | None
    publish_until: datetime | None
    state: str  # signing | pending | published | retired | revoked | unused
    activates_at: datetime | None = None


class KeyStore:
    def __init__(
        self,
        *,
        secret: bytes,
        alg: str,
        longest_lifetime: timedelta,
        leeway: timedelta = timedelta(0),
        publish_delay: timedelta = timedelta(0),
        rotation_days: int = 0,
        label: str | None = None,
    ) -> None:
        self.secret = secret
        self.alg = alg
        # The `alg` column's value for this store's rows: the algorithm itself for the
        # token keys, "id:RS256"/"id:ES256" for OpenID Connect's id_token keys, so that a
        # key of one store is never found by another (an id_token key never signs, nor
        # verifies, an access token even when both are RS256).
        self.label = label or alg
        self.longest_lifetime = longest_lifetime
        self.leeway = leeway
        self.publish_delay = publish_delay
        self.rotation_days = rotation_days
        self._cache: dict[str, _Entry] = {}
        self._rotation_checked: float | None = None

    @property
    def jwks_max_age(self) -> int:
        """How long a JWKS answer may be cached: half the publish delay, at most 5 minutes.

        Shorter than the delay, so a verifier that honours it holds a new key before the key
        signs; short enough that a revoked key leaves caches within minutes.
        """
        return int(min(300, self.publish_delay.total_seconds() // 2))

    def _open(self, row: SigningKey) -> _Entry:
        material = crypto.open_sealed(self.secret, _PURPOSE, row.private_sealed, row.kid.encode())
        entry = _Entry(keys.load(self.alg, material), row.publish_until, _stamp())
        self._cache[row.kid] = entry
        return entry

    def ensure(self) -> Key:
        """The current key of the configured algorithm, generated and stored when there is none.

        Commits. Changing `AUTHSVC_SIGNING_ALG` on an existing database lands here: the
        keys of the old algorithm stay in their table, unused and unpublished.
        """
        row = self._current_row()
        if row is None:
            with transaction():
                return self._insert_new()
        return self._open(row).key

    def _current_row(self) -> SigningKey | None:
        return db.session.scalars(
            _signing_now(select(SigningKey)), {"alg": self.label, "now": clock.now()}
        ).first()

    def _insert_new(self, activates_at: datetime | None = None) -> Key:
        material = keys.generate(self.alg)
        key = keys.load(self.alg, material)
        now = clock.now()
        db.session.add(
            SigningKey(
                kid=key.kid,
                alg=self.label,
                created_at=now,
                activates_at=activates_at or now,
                private_sealed=crypto.seal(self.secret, _PURPOSE, material, key.kid.encode()),
            )
        )
        self._cache[key.kid] = _Entry(key, None, _stamp())
        return key

    def signing_key(self) -> Key:
        """The key to sign with now; one indexed query, the key itself from the cache."""
        found = probe.first(_CURRENT_KID, self.signing_params())
        return self.signing_key_named(None if found is None else found.kid)

    def signing_params(self) -> dict[str, Any]:
        """The parameters of `current_kid()`, read now."""
        return {"alg": self.label, "now": clock.now()}

    def signing_key_named(self, kid: str | None) -> Key:
        """The key that `current_kid()` named (None: no key signs yet, so one is made)."""
        if kid is None:
            return self.ensure()
        entry = self._cache.get(kid)
        if entry is None:
            row = db.session.get(SigningKey, kid)
            assert row is not None
            entry = self._open(row)
        return entry.key

    def verification_key(self, kid: str) -> Key | None:
        """The published key named `kid`, or None (unknown, of another algorithm, retired past
        its last token, or revoked). Its `publish_until` is read from the database on every
        call, so a revocation on any host is seen by the next request here."""
        if len(kid) > _KID_MAX:
            return None
        row = probe.first(_PUBLISHED_UNTIL, {"kid": kid})
        if row is None or row.alg != self.label:
            self._cache.pop(kid, None)
            return None
        if row.publish_until is not None and row.publish_until <= clock.now():
            return None
        entry = self._cache.get(kid)
        if entry is None:
            stored = db.session.get(SigningKey, kid)
            if stored is None:
                return None
            entry = self._open(stored)
        entry.publish_until = row.publish_until
        return entry.key if entry.key.alg == self.alg else None

    def opened_key(self, kid: str) -> Key | None:
        """The key named `kid` as this process opened it, its state not read: only for a
        caller whose own statement selects `published_column()` (the hot path). A key not
        opened here yet is looked up, state and all, as by `verification_key`."""
        entry = self._cache.get(kid)
        if entry is None or entry.key.alg != self.alg:
            return self.verification_key(kid)
        return entry.key

    def _publish_until(self, now: datetime) -> datetime:
        """When the last token an old key may have signed expires, plus leeway.

        The configured lifetimes bound it; stored refresh and private tokens are counted
        too, in case a lifetime was shortened after they were issued.
        """
        stored = [
            db.session.scalar(
                select(func.max(PrivateToken.expires_at)).where(PrivateToken.revoked_at.is_(None))
            ),
            # a session's expiry is its current refresh token's
            db.session.scalar(
                select(func.max(LoginSession.expires_at)).where(LoginSession.revoked_at.is_(None))
            ),
        ]
        until = now + self.longest_lifetime
        for moment in stored:
            if moment is not None and moment + self.leeway > until:
                until = moment + self.leeway
        return until

    def rotate(
        self, client: Client | None = None, *, now: bool = False, automatic: bool = False
    ) -> tuple[Key, list[str], datetime]:
        """Publish a new key at once; it signs after the publish delay (at once with `now`).

        Every key that would still sign then (the current one, a pending one) retires at that
        moment and stays published until its last token has expired. Commits. Returns the
        new key, the retiring kids and the moment the new key signs from.
        """
        extra: dict[str, Any] = {"automatic": True} if automatic else {}
        with transaction():
            key, retired, activation = self._rotate(now=now)
            audit.record(
                "signing_key.rotated",
                client=client,
                kid=key.kid,
                alg=self.alg,
                retired=retired,
                activates_at=activation,
                **extra,
            )
        return key, retired, activation

    def _rotate(self, *, now: bool) -> tuple[Key, list[str], datetime]:
        moment = clock.now()
        activation = moment if now else moment + self.publish_delay
        retiring = list(
            db.session.scalars(
                select(SigningKey.kid)
                .where(
                    SigningKey.alg == self.label,
                    SigningKey.revoked_at.is_(None),
                    SigningKey.retired_at.is_(None) | (SigningKey.retired_at > activation),
                )
                .order_by(*_NEWEST_FIRST)
            )
        )
        if retiring:
            db.session.execute(
                update(SigningKey)
                .where(SigningKey.kid.in_(retiring))
                .values(retired_at=activation, publish_until=self._publish_until(activation))
            )
        for kid in retiring:
            self._cache.pop(kid, None)
        return self._insert_new(activation), retiring, activation

    def revoke(self, kid: str, client: Client | None = None) -> tuple[bool, Key | None]:
        """Unpublish `kid` at once (a key that leaked); a new key signs at once if it was the
        signing key. Commits. Returns (whether anything changed, the new signing key or None).

        Raises LookupError for a kid this service never stored.
        """
        row = db.session.get(SigningKey, kid)
        if row is None:
            raise LookupError(kid)
        if row.revoked_at is not None:
            return False, None
        moment = clock.now()
        was_signing = db.session.scalar(_CURRENT_KID.stmt, {"alg": row.alg, "now": moment}) == kid
        with transaction():
            row.revoked_at = moment
            row.publish_until = moment
            row.retired_at = (
                row.retired_at
                if row.retired_at is not None and row.retired_at <= moment
                else moment
            )
            self._cache.pop(kid, None)
            db.session.flush()
            replacement = (
                self._rotate(now=True)[0] if was_signing and row.alg == self.label else None
            )
            audit.record(
                "signing_key.revoked",
                client=client,
                kid=kid,
                alg=row.alg,
                was_signing=was_signing,
                replaced_by=replacement.kid if replacement is not None else None,
            )
        return True, replacement

    def maybe_rotate(self) -> Key | None:
        """Automatic rotation: publish a successor when the signing key is older than
        `rotation_days` and none is scheduled. At most once a minute per process; the
        conditional UPDATE on the signing key's row lets exactly one host of many do it."""
        if self.rotation_days <= 0 or self.alg in keys.SYMMETRIC:
            return None
        stamp = _stamp()
        if self._rotation_checked is not None and stamp - self._rotation_checked < RECHECK_SECONDS:
            return None
        self._rotation_checked = stamp
        moment = clock.now()
        # Run before a request (nothing else pending): a return without a write commits nothing.
        with transaction():
            current = self._current_row()
            if (
                current is None
                or current.retired_at is not None
                or current.activates_at + timedelta(days=self.rotation_days) > moment
            ):
                return None
            activation = moment + self.publish_delay
            claimed = rowcount(
                db.session.execute(
                    update(SigningKey)
                    .where(
                        SigningKey.kid == current.kid,
                        SigningKey.retired_at.is_(None),
                        SigningKey.revoked_at.is_(None),
                    )
                    .values(retired_at=activation, publish_until=self._publish_until(activation))
                )
            )
            if claimed != 1:  # another host got there first: the UPDATE changed nothing
                return None
            self._cache.pop(current.kid, None)
            key = self._insert_new(activation)
            audit.record(
                "signing_key.rotated",
                client=None,
                kid=key.kid,
                alg=self.alg,
                retired=[current.kid],
                activates_at=activation,
                automatic=True,
            )
        return key

    def published(self) -> list[SigningKey]:
        """The keys of the configured algorithm that verify tokens now, newest first."""
        now = clock.now()
        return list(
            db.session.scalars(
                select(SigningKey)
                .where(SigningKey.alg == self.label)
                .where((SigningKey.publish_until.is_(None)) | (SigningKey.publish_until > now))
                .order_by(*_NEWEST_FIRST)
            )
        )

    def listing(self, *, everything: bool = False) -> list[KeyInfo]:
        """What `keys list` shows: the published keys, or with `everything` every stored one."""
        now = clock.now()
        current = db.session.scalar(_CURRENT_KID.stmt, {"alg": self.label, "now": now})
        rows = (
            self.published()
            if not everything
            else list(db.session.scalars(select(SigningKey).order_by(*_NEWEST_FIRST)))
        )
        out = []
        for row in rows:
            if row.alg != self.label:
                state = "unused"
            elif row.revoked_at is not None:
                state = "revoked"
            elif row.kid == current:
                state = "signing"
            elif row.activates_at > now and (
                row.retired_at is None or row.retired_at > row.activates_at
            ):
                state = "pending"
            elif row.publish_until is None or row.publish_until > now:
                state = "published"
            else:
                state = "retired"
            out.append(
                KeyInfo(
                    row.kid,
                    row.alg,
                    row.created_at,
                    row.retired_at,
                    row.publish_until,
                    state,
                    row.activates_at,
                )
            )
        return out

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 key set; empty for HS256, whose key must never leave the service."""
        if self.alg in keys.SYMMETRIC:
            return {"keys": []}
        out = []
        for row in self.published():
            entry = self._cache.get(row.kid) or self._open(row)
            out.append(keys.published_jwk(entry.key))
        return {"keys": out}
