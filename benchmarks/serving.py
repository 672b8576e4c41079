"""Start a real ``twinstack serve`` on a free port for a benchmark, and stop it afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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

    def admin_auth(self) -> dict[str, Any]:
        data = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())
        auth: dict[str, Any] = data["clouds"]["twinstack"]["auth"]
        return auth


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="twinstack-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "twinstack.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
             *args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {}),
                                                       "TWINSTACK_LOGGING__LEVEL": "WARNING"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError((Path(tmp) / "serve.log").read_text())
                try:
                    if httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            yield Server(url, data_dir, process.pid)
        finally:
            process.terminate()
            process.wait(10)
            log.close()
