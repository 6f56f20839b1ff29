"""Slow clients against a running server: N connections dribble headers (or a body) one
byte at a time while one ordinary client times `GET /api/v1/health`.

    .venv/bin/python bench/slow_clients.py 127.0.0.1:8000 [--conns 50] [--mode headers|body]
                                             [--seconds 8] [--interval 0.2]

Prints the ordinary client's latencies (min/median/max) and how many of its requests
failed or took longer than 2 s. By hand, never in CI (tests/test_slow_clients.py is the
bounded test).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time


def dribble(
    host: str,
    port: int,
    mode: str,
    stop: threading.Event,
    interval: float,
    opened: list[socket.socket],
) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
    except OSError:
        return
    opened.append(sock)
    if mode == "headers":
        head, payload = b"", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 10000
    else:
        head = (
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n"
        )
        payload = b" " * 10000
    try:
        sock.sendall(head)
        for byte in payload:
            if stop.wait(interval):
                return
            sock.sendall(bytes([byte]))
    except OSError:
        return


def health(host: str, port: int, timeout: float) -> float | None:
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                return None
    except OSError:
        return None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--mode", choices=["headers", "body"], default="headers")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    stop, opened = threading.Event(), []
    threads = [
        threading.Thread(
            target=dribble,
            daemon=True,
            args=(host, int(port), args.mode, stop, args.interval, opened),
        )
        for _ in range(args.conns)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    latencies: list[float | None] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        latencies.append(health(host, int(port), timeout=5))
        time.sleep(0.1)
    stop.set()
    for sock in opened:
        sock.close()
    ok = [x for x in latencies if x is not None]
    slow = sum(1 for x in ok if x > 2)
    print(
        f"{args.mode}: {len(latencies)} health requests, {len(latencies) - len(ok)} failed, "
        f"{slow} over 2 s; latency ms min/median/max "
        + (
            f"{min(ok) * 1e3:.1f}/{statistics.median(ok) * 1e3:.1f}/{max(ok) * 1e3:.1f}"
            if ok
            else "-"
        )
    )


if __name__ == "__main__":
    main()
