"""Benchmark authsvc against bare Flask baselines, in one run, with one load generator (wrk).

Run by hand from the repository root:  .venv/bin/python bench/run.py [--seconds 10]
The refresh rows: plain (every request spends a token of its own) and in pairs (8 clients,
each token sent twice at once, as two tabs or a retry would; both answered 200 within
the reuse window).
Needs `wrk` (Debian: apt-get install wrk). Prints a table of requests per second and
the ratios the targets are stated in; nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Quartz-meadow-91-lantern"
SECRET = "bench-instance-secret-0123456789-abcdefghijkl"
ISSUER = "http://127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {url}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start: {url}")


def gunicorn(
    app: str, env: dict[str, str], workers: int, log: Path
) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {**env, "AUTHSVC_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    with open(log, "wb") as output:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return f"http://127.0.0.1:{port}", process


def wrk(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def rss_mb(master: subprocess.Popen) -> list[float]:
    children = subprocess.run(
        ["pgrep", "-P", str(master.pid)], capture_output=True, text=True
    ).stdout.split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def prepare(env: dict[str, str], refresh_count: int, revoked: int) -> dict[str, str]:
    """Create the user, an access token, `refresh_count` refresh tokens; optionally revoked rows."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from cryptography.hazmat.primitives import serialization
    from sqlalchemy import insert

    from authsvc import create_app
    from authsvc.core import clock
    from authsvc.core.principal import Client
    from authsvc.extensions import db
    from authsvc.models import LoginSession, RevokedToken, new_id
    from authsvc.services import sessions, users
    from authsvc.services.runtime import keystore

    app = create_app()
    with app.app_context():
        user = users.create_user("bench@example.com", PASSWORD, client=Client())
        pair = sessions.login(user.email, PASSWORD, None, Client())
        now = clock.now()
        lines = []
        for _ in range(refresh_count):
            session_id = new_id()
            pair_of_session, claims = sessions.mint(session_id, user.id, user.scopes, now)
            db.session.add(
                LoginSession(
                    id=session_id,
                    user_id=user.id,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now,
                    refresh_jti=claims["jti"],
                    refresh_iat=claims["iat"],
                    refresh_exp=claims["exp"],
                )
            )
            lines.append(pair_of_session.refresh_token)
        db.session.commit()
        key = keystore().signing_key()
        pem = key.verifying.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        if revoked:
            expires = now.replace(year=now.year + 1)
            rows = [
                {"jti": f"{i:032x}", "expires_at": expires, "revoked_at": now}
                for i in range(revoked)
            ]
            for start in range(0, revoked, 50_000):
                db.session.execute(insert(RevokedToken), rows[start : start + 50_000])
            db.session.commit()
    return {"access": pair.access_token, "refresh_lines": "\n".join(lines), "pem": pem}


