"""Worker memory under the shipped gunicorn configuration (docs/performance.md, "RSS").

`gunicorn.conf.py` starts the master once more with glibc's `hugetlb=1` tunable, and each
worker gives its heap's free pages back to the kernel once a second: argon2id's block (19 MiB
per verification) is reused through a run of logins and does not stay in an idle worker's
heap. Measured through /proc, so Linux with glibc only.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Server, http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
        reason="glibc malloc tunables: Linux with glibc only",
    ),
]

LOGIN = "/api/v1/auth/login"


def worker_pid(server: Server) -> int:
    children = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(children) == 1, children
    return int(children[0])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_workers_start_with_the_malloc_tunables(serve):
    server = serve(workers=1)
    environment = Path(f"/proc/{worker_pid(server)}/environ").read_bytes()
    assert b"glibc.malloc.hugetlb=1" in environment
    assert b"glibc.malloc.mmap_threshold" not in environment  # the block is reused, not remapped


def test_an_operators_own_malloc_tunables_are_kept(serve):
    server = serve(workers=1, GLIBC_TUNABLES="glibc.malloc.check=0")
    environment = Path(f"/proc/{worker_pid(server)}/environ").read_bytes()
    assert b"glibc.malloc.check=0" in environment
    assert b"glibc.malloc.hugetlb" not in environment


def test_a_worker_gives_argon2ids_block_back_once_logins_pause(serve, user):
    server = serve(workers=1)
    body = {"email": user.email, "password": user.password}
    assert http("POST", server.url + LOGIN, body)[0] == 200
    pid = worker_pid(server)
    time.sleep(2.5)
    before = rss_kib(pid)
    for _ in range(3):
        assert http("POST", server.url + LOGIN, body)[0] == 200
    # Without the worker's trimming the block stays in the heap for good (19 MiB more).
    deadline = time.monotonic() + 10
    while rss_kib(pid) - before >= 8 * 1024 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert rss_kib(pid) - before < 8 * 1024


def test_a_worker_freezes_what_it_loaded_once_the_app_is_up(tmp_path):
    """So that full collections walk only what requests made (docs/performance.md, "Garbage
    collection"): the hook as gunicorn calls it, in a process of its own."""
    script = (
        "import gc, runpy; conf = runpy.run_path('gunicorn.conf.py'); "
        "assert gc.get_freeze_count() == 0; conf['post_worker_init'](object()); "
        "print(gc.get_freeze_count())"
    )
    env = {
        "GLIBC_TUNABLES": "glibc.malloc.check=0",  # an operator's: no start again
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PATH": "",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout) > 1000
