"""What a password login stores: the session row and its `login.succeeded` event, written
together or not at all, each login with a status index of its own, and nothing but the
`login.failed` event for a refusal."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession, User
from authsvc.services import status_lists
from authsvc.services.runtime import settings
from tests.helpers import PASSWORD, T0, count_rows, refusing_events

LOGIN = "/api/v1/auth/login"


def stored_sessions(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(select(LoginSession.__table__)).mappings().all()
        db.session.remove()
    return [dict(row) for row in rows]


def login_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.__table__)
            .where(AuditEvent.type.like("login.%"))
            .order_by(AuditEvent.id)
        ).mappings()
        found = [{k: v for k, v in row.items() if k != "id"} for row in rows]
        db.session.remove()
    return found


def indices_taken(app: Flask) -> int:
    with app.app_context():
        taken = status_lists._taken()
        db.session.remove()
    return taken


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_login_stores_its_session_row_and_event(app: Flask, frozen: Any, user: Any) -> None:
    r = app.test_client().post(
        LOGIN,
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": "pytest-agent/1"},
    )

    assert r.status_code == 200, r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Type"] == "application/json"
    body = r.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    access, refresh = claims(body["access_token"]), claims(body["refresh_token"])
    with app.app_context():
        ttl = settings().refresh_ttl
        status_idx = status_lists.index_of(access)
    assert status_idx is not None and status_lists.index_of(refresh) == status_idx
    assert access["iat"] == refresh["iat"] == int(T0.timestamp())
    assert refresh["exp"] == int((T0 + ttl).timestamp())
    (row,) = stored_sessions(app)
    assert row == {
        "id": access["sid"],
        "user_id": user.id,
        "created_at": T0,
        "last_used_at": T0,
        "expires_at": T0 + ttl,
        "revoked_at": None,
        "user_agent": "pytest-agent/1",
        "ip": "127.0.0.1",
        "refresh_jti": refresh["jti"],
        "refresh_iat": refresh["iat"],
        "refresh_exp": refresh["exp"],
        "previous_refresh_jti": None,
        "rotated_at": None,
        "replay_recorded": False,
        "reuse_recorded_at": None,
        "client_id": None,
        "scopes": None,
        "audience": None,
        "amr": "pwd",
        "status_idx": status_idx,
    }
    assert login_events(app) == [
        {
            "at": T0,
            "type": "login.succeeded",
            "user_id": user.id,
            "actor_id": None,
            "ip": "127.0.0.1",
            "user_agent": "pytest-agent/1",
            "detail": {"session_id": access["sid"]},
        }
    ]


def test_logins_at_once_each_take_an_index_of_their_own(app: Flask, user: Any) -> None:
    before = indices_taken(app)

    def attempt(_: int) -> int:
        return (
            app.test_client()
            .post(LOGIN, json={"email": user.email, "password": PASSWORD})
            .status_code
        )

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(attempt, range(6))) == [200] * 6

    indices = [row["status_idx"] for row in stored_sessions(app)]
    assert len(set(indices)) == 6 and all(i >= before for i in indices)
    assert indices_taken(app) == before + 6
    assert [e["type"] for e in login_events(app)] == ["login.succeeded"] * 6


def test_a_refused_event_leaves_no_session(app: Flask, user: Any) -> None:
    with refusing_events(app, "login.succeeded"), pytest.raises(IntegrityError):
        app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert stored_sessions(app) == [] and login_events(app) == []

    r = app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})

    assert r.status_code == 200, r.get_json()
    assert len(stored_sessions(app)) == 1
    assert [e["type"] for e in login_events(app)] == ["login.succeeded"]


@pytest.mark.parametrize(
    "email,password,reason",
    [
        ("alice@example.com", "wrong-password-123456", "credentials"),
        ("nobody@example.com", PASSWORD, "credentials"),
        ("alice@example.com", PASSWORD, "inactive"),
    ],
)
def test_a_refused_login_writes_its_event_only(
    app: Flask, frozen: Any, user: Any, email: str, password: str, reason: str
) -> None:
    if reason == "inactive":
        with app.app_context():
            db.session.get(User, user.id).is_active = False  # type: ignore[union-attr]
            db.session.commit()
    before = indices_taken(app)

    r = app.test_client().post(
        LOGIN, json={"email": email, "password": password}, headers={"User-Agent": "ua/2"}
    )

    assert r.status_code == 401
    assert count_rows(app, LoginSession) == 0
    assert indices_taken(app) == before
    assert login_events(app) == [
        {
            "at": T0,
            "type": "login.failed",
            "user_id": None if email.startswith("nobody") else user.id,
            "actor_id": None,
            "ip": "127.0.0.1",
            "user_agent": "ua/2",
            "detail": {"reason": reason},
        }
    ]


def test_a_totp_login_stores_its_second_factor(
    app: Flask, frozen: Any, user: Any, totp_user: Any
) -> None:
    import pyotp

    before = indices_taken(app)
    missing = app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert missing.status_code == 401
    assert indices_taken(app) == before and count_rows(app, LoginSession) == 1  # enabling's

    code = pyotp.TOTP(totp_user.secret).at(T0)
    r = app.test_client().post(
        LOGIN, json={"email": user.email, "password": PASSWORD, "totp_code": code}
    )

    assert r.status_code == 200, r.get_json()
    sid = claims(r.get_json()["access_token"])["sid"]
    (row,) = [row for row in stored_sessions(app) if row["id"] == sid]
    assert row["amr"] == "pwd otp" and row["created_at"] == T0
    assert row["status_idx"] == status_lists.index_of(claims(r.get_json()["refresh_token"]))
    assert [e["detail"] for e in login_events(app)][-2:] == [
        {"reason": "mfa_required"},
        {"session_id": sid},
    ]
