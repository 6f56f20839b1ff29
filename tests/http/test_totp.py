"""Two-factor login through HTTP: setup, enable, login with codes, recovery codes, disable."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from sqlalchemy import func, select

from authsvc.core import clock, crypto, tokens, totp
from authsvc.core.errors import InvalidTotp, ServiceUnavailable
from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession, PrivateToken, RecoveryCode, User, new_id
from authsvc.services import sessions
from authsvc.services.runtime import keystore, settings
from authsvc.services.two_factor import codes as second_factor
from tests.helpers import PASSWORD, SECRET, T0, bearer, count_rows, envelope, error_of

LOGIN = "/api/v1/auth/login"
SETUP = "/api/v1/auth/totp/setup"
ENABLE = "/api/v1/auth/totp/enable"
DISABLE = "/api/v1/auth/totp/disable"
PROOF = {"current_password": PASSWORD}  # sudo mode (issue 13)
WRONG_PROOF = envelope("invalid_credentials", attr="current_password")
STEP0 = int(T0.timestamp()) // 30


def code(secret: str, offset_steps: int = 0) -> str:
    """The code for T0 + `offset_steps` steps."""
    return pyotp.TOTP(secret).at(T0 + timedelta(seconds=30 * offset_steps))


def stored_user(app, user_id: str) -> User:
    with app.app_context():
        found = db.session.get(User, user_id)
        db.session.expunge(found)
        return found


def events(app, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.type == event_type).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return found


def login_with(client, user, totp_code=None):
    body = {"email": user.email, "password": user.password}
    if totp_code is not None:
        body["totp_code"] = totp_code
    return client.post(LOGIN, json=body)


def private_token(app, user_id: str) -> str:
    """A private token minted directly, so these tests need no other area's routes."""
    with app.app_context():
        now = clock.now()
        s = settings()
        token, claims = tokens.encode(
            "private",
            subject=user_id,
            scopes=["read"],
            key=keystore().signing_key(),
            issuer=s.issuer,
            audience=s.audience,
            now=now,
            expires_at=now + timedelta(days=1),
        )
        db.session.add(
            PrivateToken(
                id=new_id(),
                jti=claims["jti"],
                user_id=user_id,
                name="ci",
                scopes="read",
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
        db.session.commit()
        return token


# --- setup -------------------------------------------------------------------------------


def test_setup_gives_a_pending_secret_uri_and_qr(app, client, user, tokens):
    r = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == (
        "otpauth",
        "totp",
        "/authsvc:alice@example.com",
    )
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["authsvc"]
    assert body["qr_svg"].lstrip().startswith("<?xml") and "<svg" in body["qr_svg"]
    stored = stored_user(app, user.id)
    assert stored.totp_pending_secret is not None and stored.totp_secret is None
    assert stored.totp_enabled is False
    (event,) = events(app, "totp.setup")
    assert event.user_id == user.id and body["secret"] not in str(event.detail)
    # pending is not on: login still needs no code
    assert login_with(client, user).status_code == 200


def test_setup_uses_the_configured_issuer(app, client, user, login, monkeypatch):
    rt = app.extensions["authsvc"]
    monkeypatch.setitem(
        app.extensions,
        "authsvc",
        dataclasses.replace(
            rt, settings=dataclasses.replace(rt.settings, totp_issuer="Acme Login")
        ),
    )
    r = client.post(SETUP, headers=bearer(login(user)["access_token"]), json=PROOF)
    uri = urlparse(r.get_json()["otpauth_uri"])
    assert unquote(uri.path) == "/Acme Login:alice@example.com"
    assert parse_qs(uri.query)["issuer"] == ["Acme Login"]


def test_setup_again_replaces_the_pending_secret(frozen, client, tokens):
    first = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF).get_json()[
        "secret"
    ]
    second = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF).get_json()[
        "secret"
    ]
    assert first != second
    r = client.post(
        ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, "totp_code": code(first)}
    )
    # issue 13: a wrong code at a sudo route answers as a wrong password does (no oracle)
    assert r.status_code == 401 and error_of(r) == WRONG_PROOF
    r = client.post(
        ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, "totp_code": code(second)}
    )
    assert r.status_code == 200, r.get_json()


