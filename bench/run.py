"""Benchmark authsvc against bare Flask baselines and a stock simplejwt service, in one run,
with one load generator (wrk).

Run by hand from the repository root:

    .venv/bin/python bench/run.py [--seconds 10] [--postgres URL] [--postgres-database NAME]
                                  [--no-simplejwt] [--servers]

Every part runs its services side by side and measures them in turns, so that all of them
see the same load from whatever else shares the machine:

- verify: the floor (`bench/bare_app.py`: a bare Flask view doing only PyJWT's ES256
  decode), authsvc's `/auth/verify` and simplejwt's authenticated view, twice each; the
  floor and verify again with `Connection: close`;
- status lists: `GET /api/v1/status-lists/0` of a list with 1 % of 1,000,000 revoked
  (a full `200`, and a `304` to `If-None-Match`);
- refresh: authsvc's and simplejwt's (rotation + blacklist, SQLite), twice each; authsvc's
  in pairs (8 clients, each token sent twice at once, as two tabs or a retry would; both
  answered 200 within the reuse window);
- login beside one argon2id verification; verify with 1,000,000 revoked jtis; refresh on
  PostgreSQL; the workers' RSS;
- `--servers`: verify and the floor under gunicorn gevent (shipped), gthread and sync, and
  granian, with keep-alive and without.

The simplejwt service (`bench/simplejwt/`) and granian run from venvs of their own that this
script makes on first use (bench/.venv-simplejwt, bench/.venv-granian: pip, so the package
index must be reachable once). Needs `wrk` (Debian: apt-get install wrk). Prints a table of
requests per second, server CPU per request and the ratios the targets are stated in;
nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Quartz-meadow-91-lantern"
SECRET = "bench-instance-secret-0123456789-abcdefghijkl"
ISSUER = "http://127.0.0.1"
SHIPPED_CONFIG = ROOT / "gunicorn.conf.py"

SIMPLEJWT_VENV = ROOT / "bench" / ".venv-simplejwt"
SIMPLEJWT_CONFIG = ROOT / "bench" / "simplejwt" / "gunicorn.conf.py"
# The simplejwt venv gets these at the versions this venv has: the same server, and the same
# PyJWT and cryptography doing the ES256 work, as authsvc and the floor.
SAME_AS_AUTHSVC = ("gunicorn", "gevent", "packaging", "pyjwt", "cryptography")
GRANIAN_VENV = ROOT / "bench" / ".venv-granian"
GRANIAN = "granian==2.8.9"

# A status list as bench/status_lists.py sizes it: 1,000,000 indices handed out, 1 % revoked
# at random (sessions end in any order).
STATUS_ISSUED = 1_000_000
STATUS_REVOKED = STATUS_ISSUED // 100

Row = dict[str, float]


# --- processes and measurement ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    """Until `url` answers at all (a 401 of an authenticated route counts: it is up)."""
    deadline = time.monotonic() + 120  # a loaded machine starts a server slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {url}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start: {url}")


def launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`cmd` in the repository with its output in `log`, and a metrics folder of its own: a
    gunicorn master empties its folder at start, which must not race another's."""
    metrics = log.with_suffix(".metrics")
    metrics.mkdir()
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with open(log, "wb") as output:  # the server keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def gunicorn(
    app: str,
    env: dict[str, str],
    workers: int,
    log: Path,
    *,
    python: Path | str = sys.executable,
    config: Path = SHIPPED_CONFIG,
    options: tuple[str, ...] = (),
) -> tuple[str, subprocess.Popen[bytes]]:
    """gunicorn with `config` (the shipped one unless said); `options` on the command line
    override it (e.g. another worker class)."""
    port = free_port()
    env = {**env, "AUTHSVC_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    cmd = [str(python), "-m", "gunicorn", "-c", str(config), *options, app]
    return f"http://127.0.0.1:{port}", launch(cmd, env, log)


def granian(
    app: str, env: dict[str, str], workers: int, log: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """granian's WSGI interface, HTTP/1 with its default keep-alive, `workers` processes."""
    port = free_port()
    cmd = [
        str(granian_venv() / "bin" / "granian"),
        *("--interface", "wsgi", "--http", "1", "--no-ws", "--workers", str(workers)),
        *("--host", "127.0.0.1", "--port", str(port)),
        app,
    ]
    return f"http://127.0.0.1:{port}", launch(cmd, env, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def cpu_ticks(master: subprocess.Popen[bytes]) -> dict[int, int]:
    """user + system clock ticks so far of the server's processes: the master and every
    process under it (gunicorn's workers are its children; so are granian's), each with
    its children that have exited (a worker recycled by max_requests counts in its master's).

    Read until two readings in a row see the same processes: a worker reaped between the
    reading of its master and its own would count in neither (seen once: -27 µs a request).
    """
    last = _ticks_once(master)
    while True:
        now = _ticks_once(master)
        if now.keys() == last.keys():
            return now
        last = now


def _ticks_once(master: subprocess.Popen[bytes]) -> dict[int, int]:
    pids, ticks = [master.pid], {}
    while pids:
        pid = pids.pop()
        pids += _children(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # recycled (max_requests) just now
            continue
        ticks[pid] = sum(int(field) for field in fields[11:15])  # utime stime cutime cstime
    return ticks


def wrk(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    server: subprocess.Popen[bytes] | None = None,
) -> Row:
    """Requests/s, median latency, non-2xx-or-3xx count and, with `server`, its CPU time per
    request: on a shared machine the CPU cost is the steadier measure."""
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
    # A worker recycled during the row (max_requests) is gone from `after`, its whole life
    # now in its master's; the totals' difference counts exactly its ticks in the row.
    spent = sum(after.values()) - sum(before.values())
    count = int(_find(r"(\d+) requests in", out))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert p50 is not None, out
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        "p50_ms": float(p50.group(1)) * scale,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "cpu_us": spent * 1e6 / os.sysconf("SC_CLK_TCK") / max(count, 1)
        if server
        else float("nan"),
    }


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise SystemExit(f"wrk said:\n{text}")
    return found.group(1)


AT_REST = 2.5  # seconds: a worker gives free heap pages back once a second (gunicorn.conf.py)


def rss_mb(master: subprocess.Popen[bytes]) -> list[float]:
    sizes = []
    for pid in _children(master.pid):
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(_find(r"VmRSS:\s+(\d+)", status)) / 1024)
    return sizes


def bench_venv(path: Path, requirements: list[str]) -> Path:
    """A venv of the benchmark's own at `path` holding `requirements`, made on first use
    (pip from the package index) and made again when the list changes. Never the project's
    venv: nothing of it reaches setup.cfg."""
    python, stamp = path / "bin" / "python", path / ".bench-requirements"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"making {path.relative_to(ROOT)} (pip: {' '.join(requirements)}) ...", flush=True)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    stamp.write_text(wanted)
    return python


def simplejwt_venv() -> Path:
    listed = (ROOT / "bench" / "simplejwt" / "requirements.txt").read_text().splitlines()
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in SAME_AS_AUTHSVC]
    return bench_venv(
        SIMPLEJWT_VENV, [line for line in listed if line and not line.startswith("#")] + pins
    )


