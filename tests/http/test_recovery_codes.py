"""Issue 21 item 8: new recovery codes in sudo mode, and how many are left."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, RecoveryCode
from tests.helpers import PASSWORD, bearer, count_rows, envelope, error_of

STATUS = "/api/v1/auth/totp"
REGENERATE = "/api/v1/auth/totp/recovery-codes"
LOGIN = "/api/v1/auth/login"


def now_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def hashes(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(RecoveryCode.code_hash)))


def events(app, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == event_type)))
        db.session.expunge_all()
        return found


def test_status_counts_unused_codes(client, user, totp_user):
    r = client.get(STATUS, headers=bearer(totp_user.access_token))
    assert r.status_code == 200 and r.get_json() == {"enabled": True, "recovery_codes_left": 10}
    login = {"email": user.email, "password": PASSWORD, "totp_code": totp_user.recovery_codes[0]}
    assert client.post(LOGIN, json=login).status_code == 200
    r = client.get(STATUS, headers=bearer(totp_user.access_token))
    assert r.get_json() == {"enabled": True, "recovery_codes_left": 9}


def test_status_while_off(client, tokens):
    r = client.get(STATUS, headers=bearer(tokens["access_token"]))
    assert r.status_code == 200 and r.get_json() == {"enabled": False, "recovery_codes_left": None}


def test_new_codes_replace_every_old_one(app, client, user, totp_user):
    old = hashes(app)
    r = client.post(
        REGENERATE,
        headers=bearer(totp_user.access_token),
        json={"current_password": PASSWORD, "totp_code": now_code(totp_user.secret)},
    )
    assert r.status_code == 200, r.get_json()
    codes = r.get_json()["recovery_codes"]
    assert set(r.get_json()) == {"recovery_codes"} and len(set(codes)) == 10
    assert hashes(app).isdisjoint(old) and count_rows(app, RecoveryCode) == 10
    (event,) = events(app, "totp.recovery_codes_regenerated")
    assert event.user_id == user.id
    assert event.detail == {"method": "totp", "recovery_codes": 10}
    assert not any(c in str(event.detail) for c in codes)
    # an old code is dead, a new one signs in
    body = {"email": user.email, "password": PASSWORD}
    r = client.post(LOGIN, json={**body, "totp_code": totp_user.recovery_codes[1]})
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_totp"
    assert client.post(LOGIN, json={**body, "totp_code": codes[0]}).status_code == 200


def test_an_unused_recovery_code_is_a_proof_too(app, client, totp_user):
    r = client.post(
        REGENERATE,
        headers=bearer(totp_user.access_token),
        json={"current_password": PASSWORD, "totp_code": totp_user.recovery_codes[3]},
    )
    assert r.status_code == 200
    (event,) = events(app, "totp.recovery_codes_regenerated")
    assert event.detail["method"] == "recovery_code"


@pytest.mark.parametrize(
    "body,status,error",
    [
        (
            {"current_password": "not-the-password-42", "totp_code": None},
            401,
            "invalid_credentials",
        ),
        ({"current_password": PASSWORD, "totp_code": "000000"}, 401, "invalid_credentials"),
        ({"current_password": PASSWORD}, 401, "mfa_required"),
        ({"totp_code": "123456"}, 400, "required"),
        ({"current_password": None, "totp_code": "123456"}, 400, "null"),
        ({"current_password": "", "totp_code": "123456"}, 400, "blank"),
        ({"current_password": 5, "totp_code": "123456"}, 400, "invalid"),
        ({"current_password": "x" * 1025, "totp_code": "123456"}, 400, "too_long"),
        ({"current_password": PASSWORD, "totp_code": "1" * 65}, 400, "too_long"),
        ({"current_password": PASSWORD, "totp_code": 123456}, 400, "invalid"),
    ],
)
def test_bad_proof_or_input_writes_nothing(app, client, totp_user, body, status, error):
    if body.get("totp_code") is None and "totp_code" in body:
        body = {**body, "totp_code": now_code(totp_user.secret)}  # right code, wrong password
    if body.get("totp_code") == "000000" and now_code(totp_user.secret) == "000000":
        body = {**body, "totp_code": "111111"}
    before = hashes(app)
    r = client.post(REGENERATE, headers=bearer(totp_user.access_token), json=body)
    assert r.status_code == status, r.get_json()
    assert error_of(r)["code"] == error
    assert hashes(app) == before
    assert events(app, "totp.recovery_codes_regenerated") == []


def test_wrong_answers_count_towards_the_lockout(app, client, user, totp_user):
    for _ in range(5):
        r = client.post(
            REGENERATE,
            headers=bearer(totp_user.access_token),
            json={"current_password": PASSWORD, "totp_code": "000000"},
        )
        assert r.status_code in (401, 200)
        assert r.status_code == 401 or now_code(totp_user.secret) == "000000"
    assert len(events(app, "login.failed")) == 5
    assert all(e.detail["action"] == "totp.recovery_codes" for e in events(app, "login.failed"))
    before = hashes(app)
    r = client.post(
        REGENERATE,
        headers=bearer(totp_user.access_token),
        json={"current_password": PASSWORD, "totp_code": now_code(totp_user.secret)},
    )
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    assert error_of(r)["extra"]["retry_after"] > 0 and "Retry-After" in r.headers
    assert hashes(app) == before
    r = client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 429


def test_while_two_factor_is_off_it_is_a_conflict(app, client, tokens):
    r = client.post(
        REGENERATE,
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "totp_code": "123456"},
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict")
    assert count_rows(app, RecoveryCode) == 0


def test_private_tokens_and_no_token_are_refused(app, client, user, totp_user):
    from tests.http.test_totp import private_token

    token = private_token(app, user.id)
    body = {"current_password": PASSWORD, "totp_code": now_code(totp_user.secret)}
    r = client.post(REGENERATE, headers=bearer(token), json=body)
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert client.get(STATUS, headers=bearer(token)).status_code == 403
    r = client.post(REGENERATE, json=body)
    assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")
    assert len(hashes(app)) == 10