def test_setup_when_already_on_is_a_conflict(app, client, user, totp_user):
    before = stored_user(app, user.id)
    r = client.post(SETUP, headers=bearer(totp_user.access_token), json=PROOF)
    assert r.status_code == 409 and error_of(r) == envelope("conflict")
    after = stored_user(app, user.id)
    assert after.totp_secret == before.totp_secret and after.totp_pending_secret is None


# --- enable ------------------------------------------------------------------------------


def test_enable_turns_totp_on_and_returns_ten_recovery_codes_stored_as_hashes(
    app, frozen, client, user, tokens
):
    secret = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF).get_json()[
        "secret"
    ]
    r = client.post(
        ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, "totp_code": code(secret)}
    )
    assert r.status_code == 200, r.get_json()
    codes = r.get_json()["recovery_codes"]
    assert set(r.get_json()) == {"recovery_codes"}
    assert len(codes) == 10 == len(set(codes))
    stored = stored_user(app, user.id)
    assert stored.totp_enabled and stored.totp_pending_secret is None
    assert stored.totp_secret is not None and stored.totp_last_step == STEP0
    with app.app_context():
        hashes = list(
            db.session.scalars(
                select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
            )
        )
    assert len(hashes) == 10
    assert not {c.replace("-", "") for c in codes} & set(hashes)
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)
    (event,) = events(app, "totp.enabled")
    assert event.detail == {"recovery_codes": 10}
    me = client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.get_json()["totp_enabled"] is True


def test_enable_again_is_a_conflict(client, totp_user):
    r = client.post(
        ENABLE,
        headers=bearer(totp_user.access_token),
        json={**PROOF, "totp_code": code(totp_user.secret)},
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict")


def test_enable_without_setup_is_a_conflict(app, frozen, client, user, tokens):
    r = client.post(
        ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, "totp_code": "123456"}
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict")
    assert stored_user(app, user.id).totp_enabled is False


def test_enable_with_a_wrong_code_changes_nothing(app, frozen, client, user, tokens):
    secret = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF).get_json()[
        "secret"
    ]
    for wrong in (
        code(secret, 2),
        code(secret, -2),
        "000000" if code(secret) != "000000" else "111111",
        "aaaa-bbbb-cccc",
    ):
        r = client.post(
            ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, "totp_code": wrong}
        )
        assert r.status_code == 401 and error_of(r) == WRONG_PROOF  # issue 13: no oracle
    stored = stored_user(app, user.id)
    assert not stored.totp_enabled and stored.totp_secret is None
    assert stored.totp_pending_secret is not None and stored.totp_last_step is None
    assert count_rows(app, RecoveryCode) == 0 and events(app, "totp.enabled") == []


def test_the_code_that_enabled_totp_cannot_log_in(frozen, client, user, enable_totp):
    state = enable_totp(user)
    r = login_with(client, user, code(state.secret))
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")
    assert login_with(client, user, code(state.secret, 1)).status_code == 200


# --- the secret at rest ------------------------------------------------------------------


def test_the_stored_secret_is_sealed_under_the_instance_secret(app, user, totp_user):
    stored = stored_user(app, user.id).totp_secret
    assert totp_user.secret.encode() not in stored
    assert totp_user.secret.lower().encode() not in stored
    assert (
        crypto.open_sealed(SECRET.encode(), "totp-secret", stored, aad=user.id.encode())
        == totp_user.secret.encode()
    )
    other = b"another-instance-secret-0123456789-abcdefghijk"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(other, "totp-secret", stored, aad=user.id.encode())
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(SECRET.encode(), "totp-secret", stored, aad=b"someone-else")
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(SECRET.encode(), "signing-key", stored, aad=user.id.encode())


def test_the_pending_secret_is_sealed_too(app, client, user, tokens):
    secret = client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF).get_json()[
        "secret"
    ]
    pending = stored_user(app, user.id).totp_pending_secret
    assert secret.encode() not in pending
    assert (
        crypto.open_sealed(SECRET.encode(), "totp-secret", pending, aad=user.id.encode())
        == secret.encode()
    )


# --- login -------------------------------------------------------------------------------