def granian_venv() -> Path:
    """granian alone, seeing this venv's packages through a .pth file: authsvc and the floor
    run under it with exactly the libraries they run with under gunicorn."""
    ours = sysconfig.get_paths()["purelib"]
    python = bench_venv(GRANIAN_VENV, [GRANIAN])
    theirs = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(theirs, "authsvc-bench.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return GRANIAN_VENV


# --- preparing the services' data ------------------------------------------------------


def prepare(
    env: dict[str, str], refresh_count: int, revoked: int, status_list: bool = False
) -> dict[str, str]:
    """Create the user, an access token, `refresh_count` refresh tokens; optionally revoked
    rows, and (`status_list`, SQLite) status list 0 filled as `STATUS_ISSUED` says."""
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
        expires = now.replace(year=now.year + 1)
        if revoked:
            rows = [
                {"jti": f"{i:032x}", "expires_at": expires, "revoked_at": now}
                for i in range(revoked)
            ]
            for start in range(0, revoked, 50_000):
                db.session.execute(insert(RevokedToken), rows[start : start + 50_000])
            db.session.commit()
        if status_list:
            # As bench/status_lists.py does: revoked jtis holding indices picked at random
            # past the sessions' own, and the counter moved on to the indices handed out.
            taken = db.session.execute(
                db.text("SELECT next_idx FROM status_index_counter WHERE id = 1")
            ).scalar_one()
            picked = random.Random(18).sample(range(taken, STATUS_ISSUED), STATUS_REVOKED)
            db.session.execute(
                insert(RevokedToken),
                [
                    {"jti": f"s{i}", "expires_at": expires, "revoked_at": now, "status_idx": i}
                    for i in picked
                ],
            )
            db.session.execute(
                db.text("UPDATE status_index_counter SET next_idx = :n WHERE id = 1"),
                {"n": STATUS_ISSUED},
            )
            db.session.commit()
    return {"access": pair.access_token, "refresh_lines": "\n".join(lines), "pem": pem}


def prepare_tokens(path: str, count: int) -> None:
    """In a process of its own (its settings are its environment's): user and refresh tokens."""
    prepared = prepare(dict(os.environ), refresh_count=count, revoked=0)
    Path(path).write_text(prepared["refresh_lines"])


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


def _in_subprocess(code: str, env: dict[str, str]) -> None:
    """Run `code` (importing from this file) in a fresh interpreter with `env`."""
    prelude = "import sys; sys.path.insert(0, '.'); "
    subprocess.run([sys.executable, "-c", prelude + code], cwd=ROOT, env=env, check=True)


def split_lines(lines: list[str], sizes: dict[str, int], work: Path) -> dict[str, Path]:
    """One file of tokens per row, so that no row spends a token another already spent."""
    files, start = {}, 0
    for name, size in sizes.items():
        files[name] = work / f"{name}.txt"
        files[name].write_text("\n".join(lines[start : start + size]))
        start += size
    return files


@dataclass
class SimpleJWT:
    url: str
    process: subprocess.Popen[bytes]
    bearer: dict[str, str]
    refresh: dict[str, Path]  # a file of tokens per turn


def start_simplejwt(bench: Bench, turns: int, per_turn: int) -> SimpleJWT:
    """The stock simplejwt service (bench/simplejwt/) on SQLite with a fresh ES256 key pair,
    its user, an access token and `turns` files of refresh tokens, under gunicorn with the
    shipped server settings (bench/simplejwt/gunicorn.conf.py says why it is a mirror)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    python = simplejwt_venv()
    key = ec.generate_private_key(ec.SECP256R1())
    env = {
        **bench.env,
        "DJANGO_SETTINGS_MODULE": "bench.simplejwt.settings",
        "BENCH_SIMPLEJWT_DB": str(bench.work / "simplejwt.sqlite3"),
        "BENCH_SIMPLEJWT_SIGNING_KEY": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "BENCH_SIMPLEJWT_VERIFYING_KEY": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }
    out = bench.work / "simplejwt"
    out.mkdir()
    subprocess.run(
        [str(python), "-m", "bench.simplejwt.prepare", str(out), str(turns * per_turn)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    lines = (out / "refresh.txt").read_text().split("\n")
    files = split_lines(lines, {f"simplejwt-refresh-{t}": per_turn for t in range(turns)}, out)
    url, process = bench.start(
        gunicorn(
            "bench.simplejwt.wsgi:application",
            env,
            bench.args.workers,
            bench.work / "simplejwt.log",
            python=python,
            config=SIMPLEJWT_CONFIG,
        )
    )
    access = (out / "access.txt").read_text()
    return SimpleJWT(url, process, {"Authorization": f"Bearer {access}"}, files)


# --- the run ---------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    env: dict[str, str]
    work: Path
    results: dict[str, Row] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, server: tuple[str, subprocess.Popen[bytes]]
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """Remember a started server, so that it is stopped whatever happens."""
        self.started.append(server[1])
        return server

    def measure(
        self,
        name: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        script: Path | None = None,
        env: dict[str, str] | None = None,
        server: subprocess.Popen[bytes] | None = None,
        connections: int | None = None,
    ) -> Row:
        """One wrk row, kept under `name` and shown at once (a run takes minutes)."""
        row = wrk(
            url,
            self.args.seconds,
            connections or self.args.connections,
            headers,
            script,
            env,
            server,
        )
        self.results[name] = row
        print(f"  {name}: {row['rps']:.0f}/s, {row['cpu_us']:.0f} µs CPU", flush=True)
        return row


FLOOR = "bare Flask + PyJWT ES256 decode (the floor)"
VERIFY = "authsvc /auth/verify"
SIMPLEJWT_VIEW = "simplejwt authenticated view"
FLOOR_CLOSE = "the floor, no keep-alive (Connection: close)"
VERIFY_CLOSE = "authsvc /auth/verify, no keep-alive (Connection: close)"
STATUS_200 = "authsvc GET /status-lists/0 (200, 1 % of 1,000,000 revoked)"
STATUS_304 = "authsvc GET /status-lists/0 (304, If-None-Match)"
REFRESH = "authsvc /auth/refresh (SQLite)"
SIMPLEJWT_REFRESH = "simplejwt refresh (rotation + blacklist, SQLite)"
PAIRS = "authsvc /auth/refresh, in pairs (2 requests per token)"
REFRESH_PG = "authsvc /auth/refresh (PostgreSQL)"
LOGIN = "authsvc /auth/login (1 connection)"
AGAIN = ", again"


def part_verify(
    bench: Bench,
    floor: tuple[str, subprocess.Popen[bytes]],
    authsvc: tuple[str, subprocess.Popen[bytes]],
    simplejwt: SimpleJWT | None,
    bearer: dict[str, str],
) -> None:
    """The floor, verify and simplejwt's view in turns (two each), then the floor and
    verify without keep-alive."""
    (floor_url, floor_server), (url, server) = floor, authsvc
    close = {**bearer, "Connection": "close"}
    verify = url + "/api/v1/auth/verify"
    bench.measure("bare Flask JSON view", floor_url + "/json", server=floor_server)
    for again in ("", AGAIN):
        bench.measure(FLOOR + again, floor_url + "/decode", headers=bearer, server=floor_server)
        bench.measure(VERIFY + again, verify, headers=bearer, server=server)
        if simplejwt:
            bench.measure(
                SIMPLEJWT_VIEW + again,
                simplejwt.url + "/api/me/",
                headers=simplejwt.bearer,
                server=simplejwt.process,
            )
    bench.measure(FLOOR_CLOSE, floor_url + "/decode", headers=close, server=floor_server)
    bench.measure(VERIFY_CLOSE, verify, headers=close, server=server)


def part_status_lists(bench: Bench, url: str, server: subprocess.Popen[bytes]) -> None:
    """What a verifier's poll costs the service: the whole list, and the `304` a poll of an
    unchanged list gets (nothing writes between the two rows)."""
    list_url = url + "/api/v1/status-lists/0"
    with urllib.request.urlopen(list_url, timeout=30) as response:
        tag = response.headers["ETag"]
        size = len(response.read())
    print(f"  (status list 0: {size:,} bytes, ETag {tag})", flush=True)
    bench.measure(STATUS_200, list_url, server=server)
    bench.measure(STATUS_304, list_url, headers={"If-None-Match": tag}, server=server)


def part_refresh(
    bench: Bench,
    url: str,
    server: subprocess.Popen[bytes],
    tokens: dict[str, Path],
    simplejwt: SimpleJWT | None,
) -> None:
    """authsvc's refresh and simplejwt's in turns (two each), then authsvc's in pairs."""
    script = ROOT / "bench" / "refresh.lua"
    for turn, again in enumerate(("", AGAIN)):
        bench.measure(
            REFRESH + again,
            url,
            script=script,
            env={"BENCH_REFRESH_TOKENS": str(tokens[f"refresh-{turn}"])},
            server=server,
        )
        if simplejwt:
            bench.measure(
                SIMPLEJWT_REFRESH + again,
                simplejwt.url,
                script=script,
                env={
                    "BENCH_REFRESH_TOKENS": str(simplejwt.refresh[f"simplejwt-refresh-{turn}"]),
                    "BENCH_REFRESH_PATH": "/api/token/refresh/",
                    "BENCH_REFRESH_FIELD": "refresh",
                },
                server=simplejwt.process,
            )
    bench.measure(
        PAIRS,
        url,
        script=ROOT / "bench" / "refresh_pairs.lua",
        env={"BENCH_REFRESH_TOKENS": str(tokens["refresh-pairs"])},
        server=server,
    )


def part_login(bench: Bench, url: str, server: subprocess.Popen[bytes]) -> float:
    """The login row, and one argon2id verification (ms) timed just before and after it."""
    script = bench.work / "login.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"email": "bench@example.com", "password": "{PASSWORD}"}}\'\n'
    )
    before = argon2_verify_ms()
    bench.measure(LOGIN, url + "/api/v1/auth/login", connections=1, script=script, server=server)
    return (before + argon2_verify_ms()) / 2


