"""Login, refresh with rotation, logout, the session list and revocation by token.

A session is one login: every refresh token it ever issued belongs to it, and every
access token names it (`sid`), so revoking the session row revokes them all at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import bindparam, delete, func, select, update

from authsvc.core import clock, passwords, tokens
from authsvc.core.oauth import FIRST_PARTY_CLIENT, IDENTITY_SCOPES
from authsvc.core.principal import Principal
from authsvc.services.authentication import verify
from authsvc.core.errors import InvalidCredentials, InvalidTotp, MfaRequired, NotFound
from authsvc.extensions import db
from authsvc.models import PrivateToken, RefreshToken, RevokedToken, Session, User, new_id
from authsvc.services.runtime import keystore, settings
from authsvc.core.principal import Client
from authsvc.services import audit, two_factor
from authsvc.services import lockout


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"
    scope: str = ""  # what the pair grants (the OAuth token answer says it; /auth/* do not)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _mint(session_id: str, user_id: str, scopes: list[str], now: datetime, *,
          client_id: str | None = None, audience: str | None = None) -> tuple[TokenPair, RefreshToken]:
    """Sign an access and a refresh token of a session: CPU only, nothing written yet.

    Both name the session's client (RFC 9068 `client_id`; first-party logins are "authsvc");
    the access token's `aud` is the session's granted audience (RFC 8707) or the default.
    """
    s = settings()
    key = keystore().signing_key()
    common = dict(subject=user_id, scopes=scopes, key=key, issuer=s.issuer, now=now,
                  session_id=session_id, extra={"client_id": client_id or FIRST_PARTY_CLIENT})
    access, _ = tokens.encode("access", expires_at=now + s.access_ttl,
                              audience=audience or s.audience, **common)
    refresh, claims = tokens.encode("refresh", expires_at=now + s.refresh_ttl,
                                    audience=s.audience, **common)
    row = RefreshToken(jti=claims["jti"], session_id=session_id, issued_at=now,
                       expires_at=now + s.refresh_ttl)
    return TokenPair(access, refresh, int(s.access_ttl.total_seconds()), scope=" ".join(scopes)), row


def session_scopes(granted: str | None, user_scopes: str) -> list[str]:
    """A session's scopes now: the user's, or for an OAuth session the granted ones still the user's."""
    mine = user_scopes.split()
    if granted is None:
        return mine
    return [scope for scope in granted.split() if scope in mine or scope in IDENTITY_SCOPES]


def login(email: str, password: str, totp_code: str | None, client: Client) -> TokenPair:
    """Log in, unless this email has had too many failures lately (`services.lockout`)."""
    with lockout.attempt(normalize_email(email), client):
        return _login(email, password, totp_code, client)


def _login(email: str, password: str, totp_code: str | None, client: Client) -> TokenPair:
    """Check the password (the same argon2id work for unknown emails), then the second factor."""
    s = settings()
    now = clock.now()
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    password_ok = passwords.verify(user.password_hash if user else None, password, s.hash_params)
    if user is None or not password_ok or not user.is_active:
        audit.record("login.failed", client=client, user_id=user.id if user else None,
                     reason="inactive" if password_ok else "credentials")
        db.session.commit()
        raise InvalidCredentials()
    user_id = user.id
    try:
        two_factor.check_login(user, totp_code, client)
    except (MfaRequired, InvalidTotp) as exc:
        db.session.rollback()
        audit.record("login.failed", client=client, user_id=user_id,
                     reason="mfa_required" if isinstance(exc, MfaRequired) else "totp")
        db.session.commit()
        raise
    if passwords.needs_rehash(user.password_hash, s.hash_params):
        user.password_hash = passwords.hash_password(password, s.hash_params)
    session = Session(id=new_id(), user_id=user.id, created_at=now, last_used_at=now,
                      expires_at=now + s.refresh_ttl, ip=client.ip,
                      user_agent=client.user_agent,
                      amr="pwd otp" if user.totp_enabled else "pwd")
    db.session.add(session)
    db.session.flush()  # the session row first: its refresh tokens reference it
    pair, refresh_row = _mint(session.id, user.id, user.scope_list, now)
    db.session.add(refresh_row)
    audit.record("login.succeeded", client=client, user_id=user.id, session_id=session.id)
    db.session.commit()
    return pair


_REFRESH_STATE = (
    select(Session.revoked_at, User.is_active, User.scopes, Session.client_id,
           Session.scopes.label("granted"), Session.audience)
    .join(User, User.id == Session.user_id)
    .where(Session.id == bindparam("sid"), Session.user_id == bindparam("sub"))
)
_SPEND = (
    update(RefreshToken.__table__)
    .where(RefreshToken.jti == bindparam("b_jti"), RefreshToken.session_id == bindparam("b_sid"),
           RefreshToken.used_at.is_(None))
    .values(used_at=bindparam("b_now"))
)
_PROLONG = (
    update(Session.__table__)
    .where(Session.id == bindparam("b_sid"), Session.revoked_at.is_(None))
    .values(last_used_at=bindparam("b_now"), expires_at=bindparam("b_expires_at"),
            ip=func.coalesce(bindparam("b_ip"), Session.ip))
)