def test_login_without_a_code_is_mfa_required_and_writes_only_the_audit_event(
    app, client, user, totp_user
):
    sessions_before = count_rows(app, LoginSession)
    r = login_with(client, user)
    assert r.status_code == 401
    assert error_of(r) == envelope("mfa_required", attr="totp_code")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    assert count_rows(app, LoginSession) == sessions_before
    assert events(app, "login.failed")[-1].detail == {"reason": "mfa_required"}


def test_null_code_counts_as_no_code(client, user, totp_user):
    r = client.post(LOGIN, json={"email": user.email, "password": PASSWORD, "totp_code": None})
    assert r.status_code == 401 and error_of(r) == envelope("mfa_required", attr="totp_code")


@pytest.mark.parametrize("totp_code", [None, "000000"])
def test_a_wrong_password_says_nothing_about_the_second_factor(client, user, totp_user, totp_code):
    body = {"email": user.email, "password": "wrong-password-123456"}
    if totp_code:
        body["totp_code"] = totp_code
    r = client.post(LOGIN, json=body)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials")


def test_login_with_a_wrong_code_is_invalid_totp(app, client, user, totp_user):
    last_step = stored_user(app, user.id).totp_last_step
    wrong = "000000" if code(totp_user.secret) != "000000" else "111111"
    r = login_with(client, user, wrong)
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_totp", attr="totp_code")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    assert stored_user(app, user.id).totp_last_step == last_step
    assert events(app, "login.failed")[-1].detail == {"reason": "totp"}
    assert events(app, "login.succeeded")[-1].at < T0


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_one_step_of_drift_either_way_logs_in(app, client, user, totp_user, offset):
    r = login_with(client, user, code(totp_user.secret, offset))
    assert r.status_code == 200, r.get_json()
    assert stored_user(app, user.id).totp_last_step == STEP0 + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_two_steps_away_is_refused(client, user, totp_user, offset):
    r = login_with(client, user, code(totp_user.secret, offset))
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")


def test_a_code_works_once_and_a_later_one_works(app, client, user, totp_user):
    now_code = code(totp_user.secret)
    assert login_with(client, user, now_code).status_code == 200
    clock.advance(10)
    r = login_with(client, user, now_code)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")
    clock.advance(25)  # next step: the used code is still inside the drift window
    r = login_with(client, user, now_code)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")
    r = login_with(client, user, code(totp_user.secret, -1))
    assert r.status_code == 401, "a code older than the last used one"
    assert login_with(client, user, code(totp_user.secret, 1)).status_code == 200
    assert stored_user(app, user.id).totp_last_step == STEP0 + 1


def test_spaces_in_a_code_are_ignored(client, user, totp_user):
    c = code(totp_user.secret)
    assert login_with(client, user, f" {c[:3]} {c[3:]} ").status_code == 200


def test_a_code_is_not_spent_when_the_login_fails_after_it(
    app, client, user, totp_user, monkeypatch
):
    def broken(*args, **kwargs):
        raise ServiceUnavailable()

    monkeypatch.setattr(sessions, "mint", broken)
    assert login_with(client, user, code(totp_user.secret)).status_code == 503
    assert login_with(client, user, totp_user.recovery_codes[0]).status_code == 503
    monkeypatch.undo()
    assert stored_user(app, user.id).totp_last_step < STEP0 - 1
    assert count_rows(app, LoginSession) == 1
    assert login_with(client, user, code(totp_user.secret)).status_code == 200
    assert login_with(client, user, totp_user.recovery_codes[0]).status_code == 200


def test_of_two_requests_with_one_code_only_one_spends_it(app, user, totp_user):
    """A request that read the user before another spent the step is still refused."""
    with app.app_context():
        stale = db.session.get(User, user.id)
        db.session.expunge(stale)
        with app.app_context():
            db.session.execute(
                User.__table__.update()
                .where(User.__table__.c.id == user.id)
                .values(totp_last_step=STEP0)
            )
            db.session.commit()
        assert (
            totp.match(
                totp_user.secret, code(totp_user.secret), at=T0, last_step=stale.totp_last_step
            )
            == STEP0
        )
        with pytest.raises(InvalidTotp):
            second_factor.spend_totp(stale, stale.totp_secret, code(totp_user.secret))
        db.session.rollback()


def test_totp_off_ignores_a_code(client, user):
    assert login_with(client, user, "123456").status_code == 200


