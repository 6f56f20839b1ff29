"""Size and cost of a Token Status List (run by hand): `python bench/status_lists.py`.

Builds the statuses of 1,000,000 issued tokens with 1 % revoked (random indices, as
sessions end in any order), packs them at 2 bits each, compresses (ZLIB level 9) and
signs them as authsvc does; then measures a full fetch and a 304 of a real list through
the Flask test client over a SQLite database holding that many revocations.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from authsvc.core import keys, status_list

ISSUED = 1_000_000
REVOKED = ISSUED // 100


def timed(fn, runs: int = 20) -> float:
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
    print(
        f"indices per list        {status_list.LIST_SIZE:>10,} ({ISSUED:,} issued, {REVOKED:,} revoked)"
    )
    print(f"raw list                {len(raw):>10,} bytes")
    print(f"lst (zlib + base64url)  {len(lst):>10,} bytes")
    print(f"signed list JWT         {len(token):>10,} bytes")
    print(
        f"pack + compress         {timed(lambda: status_list.encode_lst(status_list.pack(revoked))):>10.1f} ms"
    )
    print(f"verifier: inflate       {timed(lambda: status_list.decode_lst(lst)):>10.1f} ms")
    worst = dict.fromkeys(range(0, ISSUED, 100), 1)  # evenly spread: the least compressible 1 %
    print(
        f"evenly spread 1 %: lst  {len(status_list.encode_lst(status_list.pack(worst))):>10,} bytes"
    )


def endpoint() -> None:
    from sqlalchemy import insert

    from authsvc import create_app
    from authsvc.extensions import db
    from authsvc.models import RevokedToken

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUTHSVC_INSTANCE_PATH"] = tmp
        app = create_app(
            {"AUTHSVC_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "AUTHSVC_SECRET_KEY": "b" * 48}
        )
        rng = random.Random(18)
        later = datetime.now(UTC) + timedelta(hours=1)
        with app.app_context():
            from authsvc.services import status_lists

            db.session.execute(
                insert(RevokedToken),
                [
                    {"jti": f"j{i}", "expires_at": later, "revoked_at": later, "status_idx": i}
                    for i in rng.sample(range(ISSUED), REVOKED)
                ],
            )
            db.session.execute(
                db.text("UPDATE status_index_counter SET next_idx = :n WHERE id = 1"), {"n": ISSUED}
            )
            db.session.commit()
            assert len(status_lists.statuses(0)) == REVOKED
        client = app.test_client()
        first = client.get("/api/v1/status-lists/0")
        tag = first.headers["ETag"]
        full = timed(lambda: client.get("/api/v1/status-lists/0"), runs=10)
        cached = timed(
            lambda: client.get("/api/v1/status-lists/0", headers={"If-None-Match": tag}), runs=10
        )
        print(f"GET list (200)          {full:>10.1f} ms, {len(first.get_data()):,} bytes")
        print(f"GET list (304)          {cached:>10.1f} ms, 0 bytes of body")


if __name__ == "__main__":
    encoding()
    endpoint()
