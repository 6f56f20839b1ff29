from tests.conftest import bearer


def test_login_refresh_verify(client, user, login):
    pair = login(user)
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 3600
    r = client.get("/api/v1/auth/verify", headers=bearer(pair["access_token"]))
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200, r.get_json()