# --- recovery codes ----------------------------------------------------------------------


def test_a_recovery_code_logs_in_once(app, client, user, totp_user):
    used = totp_user.recovery_codes[3]
    assert login_with(client, user, used).status_code == 200
    (event,) = events(app, "totp.recovery_code_used")
    assert event.user_id == user.id and event.detail == {"remaining": 9}
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.used_at.is_not(None))
            )
            == 1
        )
    r = login_with(client, user, used)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")
    assert events(app, "login.failed")[-1].detail == {"reason": "totp"}
    assert login_with(client, user, totp_user.recovery_codes[4]).status_code == 200


def test_a_recovery_code_may_be_typed_loosely(client, user, totp_user):
    typed = totp_user.recovery_codes[0].upper().replace("-", " ")
    assert login_with(client, user, typed).status_code == 200


def test_another_users_recovery_code_is_refused(client, user, make_user, totp_user, enable_totp):
    bob = make_user("bob@example.com")
    bob_state = enable_totp(bob)
    r = login_with(client, user, bob_state.recovery_codes[0])
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")


def test_recovery_codes_from_a_previous_enable_stop_working(frozen, client, user, totp_user):
    old = totp_user.recovery_codes
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"password": PASSWORD, "totp_code": code(totp_user.secret)},
    )
    assert r.status_code == 204, r.get_json()
    secret = client.post(SETUP, headers=bearer(totp_user.access_token), json=PROOF).get_json()[
        "secret"
    ]
    r = client.post(
        ENABLE, headers=bearer(totp_user.access_token), json={**PROOF, "totp_code": code(secret)}
    )
    assert r.status_code == 200
    assert set(r.get_json()["recovery_codes"]).isdisjoint(old)
    r = login_with(client, user, old[0])
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")


# --- disable -----------------------------------------------------------------------------


@pytest.mark.parametrize("use_recovery_code", [False, True])
def test_disable_with_password_and_a_code(app, client, user, totp_user, use_recovery_code):
    second = totp_user.recovery_codes[0] if use_recovery_code else code(totp_user.secret)
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"password": PASSWORD, "totp_code": second},
    )
    assert r.status_code == 204, r.get_json()
    assert r.data == b""
    stored = stored_user(app, user.id)
    assert not stored.totp_enabled and stored.totp_secret is None
    assert stored.totp_pending_secret is None and stored.totp_last_step is None
    assert count_rows(app, RecoveryCode) == 0
    (event,) = events(app, "totp.disabled")
    assert event.detail == {"method": "recovery_code" if use_recovery_code else "totp"}
    assert login_with(client, user).status_code == 200


def test_disable_with_a_wrong_password_changes_nothing(app, client, user, totp_user):
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"password": "not-the-password-1234", "totp_code": code(totp_user.secret)},
    )
    assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials", attr="password")
    stored = stored_user(app, user.id)
    assert stored.totp_enabled and stored.totp_last_step < STEP0 - 1
    assert count_rows(app, RecoveryCode) == 10 and events(app, "totp.disabled") == []


@pytest.mark.parametrize("which", ["wrong", "replayed", "too_old"])
def test_disable_with_a_bad_code_changes_nothing(app, client, user, totp_user, which):
    if which == "replayed":
        assert login_with(client, user, code(totp_user.secret)).status_code == 200
        bad = code(totp_user.secret)
    elif which == "too_old":
        bad = code(totp_user.secret, -2)
    else:
        bad = "000000" if code(totp_user.secret) != "000000" else "111111"
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"password": PASSWORD, "totp_code": bad},
    )
    # issue 13: the same answer as a wrong password, so the route is no password oracle
    assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials", attr="password")
    assert stored_user(app, user.id).totp_enabled
    assert count_rows(app, RecoveryCode) == 10 and events(app, "totp.disabled") == []