def argon2_verify_ms(repeats: int = 30) -> float:
    from authsvc.core import passwords

    stored = passwords.hash_password(PASSWORD, passwords.OWASP_MINIMUM)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        passwords.verify(stored, PASSWORD, passwords.OWASP_MINIMUM)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--revoked", type=int, default=1_000_000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="authsvc-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(
        {
            "AUTHSVC_INSTANCE_PATH": str(work / "instance"),
            "AUTHSVC_SECRET_KEY": SECRET,
            "AUTHSVC_ISSUER": ISSUER,
            "AUTHSVC_ADDRESS_RATE": "1000000 per minute",
            "AUTHSVC_LOGIN_FAILURES": "1000000",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        }
    )
    (work / "metrics").mkdir()
    print(f"preparing in {work} ...", flush=True)
    prepared = prepare(env, refresh_count=60_000, revoked=0)
    lines = prepared["refresh_lines"].split("\n")
    tokens_file, pairs_file = work / "refresh.txt", work / "refresh-pairs.txt"
    tokens_file.write_text("\n".join(lines[:30_000]))  # each row spends tokens of its own
    pairs_file.write_text("\n".join(lines[30_000:]))
    env["BENCH_PUBLIC_KEY_PEM"], env["BENCH_ISSUER"] = prepared["pem"], ISSUER
    bearer = {"Authorization": f"Bearer {prepared['access']}"}
    results: dict[str, dict[str, float]] = {}
    servers = []
    try:
        bare_url, bare = gunicorn("bench.bare_app:app", env, args.workers, work / "bare.log")
        servers.append(bare)
        wait_up(bare_url + "/json", bare)
        results["bare Flask JSON view"] = wrk(bare_url + "/json", args.seconds, args.connections)
        results["bare Flask + PyJWT ES256 decode"] = wrk(
            bare_url + "/decode", args.seconds, args.connections, bearer
        )
        bare.send_signal(signal.SIGINT)

        url, server = gunicorn("wsgi:app", env, args.workers, work / "authsvc.log")
        servers.append(server)
        wait_up(url + "/api/v1/health", server)
        results["authsvc /auth/verify"] = wrk(
            url + "/api/v1/auth/verify", args.seconds, args.connections, bearer
        )
        results["authsvc /auth/refresh"] = wrk(
            url,
            args.seconds,
            args.connections,
            script=ROOT / "bench" / "refresh.lua",
            env={"BENCH_REFRESH_TOKENS": str(tokens_file)},
        )
        results["authsvc /auth/refresh, in pairs (2 requests per token)"] = wrk(
            url,
            args.seconds,
            args.connections,
            script=ROOT / "bench" / "refresh_pairs.lua",
            env={"BENCH_REFRESH_TOKENS": str(pairs_file)},
        )
        argon2_before = argon2_verify_ms()  # the reference, timed next to the login row
        results["authsvc /auth/login (1 connection)"] = wrk(
            url + "/api/v1/auth/login", args.seconds, 1, script=_login_script(work), env={}
        )
        argon2 = (argon2_before + argon2_verify_ms()) / 2
        rss = rss_mb(server)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

        print(f"inserting {args.revoked:,} revoked jtis ...", flush=True)
        _insert_revoked(env, args.revoked)
        url, server = gunicorn("wsgi:app", env, args.workers, work / "authsvc2.log")
        servers.append(server)
        wait_up(url + "/api/v1/health", server)
        results[f"authsvc /auth/verify, {args.revoked:,} revoked"] = wrk(
            url + "/api/v1/auth/verify", args.seconds, args.connections, bearer
        )
        rss += rss_mb(server)
    finally:
        for process in servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
    report(results, argon2, rss, args)


def _login_script(work: Path) -> Path:
    script = work / "login.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"email": "bench@example.com", "password": "{PASSWORD}"}}\'\n'
    )
    return script


def _insert_revoked(env: dict[str, str], count: int) -> None:
    code = (
        "import sys; sys.path.insert(0, '.'); from bench.run import prepare_revoked; "
        f"prepare_revoked({count})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def prepare_revoked(count: int) -> None:
    from sqlalchemy import insert

    from authsvc import create_app
    from authsvc.core import clock
    from authsvc.extensions import db
    from authsvc.models import RevokedToken

    app = create_app()
    with app.app_context():
        now = clock.now()
        expires = now.replace(year=now.year + 1)
        for start in range(0, count, 50_000):
            db.session.execute(
                insert(RevokedToken),
                [
                    {"jti": f"{i:032x}", "expires_at": expires, "revoked_at": now}
                    for i in range(start, min(count, start + 50_000))
                ],
            )
        db.session.commit()


def report(
    results: dict[str, dict[str, float]],
    argon2_ms: float,
    rss: list[float],
    args: argparse.Namespace,
) -> None:
    print(
        f"\n{os.cpu_count()} cores, {args.workers} gunicorn workers, wrk -t1 -c{args.connections} "
        f"for {args.seconds} s per row (login: -c1)\n"
    )
    print("| measurement | requests/s | median ms | non-2xx |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['errors']} |")
    decode = results["bare Flask + PyJWT ES256 decode"]["rps"]
    verify = results["authsvc /auth/verify"]["rps"]
    revoked = next(v["rps"] for k, v in results.items() if "revoked" in k)
    login = results["authsvc /auth/login (1 connection)"]["p50_ms"]
    refresh = results["authsvc /auth/refresh"]["rps"]
    print("\n| ratio | value | target |\n|---|---:|---|")
    print(f"| verify / bare decode | {verify / decode:.2f} | >= 0.9 |")
    print(f"| verify with revoked rows / verify | {verify / revoked:.2f} (slowdown) | <= 1.1 |")
    print(
        f"| login median / one argon2id verify ({argon2_ms:.1f} ms) | {login / argon2_ms:.2f} | <= 1.15 |"
    )
    pairs = results["authsvc /auth/refresh, in pairs (2 requests per token)"]["rps"]
    print(f"| refresh requests/s | {refresh:.0f} | >= 500 |")
    print(
        f"| refresh in pairs / plain refresh | {pairs / refresh:.2f} | (a replay signs, never writes twice) |"
    )
    print(f"| worker RSS, MB (max of {len(rss)}) | {max(rss):.0f} | <= 80 |")


if __name__ == "__main__":
    main()
