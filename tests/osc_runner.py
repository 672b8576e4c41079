"""Runs the unmodified ``openstack`` command from PyPI for the tests, without paying its start-up each time.

``openstack`` as a fresh process spends about 1.5 s of CPU importing openstackclient and scanning its plugins
before it sends a request; the suite makes hundreds of calls, and that start-up was a third of its time. The
calls go instead to :mod:`tests.osc_fork_server`, one per test process, which has done those imports once and
runs each command in a fork of itself: the same entry point the console script calls, with the command's own
environment, exit code, stdout and stderr, and a fresh copy of the client's state every time.

``TWINSTACK_TEST_OSC=subprocess`` runs every call as a new process again; tests of the installed command itself
(tests/api/test_cli_login.py) always do.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

FORKED = os.environ.get("TWINSTACK_TEST_OSC", "forked") != "subprocess"
_lock = threading.Lock()
_server: subprocess.Popen[str] | None = None


def run_openstack(args: Sequence[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``openstack <args>`` with ``env`` as its whole environment: its exit code, stdout and stderr."""
    if not FORKED:
        return subprocess.run(["openstack", *args], capture_output=True, text=True, env=env, timeout=timeout)
    with _lock:
        server = _started()
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps({"args": list(args), "env": env}) + "\n")
        server.stdin.flush()
        answer = _read_line(server, timeout)
    return subprocess.CompletedProcess(["openstack", *args], answer["code"], answer["stdout"], answer["stderr"])


def _started() -> subprocess.Popen[str]:
    global _server
    if _server is None or _server.poll() is not None:
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        _server = subprocess.Popen([sys.executable, "-m", "tests.osc_fork_server"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        atexit.register(_server.kill)
        _read_line(_server, 120)  # ready
    return _server


def _read_line(server: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    line = server.stdout.readline() if ready else ""
    if not line:
        server.kill()
        raise TimeoutError(f"openstack gave no answer within {timeout} s (exit {server.poll()})")
    answer: dict[str, object] = json.loads(line)
    return answer
