"""Signing keys kept in the database, so every host that shares it signs and verifies alike.

Each process caches the keys it has opened (decrypting a private key per request would
cost more than the signature). Verification looks an unknown `kid` up in the database
before refusing it, so a key rotated on another host is accepted on the next request;
signing asks the database which key is current, so it follows a rotation too. A cached
key that was current when opened is re-read at most once a minute, so a retirement made
by another host reaches this one's verification without a restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from authsvc.core import clock, crypto, keys
from authsvc.extensions import db
from authsvc.models import PrivateToken, RefreshToken, SigningKey
from authsvc.core.principal import Client
from authsvc.services import audit
from authsvc.core.tokens import Key

_PURPOSE = "signing-key"
# Newest first: the signing key, then retired keys by retirement (several can share a second).
_NEWEST_FIRST = (case((SigningKey.retired_at.is_(None), 0), else_=1), SigningKey.retired_at.desc(),
                 SigningKey.created_at.desc(), SigningKey.kid)
_KID_MAX = 64
RECHECK_SECONDS = 60.0


def _stamp() -> float:
    """When a cache entry was read, on the service clock: tests move past RECHECK_SECONDS."""
    return clock.now().timestamp()


_CURRENT_KID = (  # built once: signing asks it on every login and refresh
    select(SigningKey.kid)
    .where(SigningKey.alg == bindparam("alg"), SigningKey.retired_at.is_(None))
    .order_by(SigningKey.created_at.desc(), SigningKey.kid)
    .limit(1)
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
    state: str  # signing | published | retired | unused


class KeyStore:
    def __init__(self, *, secret: bytes, alg: str, longest_lifetime: timedelta,
                 leeway: timedelta = timedelta(0), label: str | None = None) -> None:
        self.secret = secret
        self.alg = alg
        # The `alg` column's value for this store's rows: the algorithm itself for the
        # token keys, "id:RS256"/"id:ES256" for OpenID Connect's id_token keys, so that a
        # key of one store is never found by another (an id_token key never signs, nor
        # verifies, an access token even when both are RS256).
        self.label = label or alg
        self.longest_lifetime = longest_lifetime
        self.leeway = leeway
        self._cache: dict[str, _Entry] = {}

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
            key = self._insert_new()
            db.session.commit()
            return key
        return self._open(row).key

    def _current_query(self) -> Any:
        return (
            select(SigningKey)
            .where(SigningKey.alg == self.label, SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
            .limit(1)
        )

    def _current_row(self) -> SigningKey | None:
        return db.session.scalars(self._current_query()).first()

    def _insert_new(self) -> Key:
        material = keys.generate(self.alg)
        key = keys.load(self.alg, material)
        db.session.add(SigningKey(
            kid=key.kid, alg=self.label, created_at=clock.now(),
            private_sealed=crypto.seal(self.secret, _PURPOSE, material, key.kid.encode()),
        ))
        self._cache[key.kid] = _Entry(key, None, _stamp())
        return key

    def signing_key(self) -> Key:
        """The key to sign with now; one indexed query, the key itself from the cache."""
        kid = db.session.scalar(_CURRENT_KID, {"alg": self.label})
        if kid is None:
            return self.ensure()
        entry = self._cache.get(kid)
        if entry is None:
            row = db.session.get(SigningKey, kid)
            assert row is not None
            entry = self._open(row)
        return entry.key

    def verification_key(self, kid: str) -> Key | None:
        """The published key named `kid`, or None: a retired key only until its last token expired."""
        entry = self._cache.get(kid)
        if entry is not None and entry.publish_until is None \
                and _stamp() - entry.checked > RECHECK_SECONDS:
            entry = self._recheck(kid, entry)
        if entry is None:
            if len(kid) > _KID_MAX:
                return None
            row = db.session.get(SigningKey, kid)
            if row is None or row.alg != self.label:
                return None
            entry = self._open(row)
        if entry.key.alg != self.alg:
            return None
        if entry.publish_until is not None and entry.publish_until <= clock.now():
            return None
        return entry.key

    def _recheck(self, kid: str, entry: _Entry) -> _Entry | None:
        row = db.session.execute(
            select(SigningKey.publish_until).where(SigningKey.kid == kid)
        ).first()
        if row is None:
            self._cache.pop(kid, None)
            return None
        entry.publish_until = row.publish_until
        entry.checked = _stamp()
        return entry

    def _publish_until(self, now: datetime) -> datetime:
        """When the last token an old key may have signed expires, plus leeway.

        The configured lifetimes bound it; stored refresh and private tokens are counted
        too, in case a lifetime was shortened after they were issued.
        """
        stored = [
            db.session.scalar(select(func.max(PrivateToken.expires_at))
                              .where(PrivateToken.revoked_at.is_(None))),
            db.session.scalar(select(func.max(RefreshToken.expires_at))
                              .where(RefreshToken.used_at.is_(None))),
        ]
        until = now + self.longest_lifetime
        for moment in stored:
            if moment is not None and moment + self.leeway > until:
                until = moment + self.leeway
        return until

    def rotate(self, client: Client | None = None) -> tuple[Key, list[str]]:
        """Make a new current key; the old ones stop signing and stay published. Commits."""
        now = clock.now()
        retired = list(db.session.scalars(
            select(SigningKey.kid).where(SigningKey.alg == self.label, SigningKey.retired_at.is_(None))
        ))
        if retired:
            db.session.execute(
                update(SigningKey)
                .where(SigningKey.kid.in_(retired), SigningKey.retired_at.is_(None))
                .values(retired_at=now, publish_until=self._publish_until(now))
            )
        for kid in retired:
            self._cache.pop(kid, None)
        key = self._insert_new()
        audit.record("signing_key.rotated", client=client, kid=key.kid, alg=self.alg,
                     retired=retired)
        db.session.commit()
        return key, retired

    def published(self) -> list[SigningKey]:
        """The keys of the configured algorithm that verify tokens now, newest first."""
        now = clock.now()
        return list(db.session.scalars(
            select(SigningKey)
            .where(SigningKey.alg == self.label)
            .where((SigningKey.publish_until.is_(None)) | (SigningKey.publish_until > now))
            .order_by(*_NEWEST_FIRST)
        ))

    def listing(self, *, everything: bool = False) -> list[KeyInfo]:
        """What `keys list` shows: the published keys, or with `everything` every stored one."""
        now = clock.now()
        current = db.session.scalar(self._current_query().with_only_columns(SigningKey.kid))
        rows = self.published() if not everything else list(db.session.scalars(
            select(SigningKey).order_by(*_NEWEST_FIRST)))
        out = []
        for row in rows:
            if row.alg != self.label:
                state = "unused"
            elif row.kid == current:
                state = "signing"
            elif row.publish_until is None or row.publish_until > now:
                state = "published"
            else:
                state = "retired"
            out.append(KeyInfo(row.kid, row.alg, row.created_at, row.retired_at,
                               row.publish_until, state))
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
