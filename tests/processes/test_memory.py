"""Worker memory under the shipped gunicorn configuration (docs/performance.md, "RSS").

`gunicorn.conf.py` starts the master once more with glibc malloc tunables, so that argon2id's
block (19 MiB per verification) is mapped for each login and given back after it instead of
staying in every worker's heap from its second login on. Measured through /proc, so Linux
with glibc only.
"""

from __future__ import annotations

import platform
import subprocess
import sys
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
    assert b"glibc.malloc.mmap_threshold=4194304" in environment


def test_an_operators_own_malloc_tunables_are_kept(serve):
    server = serve(workers=1, GLIBC_TUNABLES="glibc.malloc.check=0")
    environment = Path(f"/proc/{worker_pid(server)}/environ").read_bytes()
    assert b"glibc.malloc.check=0" in environment
    assert b"glibc.malloc.hugetlb" not in environment


def test_a_worker_gives_argon2ids_block_back_after_each_login(serve, user):
    server = serve(workers=1)
    body = {"email": user.email, "password": user.password}
    # The first verification is mapped and unmapped under glibc's defaults too; before the
    # tunables the second one onwards stayed in the heap (19 MiB more for good).
    assert http("POST", server.url + LOGIN, body)[0] == 200
    pid = worker_pid(server)
    before = rss_kib(pid)
    for _ in range(3):
        assert http("POST", server.url + LOGIN, body)[0] == 200
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
