"""The installed ``twinstack`` command, run as a new user runs it: ``twinstack serve`` with no options at all.

Every other test asks for a free port (``--port 0``); this one is the only test that uses the default,
127.0.0.1:8000. Its module runs in one worker (the suite distributes by file), and a lock file taken around the
run keeps two test runs on one machine (two checkouts, say) from meeting on the port; a port 8000 held by
anything else fails the test with a message saying so, rather than skipping it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from tests.conftest import FAST_KDF

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ("127.0.0.1", 8000)
LOCK = Path(tempfile.gettempdir()) / "twinstack-tests-port-8000.lock"


@contextmanager
def holding_port_8000(wait: float = 180) -> Iterator[None]:
    """The machine-wide lock on port 8000 for tests, then a check that nothing else holds the port."""
    with LOCK.open("w") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test run held {LOCK} (the lock on port 8000) for over {wait:.0f} s")
                time.sleep(0.5)
        with socket.socket() as probe:
            try:
                probe.bind(DEFAULT)
            except OSError as exc:
                pytest.fail(f"port 8000 on 127.0.0.1 is taken by a process outside this test ({exc.strerror}); "
                            "this test checks that `twinstack serve` listens there by default, so it needs the port")
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def new_users_environment() -> dict[str, str]:
    """This environment without any Twinstack or OpenStack setting, importing this checkout's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWINSTACK_", "OS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["TWINSTACK_IDENTITY__PASSWORD_KDF_N"] = str(FAST_KDF)  # only to keep the test quick
    return env


def answered(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_the_installed_command_serves_on_127_0_0_1_port_8000_by_default(tmp_path: Path) -> None:
    command = shutil.which("twinstack")
    assert command is not None, "the `twinstack` console script is not on PATH: install the project (pip install -e .)"
    log = tmp_path / "serve.log"
    with holding_port_8000():
        process = subprocess.Popen([command, "serve"], cwd=tmp_path, env=new_users_environment(),
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while (root := answered("http://127.0.0.1:8000/")) is None:
                assert process.poll() is None, f"twinstack serve exited ({process.returncode}):\n{log.read_text()}"
                assert time.monotonic() < deadline, f"nothing answered on 127.0.0.1:8000:\n{log.read_text()}"
                time.sleep(0.3)

            listening = {c.laddr for c in psutil.Process(process.pid).net_connections("tcp")
                         if c.status == psutil.CONN_LISTEN}
            assert listening == {DEFAULT}  # loopback only, as the default promises
            assert root.status_code == 200
            assert root.json()["name"] == "Twinstack"
            assert {s["type"]: s["url"] for s in root.json()["services"]}["identity"] == \
                "http://127.0.0.1:8000/identity/v3"
            assert "Twinstack is serving at http://127.0.0.1:8000\n" in log.read_text()
            clouds_yaml = tmp_path / "twinstack-data" / "clouds.yaml"  # the default data directory, under cwd
            assert f"export OS_CLIENT_CONFIG_FILE={clouds_yaml}" in log.read_text()
            cloud = yaml.safe_load(clouds_yaml.read_text())["clouds"]["twinstack"]
            assert cloud["auth"]["auth_url"] == "http://127.0.0.1:8000/identity/v3"
        finally:
            process.terminate()
            process.wait(15)