def test_disable_when_off_is_a_conflict(client, tokens):
    r = client.post(
        DISABLE,
        headers=bearer(tokens["access_token"]),
        json={"password": PASSWORD, "totp_code": "123456"},
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict")


# --- who may call the routes -------------------------------------------------------------

ROUTES = [
    (SETUP, PROOF),
    (ENABLE, {**PROOF, "totp_code": "123456"}),
    (DISABLE, {"password": PASSWORD, "totp_code": "123456"}),
]


@pytest.mark.parametrize("path,body", ROUTES)
def test_a_private_token_gets_403(app, client, user, path, body):
    token = private_token(app, user.id)
    for headers in (bearer(token), {"X-API-Key": token}):
        r = client.post(path, headers=headers, json=body)
        assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert stored_user(app, user.id).totp_pending_secret is None


@pytest.mark.parametrize("path,body", ROUTES)
def test_no_token_gets_401(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'


@pytest.mark.parametrize("path,body", ROUTES)
def test_a_refresh_token_is_the_wrong_type(client, tokens, path, body):
    r = client.post(path, headers=bearer(tokens["refresh_token"]), json=body)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="wrong_type")


# --- bad input ---------------------------------------------------------------------------

BAD_CODES = [
    ({}, "required"),
    ({"totp_code": None}, "null"),
    ({"totp_code": ""}, "blank"),
    ({"totp_code": "   "}, "blank"),
    ({"totp_code": 123456}, "invalid"),
    ({"totp_code": ["123456"]}, "invalid"),
    ({"totp_code": {"code": "123456"}}, "invalid"),
    ({"totp_code": "1" * 65}, "too_long"),
    ({"totp_code": "12\x003456"}, "invalid"),
]


@pytest.mark.parametrize("body,error", BAD_CODES)
def test_enable_bad_input(app, client, user, tokens, body, error):
    client.post(SETUP, headers=bearer(tokens["access_token"]), json=PROOF)
    r = client.post(ENABLE, headers=bearer(tokens["access_token"]), json={**PROOF, **body})
    assert r.status_code == 400
    assert error_of(r) == envelope(error, type="validation_error", attr="totp_code")
    assert stored_user(app, user.id).totp_enabled is False


@pytest.mark.parametrize("body,error", BAD_CODES)
def test_disable_bad_code_input(app, client, user, totp_user, body, error):
    r = client.post(
        DISABLE, headers=bearer(totp_user.access_token), json={"password": PASSWORD, **body}
    )
    assert r.status_code == 400
    assert error_of(r) == envelope(error, type="validation_error", attr="totp_code")
    assert stored_user(app, user.id).totp_enabled


@pytest.mark.parametrize(
    "body,error",
    [
        ({}, "required"),
        ({"password": None}, "null"),
        ({"password": ""}, "blank"),
        ({"password": 12345}, "invalid"),
        ({"password": "x" * 1025}, "too_long"),
    ],
)
def test_disable_bad_password_input(app, client, user, totp_user, body, error):
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"totp_code": code(totp_user.secret), **body},
    )
    assert r.status_code == 400
    assert error_of(r) == envelope(error, type="validation_error", attr="password")
    assert stored_user(app, user.id).totp_enabled


@pytest.mark.parametrize("body,error", [b for b in BAD_CODES if b[1] not in ("required", "null")])
def test_login_bad_code_input_writes_nothing(app, client, user, totp_user, body, error):
    audit_before = count_rows(app, AuditEvent)
    r = client.post(LOGIN, json={"email": user.email, "password": PASSWORD, **body})
    assert r.status_code == 400
    assert error_of(r) == envelope(error, type="validation_error", attr="totp_code")
    assert count_rows(app, AuditEvent) == audit_before


@pytest.mark.parametrize("path", [ENABLE, DISABLE])
def test_a_form_body_is_unsupported(client, tokens, path):
    r = client.post(path, headers=bearer(tokens["access_token"]), data={"totp_code": "123456"})
    assert r.status_code == 415 and error_of(r) == envelope("unsupported_media_type")


def test_no_secret_or_code_in_any_audit_event(app, client, user, totp_user):
    assert login_with(client, user, code(totp_user.secret)).status_code == 200
    assert login_with(client, user, totp_user.recovery_codes[0]).status_code == 200
    with app.app_context():
        details = [str(e.detail) for e in db.session.scalars(select(AuditEvent))]
    everything = " ".join(details)
    assert totp_user.secret not in everything and code(totp_user.secret) not in everything
    assert not any(c in everything for c in totp_user.recovery_codes)


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (SETUP, ENABLE, DISABLE):
        assert "post" in paths[path]
