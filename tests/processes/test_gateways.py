"""Issue 17: /api/v1/auth/check for gateways, and real nginx auth_request in front of an upstream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PASSWORD, bearer, error_of, free_port

CHECK = "/api/v1/auth/check"
IDENTITY = ("X-Authsvc-Subject", "X-Authsvc-Scopes", "X-Authsvc-Token-Type", "X-Authsvc-Client-Id")
NGINX = os.environ.get("AUTHSVC_NGINX", "/usr/sbin/nginx")


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]
)
@pytest.mark.parametrize(
    "path", [CHECK, CHECK + "/", CHECK + "/orders/42/items", CHECK + "/a%2Fb?x=1"]
)
def test_any_method_and_path_answers_the_identity(client, user, tokens, method, path):
    r = client.open(path, method=method, headers=bearer(tokens["access_token"]))
    assert r.status_code == 200, r.get_data()
    assert r.get_data() == b""
    assert r.headers["X-Authsvc-Subject"] == user.id
    assert r.headers["X-Authsvc-Scopes"] == "read write"
    assert r.headers["X-Authsvc-Token-Type"] == "access"
    assert r.headers["X-Authsvc-Client-Id"] == "authsvc"
    assert "X-Authsvc-Team" not in r.headers  # teams do not exist yet: never for a user's token


def test_the_body_is_never_read(app, client, tokens):
    huge = b"\x00not json" * (app.config["MAX_CONTENT_LENGTH"] // 8)  # over the body limit
    r = client.post(
        CHECK + "/upload",
        data=huge,
        content_type="application/octet-stream",
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 200
    r = client.put(
        CHECK,
        data="{bad json",
        content_type="application/json",
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 200


def test_private_tokens_and_x_api_key_are_accepted(client, tokens):
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(tokens["access_token"]),
        json={"name": "gw", "scopes": ["read"], "expires_in_days": 1, "current_password": PASSWORD},
    )
    pat = r.get_json()["token"]
    r = client.get(CHECK + "/x", headers={"X-API-Key": pat})
    assert r.status_code == 200
    assert (
        r.headers["X-Authsvc-Token-Type"] == "private" and r.headers["X-Authsvc-Scopes"] == "read"
    )


def test_refusals_carry_the_envelope_and_the_challenge(client, tokens):
    r = client.delete(CHECK + "/x")
    assert r.status_code == 401 and error_of(r)["code"] == "not_authenticated"
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    r = client.get(CHECK, headers=bearer("garbage"))
    assert r.status_code == 401 and error_of(r)["extra"] == {"reason": "malformed"}
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')
    r = client.get(CHECK, headers=bearer(tokens["refresh_token"]))
    assert r.status_code == 401 and error_of(r)["extra"] == {"reason": "wrong_type"}
    for header in IDENTITY:
        assert header not in r.headers


def test_scope_query_makes_scopes_required(client, tokens):
    access = bearer(tokens["access_token"])
    assert client.get(CHECK + "?scope=read+write", headers=access).status_code == 200
    r = client.post(CHECK + "/admin?scope=read+admin+deploy", headers=access)
    assert r.status_code == 403 and error_of(r)["code"] == "insufficient_scope"
    assert error_of(r)["extra"] == {"scopes": ["admin", "deploy"]}
    assert (
        r.headers["WWW-Authenticate"]
        == 'Bearer realm="authsvc", error="insufficient_scope", scope="admin deploy"'
    )


def test_a_revoked_token_is_refused_at_once(client, tokens):
    assert (
        client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]}).status_code
        == 200
    )
    r = client.get(CHECK, headers=bearer(tokens["access_token"]))
    assert r.status_code == 401 and error_of(r)["extra"] == {"reason": "revoked"}


# --- real nginx -------------------------------------------------------------------------------

ECHO = textwrap.dedent("""
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Echo(BaseHTTPRequestHandler):
        def answer(self):
            body = json.dumps({"method": self.command, "path": self.path,
                               "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = do_PUT = do_DELETE = answer
        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
""")


def nginx_conf(prefix: Path, listen: int, authsvc: str, upstream: int) -> str:
    """docs/gateways.md's example, with this test's ports and a private prefix."""
    authsvc_host = authsvc.removeprefix("http://")
    return textwrap.dedent(f"""
        daemon off;
        master_process off;
        worker_processes 1;
        pid {prefix}/nginx.pid;
        error_log {prefix}/error.log info;
        events {{ worker_connections 64; }}
        http {{
            access_log {prefix}/access.log;
            client_body_temp_path {prefix}/tmp/body;
            proxy_temp_path {prefix}/tmp/proxy;
            fastcgi_temp_path {prefix}/tmp/fastcgi;
            uwsgi_temp_path {prefix}/tmp/uwsgi;
            scgi_temp_path {prefix}/tmp/scgi;

            upstream authsvc {{ server {authsvc_host}; }}
            upstream app {{ server 127.0.0.1:{upstream}; }}

            server {{
                listen 127.0.0.1:{listen};

                location / {{
                    auth_request /_authsvc/check;
                    include {prefix}/authsvc-identity.conf;
                    proxy_pass http://app;
                }}
                location /admin/ {{
                    auth_request /_authsvc/check-admin;
                    include {prefix}/authsvc-identity.conf;
                    proxy_pass http://app;
                }}

                location = /_authsvc/check {{
                    internal;
                    proxy_pass http://authsvc/api/v1/auth/check;
                    include {prefix}/authsvc-subrequest.conf;
                }}
                location = /_authsvc/check-admin {{
                    internal;
                    proxy_pass http://authsvc/api/v1/auth/check?scope=admin;
                    include {prefix}/authsvc-subrequest.conf;
                }}
                location @authsvc_forbidden {{
                    add_header WWW-Authenticate $authsvc_challenge always;
                    return 403;
                }}
            }}
        }}
    """)


IDENTITY_CONF = """
auth_request_set $authsvc_subject $upstream_http_x_authsvc_subject;
auth_request_set $authsvc_scopes $upstream_http_x_authsvc_scopes;
auth_request_set $authsvc_token_type $upstream_http_x_authsvc_token_type;
auth_request_set $authsvc_client_id $upstream_http_x_authsvc_client_id;
auth_request_set $authsvc_challenge $upstream_http_www_authenticate;
error_page 403 = @authsvc_forbidden;
proxy_set_header X-Authsvc-Subject $authsvc_subject;
proxy_set_header X-Authsvc-Scopes $authsvc_scopes;
proxy_set_header X-Authsvc-Token-Type $authsvc_token_type;
proxy_set_header X-Authsvc-Client-Id $authsvc_client_id;
"""
SUBREQUEST_CONF = """
proxy_pass_request_body off;
proxy_set_header Content-Length "";
proxy_set_header X-Original-URI $request_uri;
proxy_set_header X-Original-Method $request_method;
"""


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:] if log.exists() else "exited")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def nginx_in_front(serve, tmp_path: Path) -> Any:
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not found: apt-get install nginx (.ci/run installs it)")
    authsvc = serve()
    upstream_port, listen = free_port(), free_port()
    started: list[subprocess.Popen[bytes]] = []
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(upstream_port)])
    started.append(echo)
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "authsvc-identity.conf").write_text(IDENTITY_CONF)
    (prefix / "authsvc-subrequest.conf").write_text(SUBREQUEST_CONF)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, listen, authsvc.url, upstream_port))
    log = prefix / "stderr.log"
    with open(log, "wb") as out:
        nginx = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started.append(nginx)
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/", echo, log)
        wait_for(f"http://127.0.0.1:{listen}/", nginx, log)
        yield authsvc, f"http://127.0.0.1:{listen}"
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def login_at(base: str, email: str, password: str) -> dict[str, Any]:
    data = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(
        base + "/api/v1/auth/login",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_nginx_auth_request_allows_denies_and_passes_identity(nginx_in_front, user):
    authsvc, front = nginx_in_front
    access = login_at(authsvc.url, user.email, user.password)["access_token"]

    # allow: the upstream sees the request, with the identity nginx copied from authsvc
    status, _, body = fetch(front + "/orders/42?x=1", bearer(access))
    assert status == 200, body
    seen = json.loads(body)
    assert seen["path"] == "/orders/42?x=1"
    assert seen["headers"]["x-authsvc-subject"] == user.id
    assert seen["headers"]["x-authsvc-scopes"] == "read write"
    assert seen["headers"]["x-authsvc-token-type"] == "access"
    assert seen["headers"]["x-authsvc-client-id"] == "authsvc"

    # a client cannot forge the identity headers: nginx overwrites them
    status, _, body = fetch(front + "/x", {**bearer(access), "X-Authsvc-Subject": "someone-else"})
    assert status == 200 and json.loads(body)["headers"]["x-authsvc-subject"] == user.id

    # deny: no token, a bad token (401 with the challenge), a missing scope (403 with its challenge)
    status, headers, _ = fetch(front + "/orders/42")
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    status, headers, _ = fetch(front + "/orders/42", bearer("garbage"))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')
    status, headers, _ = fetch(front + "/admin/users", bearer(access), method="DELETE")
    assert status == 403
    assert (
        headers["WWW-Authenticate"]
        == 'Bearer realm="authsvc", error="insufficient_scope", scope="admin"'
    )

    # a revoked token is refused from the next request on
    revoke = urllib.request.Request(
        authsvc.url + "/api/v1/auth/revoke",
        method="POST",
        data=f"token={access}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    urllib.request.urlopen(revoke, timeout=10).close()
    status, headers, _ = fetch(front + "/orders/42", bearer(access))
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
