"""An administrator's view of one user: the account, its live sessions and its API keys.

The console's Users page is a client of these; each use case runs `require_admin` first,
so a refusal reads and writes nothing. A revocation is audited under the user, with the
administrator as `actor_id`, in the transaction that makes it.
"""

from __future__ import annotations

from sqlalchemy import select

from authsvc.core.errors import NotFound
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db
from authsvc.models import LoginSession, User
from authsvc.services import audit, private_tokens, sessions
from authsvc.services.transaction import transaction
from authsvc.services.users import require_admin


def _user(principal: Principal, user_id: str) -> User:
    require_admin(principal)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def get_user(principal: Principal, user_id: str) -> User:
    return _user(principal, user_id)


def list_sessions(principal: Principal, user_id: str) -> list[dict[str, object]]:
    """`current` marks the administrator's own session, as on their own list."""
    user = _user(principal, user_id)
    return sessions.live_sessions(user.id, current=principal.session_id)


def revoke_session(principal: Principal, user_id: str, session_id: str, client: Client) -> None:
    """The session's refresh token and its access tokens are refused from the next request."""
    user = _user(principal, user_id)
    owner = db.session.scalar(select(LoginSession.user_id).where(LoginSession.id == session_id))
    if owner != user.id:
        raise NotFound()
    with transaction():
        if sessions.revoke_sessions(user.id, only=session_id):  # else revoked already
            audit.record(
                "session.revoked",
                client=client,
                user_id=user.id,
                actor_id=principal.user_id,
                session_id=session_id,
            )


def revoke_all_sessions(principal: Principal, user_id: str, client: Client) -> None:
    """Sign the user out everywhere; their API keys are untouched (deactivate to stop those)."""
    user = _user(principal, user_id)
    with transaction():
        count = sessions.revoke_sessions(user.id)
        if count:
            audit.record(
                "session.revoked_all",
                client=client,
                user_id=user.id,
                actor_id=principal.user_id,
                count=count,
            )


def _holder(principal: Principal, user: User) -> private_tokens.Holder:
    return private_tokens.Holder(user.id, None, (), principal.user_id)


def list_keys(principal: Principal, user_id: str) -> list[private_tokens.TokenInfo]:
    """The user's personal keys (team keys belong to teams), newest first, revoked ones too."""
    user = _user(principal, user_id)
    return private_tokens.list_tokens(principal, _holder(principal, user))


def revoke_key(principal: Principal, user_id: str, key_id: str, client: Client) -> None:
    user = _user(principal, user_id)
    private_tokens.delete(principal, key_id, client, _holder(principal, user))