def refresh(refresh_token: str, client: Client, *, client_id: str | None = None) -> TokenPair:
    """Rotate: the token is spent by a conditional UPDATE, so of concurrent uses one wins.

    `client_id` is the OAuth client presenting the token (None: first party); a refresh
    token of another client's session is refused before anything is written.

    A spent token presented again is theft or a broken client; either way the whole
    session is revoked, as the contract says. The new pair is signed before the write
    transaction opens, so the database's write lock is held only for the writes.
    """
    v = verify(refresh_token, {"refresh"})
    now = clock.now()
    state = db.session.execute(_REFRESH_STATE, {"sid": v.sid, "sub": v.sub}).first()
    if state is None or state.revoked_at is not None:
        spent = db.session.scalar(select(RefreshToken.used_at).where(RefreshToken.jti == v.jti))
        db.session.rollback()
        if spent is not None:
            _reuse_detected(v, client)
        raise tokens.Revoked()
    if not state.is_active:
        db.session.rollback()
        raise tokens.InactiveUser()
    if state.client_id != client_id:
        db.session.rollback()
        raise tokens.WrongType("This refresh token was issued to another client.")
    pair, refresh_row = _mint(v.sid, v.sub, session_scopes(state.granted, state.scopes), now,
                              client_id=state.client_id, audience=state.audience)
    db.session.rollback()  # end the read; the writes below are one short transaction

    spent = db.session.execute(_SPEND, {"b_jti": v.jti, "b_sid": v.sid, "b_now": now})
    if spent.rowcount != 1:
        db.session.rollback()
        if db.session.get(RefreshToken, v.jti) is None:
            raise tokens.Revoked()
        _reuse_detected(v, client)
    prolonged = db.session.execute(_PROLONG, {"b_sid": v.sid, "b_now": now, "b_ip": client.ip,
                                              "b_expires_at": refresh_row.expires_at})
    if prolonged.rowcount != 1:  # logged out since the read above
        db.session.rollback()
        raise tokens.Revoked()
    db.session.add(refresh_row)
    audit.record("token.refreshed", client=client, user_id=v.sub, session_id=v.sid,
                 **({"client_id": client_id} if client_id else {}))
    db.session.commit()
    return pair


def _reuse_detected(v: tokens.Verified, client: Client) -> NoReturn:
    """A spent refresh token came back: revoke its session (if still open), record it, refuse."""
    revoke_sessions(v.sub, only=v.sid)
    audit.record("refresh.reuse_detected", client=client, user_id=v.sub, session_id=v.sid)
    db.session.commit()
    raise tokens.Reused()


def revoke_sessions(user_id: str, *, only: str | None = None, keep: str | None = None) -> int:
    stmt = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if only is not None:
        stmt = stmt.where(Session.id == only)
    if keep is not None:
        stmt = stmt.where(Session.id != keep)
    return db.session.execute(stmt.values(revoked_at=clock.now())).rowcount


def logout(principal: Principal, client: Client) -> None:
    revoke_sessions(principal.user_id, only=principal.session_id)
    audit.record("logout", client=client, user_id=principal.user_id,
                 session_id=principal.session_id)
    db.session.commit()


def list_sessions(principal: Principal) -> list[dict[str, object]]:
    rows = db.session.scalars(
        select(Session)
        .where(Session.user_id == principal.user_id, Session.revoked_at.is_(None),
               Session.expires_at > clock.now())
        .order_by(Session.created_at.desc())
    )
    return [
        {"id": r.id, "created_at": r.created_at, "last_used_at": r.last_used_at,
         "user_agent": r.user_agent, "ip": r.ip, "current": r.id == principal.session_id}
        for r in rows
    ]


def revoke_session(principal: Principal, session_id: str, client: Client) -> None:
    owner = db.session.scalar(select(Session.user_id).where(Session.id == session_id))
    if owner != principal.user_id:
        raise NotFound()
    revoke_sessions(principal.user_id, only=session_id)
    audit.record("session.revoked", client=client, user_id=principal.user_id,
                 session_id=session_id)
    db.session.commit()


def revoke_all_sessions(principal: Principal, client: Client) -> None:
    count = revoke_sessions(principal.user_id)
    audit.record("session.revoked_all", client=client, user_id=principal.user_id, count=count)
    db.session.commit()


def revoke_token(token: str, client: Client, *, oauth_client: str | None = None) -> None:
    """RFC 7009: whoever holds a token may kill it; an invalid token is quietly ignored.

    An OAuth client that authenticated (`oauth_client`) may revoke only tokens issued to it;
    another's is ignored the same way, so the answer tells it nothing.
    """
    try:
        v = verify(token, tokens.KINDS.keys())
    except tokens.InvalidToken:
        return
    if oauth_client is not None and v.claims.get("client_id") != oauth_client:
        return
    now = clock.now()
    if v.kind == "access":
        if db.session.get(RevokedToken, v.jti) is None:
            db.session.add(RevokedToken(
                jti=v.jti, revoked_at=now,
                expires_at=datetime.fromtimestamp(v.claims["exp"], now.tzinfo)))
    elif v.kind == "refresh":
        revoke_sessions(v.sub, only=v.sid)
    else:
        db.session.execute(
            update(PrivateToken)
            .where(PrivateToken.jti == v.jti, PrivateToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    audit.record("token.revoked", client=client, user_id=v.sub, kind=v.kind, jti=v.jti)
    db.session.commit()


def prune() -> dict[str, int]:
    """Delete what can no longer matter: revoked jtis and refresh tokens past their expiry."""
    now = clock.now()
    revoked = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    spent = db.session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
    db.session.commit()
    return {"revoked_tokens": revoked.rowcount, "refresh_tokens": spent.rowcount}