def argon2_verify_ms(repeats: int = 30) -> float:
    from authsvc.core import passwords

    stored = passwords.hash_password(PASSWORD, passwords.OWASP_MINIMUM)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        passwords.verify(stored, PASSWORD, passwords.OWASP_MINIMUM)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def part_revoked(bench: Bench, bearer: dict[str, str]) -> list[float]:
    """verify again over `--revoked` revoked jtis (a fresh server); its workers' RSS."""
    count = bench.args.revoked
    print(f"inserting {count:,} revoked jtis ...", flush=True)
    _in_subprocess(f"from bench.run import prepare_revoked; prepare_revoked({count})", bench.env)
    url, server = bench.start(
        gunicorn("wsgi:app", bench.env, bench.args.workers, bench.work / "authsvc2.log")
    )
    wait_up(url + "/api/v1/health", server)
    bench.measure(
        f"authsvc /auth/verify, {count:,} revoked",
        url + "/api/v1/auth/verify",
        headers=bearer,
        server=server,
    )
    time.sleep(AT_REST)
    rss = rss_mb(server)
    stop(server)
    return rss


def part_postgres(bench: Bench) -> None:
    """The refresh row again with the database on PostgreSQL (a database of its own)."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(bench.args.postgres)
    name = bench.args.postgres_database
    with psycopg.connect(
        admin.render_as_string(hide_password=False).replace("+psycopg", ""), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    database = admin.set(drivername="postgresql+psycopg", database=name)
    env = {
        **bench.env,
        "AUTHSVC_DATABASE_URL": database.render_as_string(hide_password=False),
        "AUTHSVC_INSTANCE_PATH": str(bench.work / "instance-pg"),
    }
    tokens = bench.work / "refresh-pg.txt"
    _in_subprocess(
        f"from bench.run import prepare_tokens; prepare_tokens({str(tokens)!r}, 8_000)", env
    )
    url, server = bench.start(
        gunicorn("wsgi:app", env, bench.args.workers, bench.work / "authsvc-pg.log")
    )
    wait_up(url + "/api/v1/health", server)
    bench.measure(
        REFRESH_PG,
        url,
        script=ROOT / "bench" / "refresh.lua",
        env={"BENCH_REFRESH_TOKENS": str(tokens)},
        server=server,
    )
    stop(server)


# The servers compared by --servers; None is granian.
SERVERS: dict[str, tuple[str, ...] | None] = {
    "gunicorn gevent (shipped)": (),
    "gunicorn gthread, 8 threads": ("-k", "gthread", "--threads", "8"),
    "gunicorn sync": ("-k", "sync"),
    "granian WSGI": None,
}


def serve(
    bench: Bench, options: tuple[str, ...] | None, app: str, log: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """`app` under gunicorn with `options`, or under granian for None."""
    if options is None:
        return bench.start(granian(app, bench.env, bench.args.workers, log))
    return bench.start(gunicorn(app, bench.env, bench.args.workers, log, options=options))


def part_servers(bench: Bench, bearer: dict[str, str]) -> dict[str, Row]:
    """verify and the floor under each server of `SERVERS` (the floor and authsvc side by
    side, in turns), with keep-alive and with `Connection: close`. gunicorn takes every
    setting of the shipped gunicorn.conf.py but the worker class; granian gets the same
    worker count and its defaults (HTTP/1 keep-alive on)."""
    rows: dict[str, Row] = {}
    for name, options in SERVERS.items():
        print(f"{name} ...", flush=True)
        logs = bench.work / re.sub(r"\W+", "-", name)
        floor_url, floor = serve(bench, options, "bench.bare_app:app", Path(f"{logs}-bare.log"))
        url, server = serve(bench, options, "wsgi:app", Path(f"{logs}.log"))
        wait_up(floor_url + "/json", floor)
        wait_up(url + "/api/v1/health", server)
        for connection in ("keep-alive", "close"):
            headers = bearer if connection == "keep-alive" else {**bearer, "Connection": "close"}
            for app, target, process in (
                ("floor", floor_url + "/decode", floor),
                ("verify", url + "/api/v1/auth/verify", server),
            ):
                row = wrk(
                    target, bench.args.seconds, bench.args.connections, headers, server=process
                )
                rows[f"{name}|{connection}|{app}"] = row
                print(f"  {app}, {connection}: {row['rps']:.0f}/s, {row['cpu_us']:.0f} µs CPU")
        stop(floor)
        stop(server)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--revoked", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where the database --postgres-database may be (re)created; '' to skip",
    )
    parser.add_argument(
        "--postgres-database",
        default="authsvc_bench",
        help="the database the PostgreSQL row drops and creates (default authsvc_bench)",
    )
    parser.add_argument(
        "--no-simplejwt",
        action="store_true",
        help="skip the simplejwt rows (their venv needs the package index on first use)",
    )
    parser.add_argument(
        "--servers",
        action="store_true",
        help="also measure verify and the floor under gunicorn gevent, gthread, sync and "
        "granian, with keep-alive and without",
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
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),  # servers get their own
        }
    )
    (work / "metrics").mkdir()
    bench = Bench(args, env, work)
    load_before = os.getloadavg()
    started_at = time.gmtime()
    print(f"preparing in {work} ...", flush=True)
    # Tokens for 1,200 refreshes/s per authsvc row (pairs: 2,400/s) and 300/s per simplejwt
    # row; past that a row would wrap round to spent tokens and count non-2xx answers.
    per_row = 1_200 * args.seconds
    prepared = prepare(env, refresh_count=3 * per_row, revoked=0, status_list=True)
    tokens = split_lines(
        prepared["refresh_lines"].split("\n"),
        {"refresh-0": per_row, "refresh-1": per_row, "refresh-pairs": per_row},
        work,
    )
    env["BENCH_PUBLIC_KEY_PEM"], env["BENCH_ISSUER"] = prepared["pem"], ISSUER
    bearer = {"Authorization": f"Bearer {prepared['access']}"}
    rss: list[float] = []
    busy: list[float] = []
    servers: dict[str, Row] = {}
    try:
        floor = bench.start(gunicorn("bench.bare_app:app", env, args.workers, work / "bare.log"))
        authsvc = bench.start(gunicorn("wsgi:app", env, args.workers, work / "authsvc.log"))
        simplejwt = None if args.no_simplejwt else start_simplejwt(bench, 2, 300 * args.seconds)
        wait_up(floor[0] + "/json", floor[1])
        wait_up(authsvc[0] + "/api/v1/health", authsvc[1])
        if simplejwt:
            wait_up(simplejwt.url + "/api/me/", simplejwt.process)
        print("measuring ...", flush=True)
        part_verify(bench, floor, authsvc, simplejwt, bearer)
        stop(floor[1])
        part_status_lists(bench, *authsvc)
        part_refresh(bench, *authsvc, tokens, simplejwt)
        if simplejwt:
            stop(simplejwt.process)
        argon2 = part_login(bench, *authsvc)
        # Thousands of verify, refresh and login requests behind them: right after the login
        # row (argon2id's block still held), and at rest (given back within a second).
        busy = rss_mb(authsvc[1])
        time.sleep(AT_REST)
        rss = rss_mb(authsvc[1])
        stop(authsvc[1])
        rss += part_revoked(bench, bearer)
        if args.postgres:
            part_postgres(bench)
        if args.servers:
            servers = part_servers(bench, bearer)
    finally:
        for process in bench.started:
            stop(process)
    report(bench, argon2, rss, busy, servers, started_at, load_before)


def report(
    bench: Bench,
    argon2_ms: float,
    rss: list[float],
    busy: list[float],
    servers: dict[str, Row],
    started_at: time.struct_time,
    load_before: tuple[float, float, float],
) -> None:
    args, results = bench.args, bench.results
    load_after = os.getloadavg()
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M', started_at)} UTC; {os.cpu_count()} cores; load "
        f"average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load_before)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in load_after)} at the end.\n"
        f"{args.workers} gunicorn workers (gunicorn.conf.py: gevent, keep-alive), wrk -t1 "
        f"-c{args.connections} for {args.seconds} s per row (login: -c1); server CPU = user + "
        "system time of the server's processes per request\n"
    )
    print(
        "| measurement | requests/s | median ms | server CPU µs/request | non-2xx |\n"
        "|---|---:|---:|---:|---:|"
    )
    for name, r in results.items():
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['cpu_us']:.0f} | {r['errors']} |"
        )

    def both(key: str, name: str) -> float:
        """The mean of a row's two turns."""
        return (results[name][key] + results[name + AGAIN][key]) / 2

    revoked = next(v for k, v in results.items() if "revoked" in k and "status" not in k)
    login = results[LOGIN]["p50_ms"]
    refresh = both("rps", REFRESH)
    print("\n| ratio | value | target |\n|---|---:|---|")
    ratios = [
        (
            "verify / floor, requests/s (two turns each)",
            both("rps", VERIFY) / both("rps", FLOOR),
            ">= 0.80",
        ),
        (
            "verify / floor, by server CPU per request (floor / verify)",
            both("cpu_us", FLOOR) / both("cpu_us", VERIFY),
            ">= 0.80",
        ),
    ]
    if SIMPLEJWT_VIEW in results:
        ratios += [
            (
                "verify / simplejwt authenticated view, requests/s (two turns each)",
                both("rps", VERIFY) / both("rps", SIMPLEJWT_VIEW),
                ">= 2.5",
            ),
            (
                "verify / simplejwt authenticated view, by CPU per request",
                both("cpu_us", SIMPLEJWT_VIEW) / both("cpu_us", VERIFY),
                "",
            ),
            (
                "refresh / simplejwt refresh, requests/s (two turns each)",
                refresh / both("rps", SIMPLEJWT_REFRESH),
                ">= 4.0",
            ),
            (
                "refresh / simplejwt refresh, by CPU per request",
                both("cpu_us", SIMPLEJWT_REFRESH) / both("cpu_us", REFRESH),
                "",
            ),
        ]
    ratios += [
        (
            "without keep-alive: verify / floor, requests/s",
            results[VERIFY_CLOSE]["rps"] / results[FLOOR_CLOSE]["rps"],
            "",
        ),
        (
            "verify, keep-alive / without, requests/s",
            both("rps", VERIFY) / results[VERIFY_CLOSE]["rps"],
            "",
        ),
        (
            "verify with revoked rows: slowdown (CPU per request)",
            revoked["cpu_us"] / results[VERIFY]["cpu_us"],
            "<= 1.1",
        ),
        (
            "status list: 304 / 200, by CPU per request",
            results[STATUS_304]["cpu_us"] / results[STATUS_200]["cpu_us"],
            "",
        ),
        (f"login median / one argon2id verify ({argon2_ms:.1f} ms)", login / argon2_ms, "<= 1.15"),
    ]
    for name, value, target in ratios:
        print(f"| {name} | {value:.2f} | {target} |")
    print(f"| refresh requests/s, SQLite (two turns) | {refresh:.0f} | >= 500 |")
    if REFRESH_PG in results:
        print(f"| refresh requests/s, PostgreSQL | {results[REFRESH_PG]['rps']:.0f} | >= 600 |")
    print(
        f"| refresh in pairs / plain refresh | {results[PAIRS]['rps'] / refresh:.2f} | "
        "(a replay signs, never writes twice) |"
    )
    print(
        f"| worker RSS at rest, MB (max of {len(rss)}, {AT_REST} s after the rows) | {max(rss):.0f} | <= 80 |"
    )
    print(
        f"| worker RSS right after the login row, MB (max of {len(busy)}) | {max(busy):.0f} | "
        "(argon2id's block, held while logins run) |"
    )
    if servers:
        report_servers(servers, args)


def report_servers(rows: dict[str, Row], args: argparse.Namespace) -> None:
    print(
        f"\nServers ({args.workers} workers each; the floor and authsvc side by side, in turns; "
        f"wrk -t1 -c{args.connections}, {args.seconds} s per row)\n\n"
        "| server | connection | floor requests/s | floor CPU µs/request | verify requests/s "
        "| verify CPU µs/request | verify / floor (requests/s) | non-2xx |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )
    for name in SERVERS:
        for connection in ("keep-alive", "close"):
            floor = rows[f"{name}|{connection}|floor"]
            verify = rows[f"{name}|{connection}|verify"]
            label = "keep-alive" if connection == "keep-alive" else "`Connection: close`"
            print(
                f"| {name} | {label} | {floor['rps']:.0f} | {floor['cpu_us']:.0f} | "
                f"{verify['rps']:.0f} | {verify['cpu_us']:.0f} | "
                f"{verify['rps'] / floor['rps']:.2f} | {floor['errors'] + verify['errors']:.0f} |"
            )


if __name__ == "__main__":
    main()
