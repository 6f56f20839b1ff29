"""Size and cost of a Token Status List (run by hand): `python bench/status_lists.py`.

1. Encoding: the statuses of 1,000,000 issued tokens with 1 % revoked (random indices, as
   sessions end in any order), packed at 2 bits each, deflated and signed as authsvc does.
2. Serving, through the Flask test client over a SQLite database holding 10,000 revoked
   rows for one list of 2^20: a fetch after a revocation (the list is built and signed), a
   fetch of an unchanged list (the version probe and the cached bytes), and a 304.
3. A real gunicorn authsvc and `authsvc.verifier` in this process: the verifier's added
   cost per request (following the lists versus not), and how soon after `POST
   /auth/logout` returns the verifier refuses the token (ttl 1 s, 100 trials, p50/p99/max).

`--quick` skips part 3 (about two minutes). The fetch over a real server (gunicorn, wrk:
a `200` and a `304` of a list sized as in part 2) is a row of `bench/run.py`, beside every
other row of that run. Every figure comes from the same run; the
machine is shared, so compare the ratios of one run rather than runs of different days.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from authsvc.core import keys, status_list  # noqa: E402
from bench.run import stop  # noqa: E402

ISSUED = 1_000_000
REVOKED = ISSUED // 100
SECRET = "b" * 48


def timed(fn: Callable[[], object], runs: int = 20) -> float:
    """Median wall time of `fn` in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def encoding() -> None:
    rng = random.Random(18)
    revoked = dict.fromkeys(rng.sample(range(ISSUED), REVOKED), 1)
    raw = status_list.pack(revoked, size=status_list.LIST_SIZE)
    lst = status_list.encode_lst(raw)
    key = keys.load("ES256", keys.generate("ES256"))
    token = status_list.sign(
        uri="https://authsvc.example/api/v1/status-lists/0",
        raw=raw,
        key=key,
        now=datetime.now(UTC),
        ttl=2,
        lifetime=3600,
    )
    import base64
    import zlib

    level9 = base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=")
    print(
        f"indices per list          {status_list.LIST_SIZE:>10,} ({ISSUED:,} issued, {REVOKED:,} revoked)"
    )
    print(f"raw list                  {len(raw):>10,} bytes")
    print(f"lst (Z_RLE + base64url)   {len(lst):>10,} bytes (level 9: {len(level9):,})")
    print(f"signed list JWT           {len(token):>10,} bytes")
    print(f"pack                      {timed(lambda: status_list.pack(revoked)):>10.1f} ms")
    print(f"deflate (Z_RLE)           {timed(lambda: status_list.encode_lst(raw)):>10.1f} ms")
    print(f"deflate (level 9)         {timed(lambda: zlib.compress(raw, 9), runs=5):>10.1f} ms")
    print(f"verifier: inflate         {timed(lambda: status_list.decode_lst(lst)):>10.1f} ms")
    worst = dict.fromkeys(range(0, ISSUED, 100), 1)  # evenly spread: the least compressible 1 %
    print(
        f"evenly spread 1 %: lst    {len(status_list.encode_lst(status_list.pack(worst))):>10,} bytes"
    )


