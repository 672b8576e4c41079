"""A RabbitMQ node of a test's own, which the test may stop and start at will (the shared broker on 5672 serves
every other test and is never restarted).

The node runs as the current user from RabbitMQ's own scripts (``/usr/lib/rabbitmq/bin``, not the wrappers that
switch to the ``rabbitmq`` user): its name, AMQP and distribution ports, database, logs, configuration, enabled
plugins (none: no management listener to collide with) and Erlang cookie (``HOME``) all live in one temporary
directory, so nothing of it touches the shared node. A node that cannot start is a loud failure, with its log.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kombu.connection import Connection

RABBITMQ_BIN = Path(os.environ.get("TWINSTACK_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
START_TIMEOUT = 60.0


class BrokerFailed(RuntimeError):
    """The private node did not start or stop; the message carries its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PrivateBroker:
    """One node: ``start`` and ``stop`` it as often as a test likes; its queues and messages survive a restart."""

    home: Path
    node: str
    port: int
    dist_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        home = self.home
        return {**os.environ, "HOME": str(home), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
                "RABBITMQ_LOG_BASE": str(home / "log"), "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
                "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(home / "node.pid"), "ERL_EPMD_ADDRESS": "127.0.0.1",
                "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def prepare(self) -> None:
        for folder in ("mnesia", "log"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "log.console = false\nlog.file.level = warning\n")
        (self.home / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's: that one names the shared node
        (self.home / "enabled_plugins").write_text("[].\n")

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node and wait until it takes AMQP connections."""
        self.starts += 1
        log = (self.home / f"server-{self.starts}.out").open("wb")
        self.process = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], stdout=log,
                                        stderr=subprocess.STDOUT, env=self.env(), cwd=self.home,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BrokerFailed(f"rabbitmq-server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                with Connection(self.url, connect_timeout=1) as connection:
                    connection.connect()
                return
            except Exception:  # not listening yet
                if time.monotonic() > deadline:
                    self.kill()
                    raise BrokerFailed(
                        f"{self.node} did not take connections within {timeout} s:\n{self.logs()}") from None
                time.sleep(0.3)

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args], capture_output=True,
                              text=True, env=self.env(), cwd=self.home, timeout=timeout)

    def stop(self) -> None:
        """``rabbitmqctl stop``: the node shuts down (its durable queues and persistent messages are on disk)."""
        if self.process is None or self.process.poll() is not None:
            return
        done = self.ctl("stop")
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BrokerFailed(f"{self.node} did not stop ({done.stdout}{done.stderr}):\n{self.logs()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)  # its own session: the Erlang VM and its port programs, nothing else
            self.process.wait(10)

    def logs(self) -> str:
        texts = [path.read_text(errors="replace")[-3000:] for path in sorted(self.home.glob("server-*.out"))]
        texts += [path.read_text(errors="replace")[-3000:] for path in sorted((self.home / "log").glob("*.log"))]
        return "\n".join(texts)


@contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    """A started private node, stopped and deleted afterwards."""
    home = Path(tempfile.mkdtemp(prefix="ts-rabbit-"))
    broker = PrivateBroker(home, f"ts-{uuid.uuid4().hex[:10]}@localhost", free_port(), free_port())
    broker.prepare()
    try:
        broker.start()
        yield broker
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()
            shutil.rmtree(home, ignore_errors=True)
