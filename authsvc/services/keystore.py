"""Signing keys kept in the database, so every host that shares it signs and verifies alike.

Each process caches the keys it has opened (decrypting a private key per request would
cost more than the signature). Verification looks an unknown `kid` up in the database
before refusing it, so a key rotated on another host is accepted on the next request;
signing asks the database which key is current, so it follows a rotation too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from authsvc import clock, crypto, keys
from authsvc.extensions import db
from authsvc.models import SigningKey
from authsvc.tokens import Key

_PURPOSE = "signing-key"
_KID_MAX = 64


@dataclass(frozen=True)
class _Entry:
    key: Key
    publish_until: datetime | None


class KeyStore:
    def __init__(self, *, secret: bytes, alg: str, longest_lifetime: timedelta) -> None:
        self.secret = secret
        self.alg = alg
        self.longest_lifetime = longest_lifetime
        self._cache: dict[str, _Entry] = {}

    def _open(self, row: SigningKey) -> _Entry:
        material = crypto.open_sealed(self.secret, _PURPOSE, row.private_sealed, row.kid.encode())
        entry = _Entry(keys.load(row.alg, material), row.publish_until)
        self._cache[row.kid] = entry
        return entry

    def ensure(self) -> Key:
        """The current key, generated and stored on first start. Commits."""
        row = self._current_row()
        if row is None:
            key = self._insert_new()
            db.session.commit()
            return key
        return self._open(row).key

    def _current_row(self) -> SigningKey | None:
        return db.session.scalars(
            select(SigningKey)
            .where(SigningKey.alg == self.alg, SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
            .limit(1)
        ).first()

    def _insert_new(self) -> Key:
        material = keys.generate(self.alg)
        key = keys.load(self.alg, material)
        db.session.add(SigningKey(
            kid=key.kid, alg=self.alg, created_at=clock.now(),
            private_sealed=crypto.seal(self.secret, _PURPOSE, material, key.kid.encode()),
        ))
        self._cache[key.kid] = _Entry(key, None)
        return key

    def signing_key(self) -> Key:
        """The key to sign with now; one indexed query, the key itself from the cache."""
        kid = db.session.scalar(
            select(SigningKey.kid)
            .where(SigningKey.alg == self.alg, SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
            .limit(1)
        )
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
        if entry is None:
            if len(kid) > _KID_MAX:
                return None
            row = db.session.get(SigningKey, kid)
            if row is None or row.alg != self.alg:
                return None
            entry = self._open(row)
        if entry.publish_until is not None and entry.publish_until <= clock.now():
            return None
        return entry.key

    def rotate(self) -> tuple[Key, list[str]]:
        """Make a new current key; the old ones stop signing and stay published. Commits."""
        now = clock.now()
        retired = list(db.session.scalars(
            select(SigningKey.kid).where(SigningKey.alg == self.alg, SigningKey.retired_at.is_(None))
        ))
        db.session.execute(
            update(SigningKey)
            .where(SigningKey.kid.in_(retired))
            .values(retired_at=now, publish_until=now + self.longest_lifetime)
        )
        for kid in retired:
            self._cache.pop(kid, None)
        key = self._insert_new()
        db.session.commit()
        return key, retired

    def published(self) -> list[SigningKey]:
        now = clock.now()
        return list(db.session.scalars(
            select(SigningKey)
            .where(SigningKey.alg == self.alg)
            .where((SigningKey.publish_until.is_(None)) | (SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc())
        ))

    def jwks(self) -> dict[str, Any]:
        if self.alg in keys.SYMMETRIC:
            return {"keys": []}
        out = []
        for row in self.published():
            entry = self._cache.get(row.kid) or self._open(row)
            out.append(keys.published_jwk(entry.key))
        return {"keys": out}
