"""Starting the server as a newcomer does (issue 21 items 14, 15, 18): one log line per
request under `flask run`, a bad setting said in one line, one metrics folder for gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import SECRET, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FLASK = [sys.executable, "-m", "flask", "--app", "authsvc"]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"]


def environment(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSVC_", "PROMETHEUS_"))}
    env.update(
        {
            "AUTHSVC_DATABASE_URL": database_url,
            "AUTHSVC_SECRET_KEY": SECRET,
            "AUTHSVC_INSTANCE_PATH": str(tmp_path / "instance"),
            "TMPDIR": str(tmp_path / "tmp"),
            **extra,
        }
    )
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out.decode()


def test_flask_run_logs_one_line_per_request(tmp_path, database_url):
    port = free_port()
    process = subprocess.Popen(
        [*FLASK, "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=environment(tmp_path, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process)
    with urllib.request.urlopen(url + "/.well-known/jwks.json", timeout=5) as r:
        assert r.status == 200
    out = stop(process)
    lines = [line for line in out.splitlines() if "/.well-known/jwks.json" in line]
    assert len(lines) == 1, out
    assert lines[0].startswith("{") and '"status": 200' in lines[0]
    assert f"Running on {url}" in out  # what werkzeug says besides requests still shows


BAD = {"AUTHSVC_LOGIN_FAILURES": "five"}
SAID = "authsvc: AUTHSVC_LOGIN_FAILURES must be a whole number, not 'five'"


@pytest.mark.parametrize("command", [["init"], ["run", "--port", "0"], ["keys", "list"]])
def test_a_bad_setting_stops_flask_with_one_line(tmp_path, database_url, command):
    done = subprocess.run(
        [*FLASK, *command],
        cwd=ROOT,
        env=environment(tmp_path, database_url, **BAD),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [SAID], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "bad,said",
    [
        (BAD, SAID),
        ({"AUTHSVC_HEADER_TIMEOUT": "-1"}, "authsvc: AUTHSVC_HEADER_TIMEOUT must be a whole"),
    ],
)
def test_a_bad_setting_stops_gunicorn_with_one_line(tmp_path, database_url, bad, said):
    port = free_port()
    done = subprocess.run(
        GUNICORN,
        cwd=ROOT,
        env=environment(tmp_path, database_url, AUTHSVC_BIND=f"127.0.0.1:{port}", **bad),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in out, out
    named = [line for line in out.splitlines() if next(iter(bad)) in line]
    assert len(named) == 1 and named[0].startswith(said), out


def start_gunicorn(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        GUNICORN,
        cwd=ROOT,
        env={**env, "AUTHSVC_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process)
    return process, url


@pytest.mark.parametrize("given", [False, True])
def test_gunicorn_keeps_one_metrics_folder_and_clears_it_at_start(tmp_path, database_url, given):
    folder = tmp_path / "given-metrics" if given else tmp_path / "instance" / "metrics"
    extra = {"PROMETHEUS_MULTIPROC_DIR": str(folder)} if given else {}
    env = environment(tmp_path, database_url, **extra)
    for start in range(2):
        if start:
            (folder / "counter_99999.db").write_bytes(b"a stale count")
        process, url = start_gunicorn(env)
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=5):
                pass
            assert folder.is_dir()
            assert not (folder / "counter_99999.db").exists()
            assert any(folder.glob("*.db"))  # the worker writes its counts here
        finally:
            stop(process)
    assert list((tmp_path / "tmp").glob("authsvc-metrics-*")) == []


def test_building_the_package_warns_of_nothing_and_ships_the_console(tmp_path):
    """setuptools' "Package would be ignored" came from data folders outside `packages`."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "build_py",
            "--build-lib",
            str(tmp_path / "lib"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "would be ignored" not in out and "SetuptoolsDeprecationWarning" not in out, out
    console = tmp_path / "lib" / "authsvc" / "web" / "console"
    for shipped in (
        "templates/console/not_found.html",
        "static/favicon.svg",
        "static/admin.js",
        "static/pages/audit.js",
    ):
        assert (console / shipped).is_file(), shipped