def endpoint() -> None:
    from sqlalchemy import insert

    from authsvc import create_app
    from authsvc.extensions import db
    from authsvc.models import RevokedToken
    from authsvc.services import status_lists

    logging.getLogger("authsvc.access").disabled = True  # a log line per request is not served
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUTHSVC_INSTANCE_PATH"] = tmp
        app = create_app(
            {"AUTHSVC_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "AUTHSVC_SECRET_KEY": SECRET}
        )
        rng = random.Random(18)
        later = datetime.now(UTC) + timedelta(hours=1)
        picked = rng.sample(range(ISSUED), REVOKED + 20)
        with app.app_context():
            db.session.execute(
                insert(RevokedToken),
                [
                    {"jti": f"j{i}", "expires_at": later, "revoked_at": later, "status_idx": i}
                    for i in picked[:REVOKED]
                ],
            )
            db.session.execute(
                db.text("UPDATE status_index_counter SET next_idx = :n WHERE id = 1"), {"n": ISSUED}
            )
            db.session.commit()
            assert len(status_lists.statuses(0)) == REVOKED
        client = app.test_client()
        more = iter(picked[REVOKED:])

        def revoke_one() -> None:
            with app.app_context():
                i = next(more)
                db.session.add(
                    RevokedToken(jti=f"k{i}", expires_at=later, revoked_at=later, status_idx=i)
                )
                db.session.commit()

        def after_a_revocation() -> float:
            revoke_one()
            start = time.perf_counter()
            assert client.get("/api/v1/status-lists/0").status_code == 200
            return time.perf_counter() - start

        first = client.get("/api/v1/status-lists/0")
        tag = first.headers["ETag"]
        built = statistics.median(after_a_revocation() for _ in range(10)) * 1000
        tag = client.get("/api/v1/status-lists/0").headers["ETag"]
        probes: dict[str, list[float]] = {"200": [], "304": [], "404": []}
        asks: dict[str, Callable[[], object]] = {
            "200": lambda: client.get("/api/v1/status-lists/0"),
            "304": lambda: client.get("/api/v1/status-lists/0", headers={"If-None-Match": tag}),
            "404": lambda: client.get("/api/v1/no-such-route"),
        }
        for _ in range(300):  # interleaved, so the three see the same load
            for name, ask in asks.items():
                start = time.perf_counter()
                ask()
                probes[name].append(time.perf_counter() - start)
        full, cached, floor = (statistics.median(probes[n]) * 1000 for n in ("200", "304", "404"))
        assert (
            client.get("/api/v1/status-lists/0", headers={"If-None-Match": tag}).status_code == 304
        )
        size = len(client.get("/api/v1/status-lists/0").get_data())
        print(
            f"GET list after a change   {built:>10.1f} ms (probe, read 10,000 rows, pack, deflate, sign)"
        )
        print(f"GET list (200, unchanged) {full:>10.2f} ms, {size:,} bytes")
        print(f"GET list (304)            {cached:>10.2f} ms, 0 bytes of body")
        print(f"  for scale: a 404 of an unknown route {floor:.2f} ms through the same test client")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    import json

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def real_server(trials: int = 100, ttl: int = 1) -> None:
    import jwt

    from authsvc import create_app
    from authsvc.core import tokens
    from authsvc.core.principal import Client
    from authsvc.services import users
    from authsvc.verifier import Verifier

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "AUTHSVC_SECRET_KEY": SECRET,
            "AUTHSVC_ISSUER": "http://authsvc.bench",
            "AUTHSVC_STATUS_LIST_TTL": str(ttl),
            "AUTHSVC_ADDRESS_RATE": "10000 per minute",  # 100 logins from one address
        }
        os.environ["AUTHSVC_INSTANCE_PATH"] = f"{tmp}/instance"
        app = create_app({k: int(v) if v.isdigit() else v for k, v in env.items()})
        with app.app_context():
            users.create_user("bench@example.com", "quiet-Harbour-lantern-42", client=Client())
        port = _free_port()
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
        server_env.update(env)
        server_env.update(
            {
                "AUTHSVC_INSTANCE_PATH": f"{tmp}/instance",
                "AUTHSVC_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": "1",
                "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=tmp),
            }
        )
        log = open(f"{tmp}/server.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120  # a loaded machine starts gunicorn slowly
            while True:
                try:
                    with urllib.request.urlopen(url + "/api/v1/health", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(Path(f"{tmp}/server.log").read_text()[-2000:]) from None
                    time.sleep(0.1)

            def login() -> dict[str, str]:
                pair: dict[str, str] = _http(
                    "POST",
                    url + "/api/v1/auth/login",
                    {"email": "bench@example.com", "password": "quiet-Harbour-lantern-42"},
                )
                return pair

            jwks = url + "/.well-known/jwks.json"
            following = Verifier("http://authsvc.bench", "authsvc", jwks)
            token = login()["access_token"]
            following.verify(token)
            claims = jwt.decode(token, options={"verify_signature": False})
            lists = following.status_lists
            assert lists is not None

            def per_call(fn: Callable[[], object], calls: int = 500) -> float:
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                return (time.perf_counter() - start) / calls * 1e6

            ratios, bases = [], []
            for i in range(100):  # ABBA rounds of one verifier, following or not: same caches
                times = {}
                for follow in (True, False) if i % 2 else (False, True):
                    following.status_lists = lists if follow else None
                    times[follow] = per_call(lambda: following.verify(token), 200)
                following.status_lists = lists
                bases.append(times[False])
                ratios.append(times[True] / times[False])
            base = statistics.median(bases)
            check = min(per_call(lambda: lists.check(claims), 5000) for _ in range(10))
            print(
                f"verifier offline verify   {base:>10.1f} µs; following the lists: "
                f"{(statistics.median(ratios) - 1) * 100:+.1f} % (median of 100 ABBA rounds)"
            )
            print(
                f"  the status check alone  {check:>10.2f} µs per request "
                f"({check / base * 100:.1f} % of an offline verification)"
            )

            delays = []
            for _ in range(trials):
                pair = login()
                following.verify(pair["access_token"])
                time.sleep(random.uniform(0, ttl))  # the logout lands anywhere in a ttl
                _http("POST", url + "/api/v1/auth/logout", token=pair["access_token"])
                returned = time.monotonic()
                while True:
                    try:
                        following.verify(pair["access_token"])
                    except tokens.Revoked:
                        break
                    if time.monotonic() - returned > 10:
                        raise RuntimeError("a logged-out token still accepted after 10 s")
                    time.sleep(0.005)
                delays.append(time.monotonic() - returned)
            delays.sort()
            p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
            print(
                f"logout refused offline    p50 {statistics.median(delays):.2f} s, p99 {p99:.2f} s, "
                f"max {delays[-1]:.2f} s over {trials} trials (ttl {ttl} s; bound ttl + 1 s)"
            )
        finally:
            stop(process)
            log.close()


if __name__ == "__main__":
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    encoding()
    endpoint()
    if "--quick" not in sys.argv:
        real_server()
