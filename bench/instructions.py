"""Instructions per request, counted by valgrind's callgrind: the one measure of this
benchmark that other load on the machine does not move (docs/performance.md).

Run by hand from the repository root:  .venv/bin/python bench/instructions.py [--requests 200]
Each target runs in a process of its own under `valgrind --tool=callgrind` with
instrumentation off; after the app is built and warmed up, the process asks to be counted
(`callgrind_control -i on`), calls the WSGI app `--requests` times in-process (no socket,
no server) and stops the count. Targets: the floor (bench/bare_app.py's ES256 decode view),
authsvc's `/auth/verify` with an access token and with a private token. Instructions are
not time (the signature check runs at a higher rate per cycle than the interpreter), so
this ranks changes to the Python path; `bench/run.py` measures time.
Needs valgrind (Debian: apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("floor", "verify (access token)", "verify (private token)")


def _environ(path: str, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }


def _child(target: str, requests: int, handshake: Path) -> None:
    """Build the app, warm it up, then make `requests` calls between two handshakes."""
    sys.path.insert(0, str(ROOT))
    from bench.run import PASSWORD, prepare

    work = Path(tempfile.mkdtemp(prefix="authsvc-instructions-"))
    (work / "metrics").mkdir()
    env = {
        "AUTHSVC_INSTANCE_PATH": str(work / "instance"),
        "AUTHSVC_SECRET_KEY": "bench-instance-secret-0123456789-abcdefghijkl",
        "AUTHSVC_ISSUER": "http://127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
    }
    prepared = prepare(env, refresh_count=0, revoked=0)
    os.environ.update(env)
    os.environ["BENCH_PUBLIC_KEY_PEM"], os.environ["BENCH_ISSUER"] = (
        prepared["pem"],
        "http://127.0.0.1",
    )
    from authsvc import create_app

    app: Any
    token = prepared["access"]
    if target == "floor":
        from bench.bare_app import app

        path = "/decode"
    else:
        app, path = create_app(), "/api/v1/auth/verify"
        if "private" in target:
            token = _private_token(app, prepared["access"], PASSWORD)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the life of the process
    sys.stderr = devnull  # the access log's lines

    def call() -> None:
        status: list[str] = []
        b"".join(app(_environ(path, token), lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{target}: {status[0]}")

    for _ in range(50):
        call()
    _wait(handshake, "ready")
    for _ in range(requests):
        call()
    _wait(handshake, "done")


def _private_token(app: Any, access: str, password: str) -> str:
    client = app.test_client()
    r = client.post(
        "/api/v1/private-tokens",
        json={"name": "bench", "scopes": [], "expires_in_days": 30, "current_password": password},
        headers={"Authorization": f"Bearer {access}"},
    )
    if r.status_code != 201:
        raise SystemExit(f"private token: {r.status_code} {r.get_data(as_text=True)}")
    token: str = r.get_json()["token"]
    return token


def _wait(handshake: Path, step: str) -> None:
    (handshake / step).touch()
    while not (handshake / f"{step}.ack").exists():
        time.sleep(0.05)


def count(target: str, requests: int) -> int:
    """Instructions the target spent on `requests` calls, as callgrind counted them."""
    handshake = Path(tempfile.mkdtemp(prefix="authsvc-callgrind-"))
    out = handshake / "callgrind.out"
    child = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            target,
            "--requests",
            str(requests),
            "--handshake",
            str(handshake),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for step, switch in (("ready", "on"), ("done", "off")):
            while not (handshake / step).exists():
                if child.poll() is not None:
                    raise SystemExit(f"{target}: the process under valgrind exited")
                time.sleep(0.1)
            subprocess.run(
                ["callgrind_control", "-i", switch, str(child.pid)], check=True, capture_output=True
            )
            (handshake / f"{step}.ack").touch()
        child.wait(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{target}: no totals in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--handshake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.requests, args.handshake)
        return
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    per_request = {target: count(target, args.requests) / args.requests for target in TARGETS}
    print(f"\ninstructions per request (callgrind, {args.requests} in-process calls each)\n")
    print("| target | instructions | floor / target |\n|---|---:|---:|")
    for target, n in per_request.items():
        print(f"| {target} | {n:,.0f} | {per_request['floor'] / n:.2f} |")


if __name__ == "__main__":
    main()
