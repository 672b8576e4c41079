"""The fault tests' harness (issue #9): a served cloud on its own PostgreSQL database and RabbitMQ prefix, a burst
of boots and deletes through the compute API with a fault injected halfway, and the checks that every accepted
request settled and that ``twinstack audit`` finds nothing leaked.

What counts: a request is *accepted* when the API answered it (202 for a boot, 204 for a delete). Every
accepted boot must end ACTIVE, ERROR with a fault, or deleted; every accepted delete must end deleted (or
ERROR with a fault); no server may stay building or in a task past the settle timeout.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from tests.api.test_cli_compute import DATACENTER
from tests.conftest import POSTGRES_URL, Served, drop_postgres_database, postgres_database, serve
from tests.rpc.broker import delete_prefix, unique_prefix
from twinstack.core.image.images import TEST_IMAGE_ID

BUILD_TIMEOUT = 15
"""The conductor's build timeout in these clouds: a lost command is given up after this (plus its check)."""
SETTLE_SECONDS = 75.0
"""How long after the fault every accepted request has to settle: build timeout, check interval, recovery."""


@dataclass
class FaultCloud:
    """One served cloud on a fresh PostgreSQL database and a unique RabbitMQ prefix, restartable in place."""

    tmp_path: Path
    database: str
    prefix: str
    served: Served | None = None
    starts: int = 0

    @property
    def database_url(self) -> str:
        return POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.database}"

    def start(self) -> Served:
        datacenter = self.tmp_path / "datacenter.yaml"
        datacenter.write_text(yaml.safe_dump(DATACENTER))
        self.starts += 1
        self.served = serve(self.tmp_path, "--datacenter", str(datacenter), "--database-url", self.database_url,
                            log_name=f"serve-{self.starts}.log",
                            env={"TWINSTACK_BUS__TRANSPORT": "amqp", "TWINSTACK_BUS__PREFIX": self.prefix,
                                 "TWINSTACK_COMPUTE__BUILD_TIMEOUT": str(BUILD_TIMEOUT)})
        return self.served

    def kill(self) -> None:
        assert self.served is not None
        self.served.process.send_signal(signal.SIGKILL)
        self.served.process.wait(10)

    def stop(self) -> None:
        if self.served is not None and self.served.process.poll() is None:
            self.served.process.terminate()
            self.served.process.wait(15)

    def logs(self) -> str:
        return "\n".join(log.read_text()[-4000:] for log in sorted(self.tmp_path.glob("serve-*.log")))

    def audit(self) -> subprocess.CompletedProcess[str]:
        """``twinstack audit --json`` on this cloud's database, as an operator would run it beside the cloud."""
        return subprocess.run([sys.executable, "-m", "twinstack.cli", "audit", "--json", "--database-url",
                               self.database_url], capture_output=True, text=True, timeout=120)


@contextmanager
def fault_cloud(tmp_path: Path) -> Iterator[FaultCloud]:
    cloud = FaultCloud(tmp_path, postgres_database(), unique_prefix())
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.stop()
        drop_postgres_database(cloud.database)
        delete_prefix(cloud.prefix)


class Endpoint(Protocol):
    """Where a cloud answers and its admin's credentials: a served cloud, or a cluster's ``serve``."""

    @property
    def url(self) -> str: ...

    def admin_auth(self) -> dict[str, Any]: ...


