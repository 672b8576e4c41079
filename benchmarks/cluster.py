"""A scaled-out Twinstack on this machine, every part its own OS process: ``serve --no-plane --workers N``,
schedulers, conductors and simulated agents, on one PostgreSQL database and one RabbitMQ prefix (both fresh).

Used by ``benchmarks/scale_out.py`` and by ``tests/processes/test_scale_out.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.serving import SERVING_AT, Server

POSTGRES_ADMIN = os.environ.get("TWINSTACK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKER_URL = os.environ.get("TWINSTACK_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new database for one cluster, dropped afterwards (as a SQLAlchemy URL)."""
    import psycopg

    name = f"ts_scale_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Cluster:
    """The processes of one cloud, by name; each writes its log to ``<workdir>/<name>.log``."""

    workdir: Path
    database_url: str
    prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)
    """TWINSTACK_* settings every process of the cluster gets besides the database's and the bus's."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    url: str = ""
    """Where serve answers, once :meth:`wait_serving` has read it from serve's log (it binds a free port)."""

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def server(self) -> Server:
        return Server(self.url, self.data_dir)

    def env(self) -> dict[str, str]:
        return {**os.environ, "TWINSTACK_DATABASE_URL": self.database_url, "TWINSTACK_BUS__TRANSPORT": "amqp",
                "TWINSTACK_BUS__URL": BROKER_URL, "TWINSTACK_BUS__PREFIX": self.prefix,
                "TWINSTACK_IDENTITY__PASSWORD_KDF_N": "1024", "TWINSTACK_LOGGING__LEVEL": "WARNING",
                "TWINSTACK_COMPUTE__BUILD_TIMEOUT": "120", **self.extra_env}

    def start(self, name: str, *args: str, log_level: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Run ``twinstack <args>`` as the process ``name`` (logging at ``log_level`` if given, else WARNING), with
        ``env`` over the cluster's settings (e.g. a cell's bus for its hosts' agent)."""
        log = (self.workdir / f"{name}.log").open("wb")
        env = {**self.env(), **(env or {})}
        if log_level is not None:
            env["TWINSTACK_LOGGING__LEVEL"] = log_level
        process = subprocess.Popen([sys.executable, "-m", "twinstack.cli", *args, "--data-dir", str(self.data_dir)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.processes[name] = process
        return process

    def serve(self, workers: int) -> None:
        """Start the APIs in ``workers`` processes, without a plane (it makes the database; the conductors started
        meanwhile wait for it); :meth:`wait_serving` waits for them to answer."""
        self.start("serve", "serve", "--no-plane", "--workers", str(workers), "--port", "0")

    def wait_serving(self, timeout: float = 300) -> None:
        process = self.processes["serve"]
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive("serve")
            if not self.url and (found := SERVING_AT.search(self.log("serve"))):
                self.url = found.group(1)
            try:
                if self.url and httpx.get(f"{self.url}/identity/v3", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"serve did not answer:\n{self.log('serve')}")
            time.sleep(0.3)

    def conductor(self, name: str, *args: str, log_level: str | None = None) -> None:
        self.start(name, "conductor", "--name", name, *args, log_level=log_level)

    def scheduler(self, name: str) -> None:
        """A ``twinstack scheduler`` process (conductors ask it when the cluster sets compute.scheduler = 'remote'),
        logging each decision (INFO)."""
        self.start(name, "scheduler", "--name", name, log_level="INFO")

    def agent(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.start(name, "agent", "--backend", "sim", "--name", name, *args, env=env)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def log_tails(self, characters: int = 3000) -> str:
        """The end of every process's log, each under its name: what a timeout shows, so that a failure in CI
        explains itself without a re-run."""
        return "\n".join(f"--- {name}.log (end)\n{self.log(name)[-characters:]}" for name in self.processes)

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            code = self.processes[name].poll()
            if code is not None:
                raise RuntimeError(f"{name} exited with {code}:\n{self.log(name)[-4000:]}")

    def without(self, *names: str) -> Cluster:
        """A view of this cluster that leaves ``names`` out (processes killed on purpose) of :meth:`check_alive`."""
        return Cluster(self.workdir, self.database_url, self.prefix, self.extra_env,
                       {n: p for n, p in self.processes.items() if n not in names}, self.url)

    def stop(self) -> None:
        """SIGTERM every process (the API first, agents last), then wait for each."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def local_cluster(workdir: Path, database_url: str, prefix: str | None = None,
                  extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A cluster on ``database_url`` and a fresh bus prefix; every process is stopped on the way out (starting
    them is the caller's: ``serve`` first, as it creates the database)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(workdir, database_url, prefix or f"scale-{uuid.uuid4().hex[:10]}",
                      dict(extra_env or {}))
    try:
        yield cluster
    finally:
        cluster.stop()
        if prefix is None:  # a prefix of its own: its queues (one per simulated host) go with it
            delete_bus_prefix(cluster.prefix)


def delete_bus_prefix(prefix: str) -> None:
    """Every queue and exchange on the local RabbitMQ whose name starts with ``prefix``: the durable queues a
    cluster's thousands of hosts declared outlive its processes, and a broker holding tens of thousands of them
    lists (and so starts) slower for everyone."""
    from kombu.connection import Connection

    def names(kind: str) -> list[str]:
        listed = subprocess.run(["rabbitmqctl", f"list_{kind}", "name", "-q", "--no-table-headers"],
                                capture_output=True, text=True, check=True, timeout=120).stdout
        return [name for name in listed.split() if name.startswith(prefix)]

    with Connection(BROKER_URL) as connection:  # type: ignore[no-untyped-call]  # kombu has no type hints
        channel = connection.default_channel
        for queue in names("queues"):
            channel.queue_delete(queue)
        for exchange in names("exchanges"):
            channel.exchange_delete(exchange)
