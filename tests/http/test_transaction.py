"""`services.transaction` and `models.ScopeList` against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import RevokedToken, Team, new_id
from authsvc.services.transaction import transaction
from tests.helpers import count_rows


def _revoked(jti: str) -> RevokedToken:
    now = clock.now()
    return RevokedToken(jti=jti, revoked_at=now, expires_at=now + timedelta(hours=1))


def test_a_block_that_ends_commits(app):
    with app.app_context():
        with transaction():
            db.session.add(_revoked("a"))
    assert count_rows(app, RevokedToken) == 1


def test_a_block_that_raises_writes_nothing(app):
    with app.app_context():
        with pytest.raises(LookupError), transaction():
            db.session.add(_revoked("a"))
            db.session.flush()
            raise LookupError
        assert db.session.scalar(select(RevokedToken.jti)) is None
    assert count_rows(app, RevokedToken) == 0


def test_a_failed_commit_is_rolled_back_and_the_session_goes_on(app):
    with app.app_context():
        with transaction():
            db.session.add(_revoked("a"))
        with pytest.raises(IntegrityError), transaction():
            db.session.add(_revoked("a"))
        with transaction():
            db.session.add(_revoked("b"))
    assert count_rows(app, RevokedToken) == 2


def test_scopes_are_lists_stored_as_one_space_separated_string(app):
    with app.app_context():
        team_id = new_id()
        with transaction():
            db.session.add(
                Team(id=team_id, name="t", scopes=["read", "deploy"], created_at=clock.now())
            )
        stored = db.session.execute(
            text("SELECT scopes FROM teams WHERE id = :id"), {"id": team_id}
        ).scalar()
        assert stored == "read deploy"
        db.session.expire_all()
        assert db.session.get(Team, team_id).scopes == ["read", "deploy"]
        assert db.session.scalar(select(Team.__table__.c.scopes)) == ["read", "deploy"]
        assert count_rows(app, Team, Team.scopes == "read deploy") == 1