class Nova:
    """Just enough of a compute client for the burst: admin token, boot, delete, show, list (re-pointable)."""

    def __init__(self, served: Endpoint) -> None:
        self.http = httpx.Client(timeout=30)
        self.point_at(served)
        self.network = self._private_network()
        quotas = {"instances": 200, "cores": 200, "ram": 200 * 1024}  # the burst is about faults, not quotas
        self.http.put(f"{self.url}/compute/v2.1/os-quota-sets/{self.project}",
                      json={"quota_set": quotas}).raise_for_status()

    def point_at(self, served: Endpoint) -> None:
        auth = served.admin_auth()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
        answer = self.http.post(f"{served.url}/identity/v3/auth/tokens", json=body)
        answer.raise_for_status()
        self.url = served.url
        self.project = str(answer.json()["token"]["project"]["id"])
        self.http.headers["X-Auth-Token"] = answer.headers["X-Subject-Token"]

    def _private_network(self) -> str:
        net = self.http.post(f"{self.url}/network/v2.0/networks", json={"network": {"name": "burst"}})
        net.raise_for_status()
        network_id: str = net.json()["network"]["id"]
        self.http.post(f"{self.url}/network/v2.0/subnets", json={"subnet": {
            "network_id": network_id, "ip_version": 4, "cidr": "10.9.0.0/24"}}).raise_for_status()
        return network_id

    def boot(self, name: str) -> str | None:
        """The new server's id if the API accepted the boot; None if it did not answer 202."""
        try:
            answer = self.http.post(f"{self.url}/compute/v2.1/servers", json={"server": {
                "name": name, "imageRef": TEST_IMAGE_ID, "flavorRef": "1", "networks": [{"uuid": self.network}]}})
        except httpx.HTTPError:
            return None
        return str(answer.json()["server"]["id"]) if answer.status_code == 202 else None

    def delete(self, server_id: str) -> bool:
        try:
            return self.http.delete(f"{self.url}/compute/v2.1/servers/{server_id}").status_code == 204
        except httpx.HTTPError:
            return False

    def show(self, server_id: str) -> dict[str, Any] | None:
        """The server (at 2.1: status, OS-EXT-STS:task_state, fault), or None once it is deleted."""
        answer = self.http.get(f"{self.url}/compute/v2.1/servers/{server_id}")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        server: dict[str, Any] = answer.json()["server"]
        return server

    def busy(self) -> list[dict[str, Any]]:
        """Every server building or in a task, whoever asked for it."""
        answer = self.http.get(f"{self.url}/compute/v2.1/servers/detail", params={"all_tenants": "1"})
        answer.raise_for_status()
        return [s for s in answer.json()["servers"]
                if s["status"] == "BUILD" or s.get("OS-EXT-STS:task_state") is not None]



@dataclass
class Burst:
    """What the API accepted during the burst."""

    booted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: int = 0


def run_burst(nova: Nova, fault: Callable[[], None], boots: int = 28, workers: int = 6) -> Burst:
    """``boots`` boots, every second accepted one deleted right after (~40 requests in all), from ``workers``
    threads; ``fault`` runs once, on its own thread, when half the boots have been answered."""
    burst, lock, answered = Burst(), threading.Lock(), [0]
    faulted = threading.Event()
    failures: list[BaseException] = []

    def inject() -> None:
        try:
            fault()
        except BaseException as exc:  # raised again on the test's thread once the burst is over
            failures.append(exc)

    fault_thread = threading.Thread(target=inject)

    def one(index: int) -> None:
        server = nova.boot(f"burst-{index}")
        with lock:
            answered[0] += 1
            if server is None:
                burst.refused += 1
            else:
                burst.booted.append(server)
            if answered[0] >= boots // 2 and not faulted.is_set():
                faulted.set()
                fault_thread.start()
        if server is not None and index % 2 == 0:
            if nova.delete(server):
                with lock:
                    burst.deleted.append(server)
            else:
                with lock:
                    burst.refused += 1

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(boots)))
    assert faulted.is_set(), "the burst ended before the fault"
    fault_thread.join(120)
    if failures:
        raise failures[0]
    return burst


def settle(nova: Nova, burst: Burst, seconds: float = SETTLE_SECONDS) -> dict[str, dict[str, Any] | None]:
    """Wait until every accepted request has settled; answers each accepted boot's final server (None: deleted).
    Fails with what is still unsettled when ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        final = {server: nova.show(server) for server in burst.booted}
        unsettled = {s: v for s, v in final.items() if v is not None and (
            v["status"] not in ("ACTIVE", "ERROR") or v.get("OS-EXT-STS:task_state") is not None
            or (s in burst.deleted and v["status"] != "ERROR"))}
        busy = nova.busy()
        if not unsettled and not busy:
            return final
        if time.monotonic() > deadline:
            raise AssertionError(f"unsettled after {seconds} s: {_states(unsettled)}; busy: {_states(busy)}")
        time.sleep(1)


def _states(servers: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    listed = servers.values() if isinstance(servers, dict) else servers
    return [f"{s['id']} {s['status']}/{s.get('OS-EXT-STS:task_state')}" for s in listed if s]


def check_settled(final: dict[str, dict[str, Any] | None], burst: Burst) -> None:
    """Every accepted boot ACTIVE, deleted, or ERROR with a fault; every accepted delete done (or ERROR+fault)."""
    for server, shown in final.items():
        if shown is None:
            continue
        assert shown["status"] in ("ACTIVE", "ERROR"), shown
        if shown["status"] == "ERROR":
            assert shown.get("fault", {}).get("message"), shown
        if server in burst.deleted:
            assert shown["status"] == "ERROR", shown
