"""Start a real ``twinstack serve`` on a free port for a benchmark, and stop it afterwards."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


@dataclass
class Server:
    url: str
    data_dir: Path
    pid: int | None = None
    """The serving process, when this harness started it (for its CPU time)."""
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def status(self) -> str:
        """Whether the serving process still runs, and the end of its log: what a benchmark that lost its server
        says (the log lives in a temporary directory that is gone once the run has failed)."""
        return process_status(self.process, self.log)

    def admin_auth(self) -> dict[str, Any]:
        data = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())
        auth: dict[str, Any] = data["clouds"]["twinstack"]["auth"]
        return auth


def process_status(process: subprocess.Popen[bytes] | None, log: Path | None) -> str:
    """``running`` or ``exited with code N`` (a negative code: killed by that signal), then the log's last lines."""
    if process is None:
        return "not started by this harness"
    code = process.poll()
    said = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    return ("running" if code is None else f"exited with code {code}") + (f"; its log ends:\n{said}" if said else "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVING_AT = re.compile(r"Twinstack is serving at (\S+)")


def launch_serve(args: Sequence[str], data_dir: Path, log: Path, env: dict[str, str],
                 timeout: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``twinstack serve --port 0 --data-dir DATA_DIR ARGS`` with its output in ``log``; return the process
    and its URL once it answers."""
    command = [sys.executable, "-m", "twinstack.cli", "serve", "--port", "0", "--data-dir", str(data_dir), *args]
    return launch(command, log, env, timeout)


def launch(command: Sequence[str], log: Path, env: dict[str, str],
           timeout: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server that binds a port of the kernel's choosing and prints ``Twinstack is serving at URL``; return
    it and its URL once ``URL/identity/v3`` answers. A port probed free here and bound there later could be taken
    in between by a server of a parallel test, whose answers would then pass for this one's."""
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    url: str | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[2]} exited ({process.returncode}):\n{log.read_text()[-5000:]}")
        if url is None and (found := SERVING_AT.search(log.read_text(errors="replace"))):
            url = found.group(1)
        if url is not None:
            try:
                if httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"{command[2]} did not answer in {timeout:.0f} s:\n{log.read_text()[-5000:]}")


@contextmanager
def running_server(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="twinstack-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        log = Path(tmp) / "serve.log"
        process, url = launch_serve(args, data_dir, log,
                                    {**os.environ, **(env or {}), "TWINSTACK_LOGGING__LEVEL": "WARNING"})
        try:
            yield Server(url, data_dir, process.pid, process, log)
        finally:
            process.terminate()
            process.wait(10)
