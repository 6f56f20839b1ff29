"""Benchmark authsvc against bare Flask baselines, in one run, with one load generator (wrk).

Run by hand from the repository root:  .venv/bin/python bench/run.py [--seconds 10] [--postgres URL]
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


def cpu_ticks(master: subprocess.Popen) -> dict[str, int]:
    """user + system clock ticks of each of the master's workers so far."""
    children = subprocess.run(
        ["pgrep", "-P", str(master.pid)], capture_output=True, text=True
    ).stdout.split()
    ticks = {}
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # recycled (max_requests) just now
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def wrk(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    server: subprocess.Popen | None = None,
) -> dict[str, float]:
    """Requests/s, median latency, non-2xx count and, with `server`, its workers' CPU time
    per request: on a shared machine the CPU cost is the steadier measure."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", str(script)]
    before = cpu_ticks(server) if server else {}
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    after = cpu_ticks(server) if server else {}
    # A worker recycled during the row (max_requests) takes its ticks with it: the
    # figure is then low, never negative.
    spent = sum(t - before.get(pid, 0) for pid, t in after.items())
    count = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "cpu_us": spent * 1e6 / os.sysconf("SC_CLK_TCK") / max(count, 1)
        if server
        else float("nan"),
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
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where the database authsvc_bench may be (re)created; '' to skip",
    )
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
    prepared = prepare(env, refresh_count=24_000, revoked=0)
    lines = prepared["refresh_lines"].split("\n")
    tokens_file, pairs_file = work / "refresh.txt", work / "refresh-pairs.txt"
    tokens_file.write_text("\n".join(lines[:12_000]))  # each row spends tokens of its own
    pairs_file.write_text("\n".join(lines[12_000:]))
    env["BENCH_PUBLIC_KEY_PEM"], env["BENCH_ISSUER"] = prepared["pem"], ISSUER
    bearer = {"Authorization": f"Bearer {prepared['access']}"}
    close = {**bearer, "Connection": "close"}
    results: dict[str, dict[str, float]] = {}
    servers = []
    n, c = args.seconds, args.connections
    try:
        # The floor and authsvc run side by side and are measured in turns, so that both
        # see the same load from whatever else shares the machine.
        bare_url, bare = gunicorn("bench.bare_app:app", env, args.workers, work / "bare.log")
        servers.append(bare)
        url, server = gunicorn("wsgi:app", env, args.workers, work / "authsvc.log")
        servers.append(server)
        wait_up(bare_url + "/json", bare)
        wait_up(url + "/api/v1/health", server)
        verify = url + "/api/v1/auth/verify"
        results["bare Flask JSON view"] = wrk(bare_url + "/json", n, c, server=bare)
        results[FLOOR] = wrk(bare_url + "/decode", n, c, bearer, server=bare)
        results[VERIFY] = wrk(verify, n, c, bearer, server=server)
        results[FLOOR + ", again"] = wrk(bare_url + "/decode", n, c, bearer, server=bare)
        results[VERIFY + ", again"] = wrk(verify, n, c, bearer, server=server)
        results[FLOOR_CLOSE] = wrk(bare_url + "/decode", n, c, close, server=bare)
        results[VERIFY_CLOSE] = wrk(verify, n, c, close, server=server)
        bare.send_signal(signal.SIGINT)
        results[REFRESH] = wrk(
            url,
            n,
            c,
            script=ROOT / "bench" / "refresh.lua",
            env={"BENCH_REFRESH_TOKENS": str(tokens_file)},
            server=server,
        )
        results["authsvc /auth/refresh, in pairs (2 requests per token)"] = wrk(
            url,
            n,
            c,
            script=ROOT / "bench" / "refresh_pairs.lua",
            env={"BENCH_REFRESH_TOKENS": str(pairs_file)},
            server=server,
        )
        argon2_before = argon2_verify_ms()  # the reference, timed next to the login row
        results[LOGIN] = wrk(
            url + "/api/v1/auth/login", n, 1, script=_login_script(work), env={}, server=server
        )
        argon2 = (argon2_before + argon2_verify_ms()) / 2
        rss = rss_mb(server)  # thousands of verify, refresh and login requests behind them
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

        print(f"inserting {args.revoked:,} revoked jtis ...", flush=True)
        _insert_revoked(env, args.revoked)
        url, server = gunicorn("wsgi:app", env, args.workers, work / "authsvc2.log")
        servers.append(server)
        wait_up(url + "/api/v1/health", server)
        results[f"authsvc /auth/verify, {args.revoked:,} revoked"] = wrk(
            url + "/api/v1/auth/verify", n, c, bearer, server=server
        )
        rss += rss_mb(server)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        if args.postgres:
            results[REFRESH_PG] = _postgres_refresh(env, args, work)
    finally:
        for process in servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
    report(results, argon2, rss, args)


FLOOR = "bare Flask + PyJWT ES256 decode (the floor)"
VERIFY = "authsvc /auth/verify"
FLOOR_CLOSE = "the floor, no keep-alive (Connection: close)"
VERIFY_CLOSE = "authsvc /auth/verify, no keep-alive (Connection: close)"
REFRESH = "authsvc /auth/refresh (SQLite)"
REFRESH_PG = "authsvc /auth/refresh (PostgreSQL)"
LOGIN = "authsvc /auth/login (1 connection)"


def _postgres_refresh(
    env: dict[str, str], args: argparse.Namespace, work: Path
) -> dict[str, float]:
    """The refresh row again with the database on PostgreSQL (a database of its own)."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(args.postgres)
    with psycopg.connect(
        admin.render_as_string(hide_password=False).replace("+psycopg", ""), autocommit=True
    ) as conn:
        conn.execute("DROP DATABASE IF EXISTS authsvc_bench")
        conn.execute("CREATE DATABASE authsvc_bench")
    database = admin.set(drivername="postgresql+psycopg", database="authsvc_bench")
    pg_env = {
        **env,
        "AUTHSVC_DATABASE_URL": database.render_as_string(hide_password=False),
        "AUTHSVC_INSTANCE_PATH": str(work / "instance-pg"),
    }
    tokens = work / "refresh-pg.txt"
    code = (
        "import sys; sys.path.insert(0, '.'); from bench.run import prepare_tokens; "
        f"prepare_tokens({str(tokens)!r}, 8_000)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=pg_env, check=True)
    url, server = gunicorn("wsgi:app", pg_env, args.workers, work / "authsvc-pg.log")
    try:
        wait_up(url + "/api/v1/health", server)
        return wrk(
            url,
            args.seconds,
            args.connections,
            script=ROOT / "bench" / "refresh.lua",
            env={"BENCH_REFRESH_TOKENS": str(tokens)},
            server=server,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def prepare_tokens(path: str, count: int) -> None:
    """In a process of its own (its settings are its environment's): user and refresh tokens."""
    prepared = prepare(dict(os.environ), refresh_count=count, revoked=0)
    Path(path).write_text(prepared["refresh_lines"])


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
        f"\n{os.cpu_count()} cores, {args.workers} gunicorn workers (gunicorn.conf.py), wrk -t1 "
        f"-c{args.connections} for {args.seconds} s per row (login: -c1); server CPU = user + "
        "system time of the workers per request\n"
    )
    print(
        "| measurement | requests/s | median ms | server CPU us/request | non-2xx |\n"
        "|---|---:|---:|---:|---:|"
    )
    for name, r in results.items():
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['cpu_us']:.0f} | {r['errors']} |"
        )

    def both(key: str, names: tuple[str, ...]) -> float:
        return sum(results[name][key] for name in names) / len(names)

    floors, verifies = (FLOOR, FLOOR + ", again"), (VERIFY, VERIFY + ", again")
    rps_ratio = both("rps", verifies) / both("rps", floors)
    cpu_ratio = both("cpu_us", floors) / both("cpu_us", verifies)
    revoked = next(v for k, v in results.items() if "revoked" in k)
    login = results[LOGIN]["p50_ms"]
    refresh = results[REFRESH]["rps"]
    print("\n| ratio | value | target |\n|---|---:|---|")
    print(f"| verify / floor, requests/s (two turns each) | {rps_ratio:.2f} | >= 0.80 |")
    print(
        f"| verify / floor, by server CPU per request (floor / verify) | {cpu_ratio:.2f} | >= 0.80 |"
    )
    print(
        f"| without keep-alive: verify / floor, requests/s | "
        f"{results[VERIFY_CLOSE]['rps'] / results[FLOOR_CLOSE]['rps']:.2f} | |"
    )
    print(
        f"| verify, keep-alive / without, requests/s | "
        f"{both('rps', verifies) / results[VERIFY_CLOSE]['rps']:.2f} | |"
    )
    print(
        f"| verify with revoked rows: slowdown (CPU per request) | "
        f"{revoked['cpu_us'] / results[VERIFY]['cpu_us']:.2f} | <= 1.1 |"
    )
    print(
        f"| login median / one argon2id verify ({argon2_ms:.1f} ms) | {login / argon2_ms:.2f} | <= 1.15 |"
    )
    pairs = results["authsvc /auth/refresh, in pairs (2 requests per token)"]["rps"]
    print(f"| refresh requests/s, SQLite | {refresh:.0f} | >= 500 |")
    if REFRESH_PG in results:
        print(f"| refresh requests/s, PostgreSQL | {results[REFRESH_PG]['rps']:.0f} | >= 600 |")
    print(
        f"| refresh in pairs / plain refresh | {pairs / refresh:.2f} | (a replay signs, never writes twice) |"
    )
    print(f"| worker RSS, MB (max of {len(rss)}) | {max(rss):.0f} | <= 80 |")


if __name__ == "__main__":
    main()
