"""Load on the real HTTP API of a live simulated cloud, driven by locust, at rising user counts.

    python -m benchmarks.load [--hosts 5000] [--seconds 20] [--users 8 16 32]
                              [--databases sqlite postgresql] [--postgres-url URL]
                              [--list-servers 10000] [--repeats 2] [--json out.json]
    python -m benchmarks.load --tiny          # seconds-long smoke run (CI runs this)
    python -m benchmarks.load --databases postgresql --api-workers 2 --conductors 2 --agents 2
                                              # the scaled-out shape (issue 9): every part its own process

Starts ``twinstack serve`` over ``--hosts`` simulated hosts whose boots and deletes take zero time,
so what is measured is the control plane alone (API, conductor, scheduler, placement, database),
lifts the admin project's quotas, then for each database and each user count runs locust headless:

* ``create``: server creates as fast as they are accepted; accepted/s and latency, then how long the
  cloud takes to bring every one of them to ACTIVE (servers reaching ACTIVE per second);
* ``boot``: Rally's boot-and-delete (create, wait ACTIVE, delete, wait gone) per user;
* ``port-boot``: the same with a port made first on a load network and the server booted on it;
* ``network``: network + subnet + port created, then deleted (each user its own network);
* ``list``: with ``--list-servers`` servers present, paginated ``GET /servers/detail?limit=100``;
* ``token``: password logins;
* ``ceiling``: ``HEAD /v3/auth/tokens`` (a token checking itself): authenticated and authorized, no database,
  the most requests/s this server's HTTP stack takes at all on this machine.

``--api-workers N`` runs the cloud scaled out instead, as ``benchmarks/cluster.py`` does for issue 9: ``twinstack
serve --no-plane --workers N``, ``--conductors`` ``twinstack conductor`` processes (and ``--schedulers`` scheduler
processes, if any), and the hosts in ``--agents`` ``twinstack agent --backend sim`` processes, over RabbitMQ and
PostgreSQL (only). The server CPU time is then the control plane's (API workers, conductors, schedulers); the
agents' is given apart (``agent_cpu_ms``).

The load generator shares this machine's two cores with the server, so every rate here is a floor. Each figure
also gives the server's own CPU time per request (``cpu_ms``; for creates, per server created, its build to
ACTIVE included): what a request costs the control plane, which other load on the machine changes less than
it changes the rates.

PostgreSQL: a fresh database ``twinstack_load`` (``--postgres-database``) is made, dropped first if it exists,
on the server that ``--postgres-url`` names (default: the trust-auth server on 127.0.0.1:5432, as ``postgres``).
Goals (issue 8): >= 300 creates/s accepted, >= 150 servers/s reaching ACTIVE, list p99 <= 200 ms with
10,000 servers, zero errors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (loads trio, which needs select.epoll, before locust's gevent patching hides it)
import httpx
import psutil
import yaml
from locust.env import Environment

from benchmarks.cluster import local_cluster
from benchmarks.locustfiles import compute as users
from benchmarks.locustfiles import network as network_users
from benchmarks.serving import Server, running_server

ZERO_TIME_DATACENTER = {
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 0}, "delete_seconds": {"kind": "fixed", "value": 0},
                  "power_seconds": {"kind": "fixed", "value": 0}, "heartbeat_seconds": 10},
}
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "twinstack_load"


@dataclass
class Figure:
    database: str
    scenario: str
    users: int
    requests: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    extra: dict[str, float]


SCENARIOS = ("create", "boot", "port-boot", "network", "list", "token", "ceiling")


def datacenter(hosts: int) -> dict[str, Any]:
    racks = []
    for start in range(0, hosts, 40):
        racks.append({"name": f"r{start // 40:04d}", "hosts": {"profile": "standard", "count": min(40, hosts - start)}})
    return {"cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": racks}]}],
            "profiles": {"standard": {"vcpus": 64, "ram_mb": 262144, "disk_gb": 4000, "cpu_allocation_ratio": 16.0}},
            **ZERO_TIME_DATACENTER}


def fresh_postgres_database(admin_url: str = POSTGRES_ADMIN_URL, name: str = BENCH_DATABASE) -> str:
    """An empty database ``name`` for one run (dropped and made again) on the server ``admin_url`` reaches, as
    a SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Shape:
    """How the cloud under load runs: one ``twinstack serve`` (``api_workers`` 0), or scaled out (issue 9)."""

    api_workers: int = 0
    conductors: int = 2
    schedulers: int = 0
    agents: int = 2

    @property
    def scaled_out(self) -> bool:
        return self.api_workers > 0

    def label(self, database: str) -> str:
        """The database's name in the tables, with the shape when scaled out (``postgresql/2w2c``: 2 API workers,
        2 conductors, and ``2s`` schedulers if any)."""
        if not self.scaled_out:
            return database
        return f"{database}/{self.api_workers}w{self.conductors}c" + (f"{self.schedulers}s" if self.schedulers else "")

    def describe(self) -> str:
        if not self.scaled_out:
            return "one serve process"
        return (f"{self.api_workers} API workers, {self.conductors} conductors, {self.schedulers} schedulers, "
                f"{self.agents} agents")


SINGLE = Shape()


@dataclass(frozen=True)
class Lap:
    server_seconds: float
    """CPU seconds the server spent (user + system, every thread; scaled out: every control-plane process)."""
    generator_cores: float
    """The load generator's (this process's) CPU seconds per wall second: near 1, locust is what limits."""
    agent_seconds: float = 0.0
    """CPU seconds the agent processes spent (scaled out only; one serve process runs its hosts inside)."""


class CpuClock:
    """CPU time of the server (its processes and their children, e.g. API workers), of the agents and of the load
    generator since the last :meth:`lap`."""

    def __init__(self, server_pids: list[int], agent_pids: list[int] | None = None) -> None:
        self.servers = [psutil.Process(pid) for pid in server_pids]
        self.agents = [psutil.Process(pid) for pid in agent_pids or []]
        self.generator = psutil.Process()
        self.last_read = self._read()

    @staticmethod
    def _spent(processes: list[psutil.Process]) -> float:
        total = 0.0
        for process in processes:
            for each in [process, *process.children(recursive=True)]:
                try:
                    times = each.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += float(times.user + times.system)
        return total

    def _read(self) -> tuple[float, float, float, float]:
        mine = self.generator.cpu_times()
        return (time.perf_counter(), self._spent(self.servers), float(mine.user + mine.system),
                self._spent(self.agents))

    def lap(self) -> Lap:
        now = self._read()
        wall, server, generator, agents = now
        before_wall, before_server, before_generator, before_agents = self.last_read
        self.last_read = now
        return Lap(server - before_server, (generator - before_generator) / max(wall - before_wall, 1e-9),
                   agents - before_agents)


@dataclass
class Cloud:
    server: Server
    server_pids: list[int]
    """The control plane's processes (serve, with its API workers as children; conductors; schedulers)."""
    agent_pids: list[int]


@contextmanager
def cloud(hosts: int, database: str, postgres_url: str = POSTGRES_ADMIN_URL,
          postgres_database: str = BENCH_DATABASE, shape: Shape = SINGLE) -> Iterator[Cloud]:
    with tempfile.TemporaryDirectory(prefix="twinstack-load-") as tmp:
        path = Path(tmp) / "datacenter.yaml"
        path.write_text(yaml.safe_dump(datacenter(hosts)))
        if shape.scaled_out:
            if database != "postgresql":
                raise ValueError("the scaled-out shape runs on PostgreSQL (several processes share its database)")
            with scaled_out(Path(tmp), hosts, fresh_postgres_database(postgres_url, postgres_database), shape,
                            path) as running:
                yield running
            return
        extra = (["--database-url", fresh_postgres_database(postgres_url, postgres_database)]
                 if database == "postgresql" else [])
        with running_server("--datacenter", str(path), *extra) as server:
            yield Cloud(server, [server.pid] if server.pid is not None else [], [])


@contextmanager
def scaled_out(workdir: Path, hosts: int, database_url: str, shape: Shape, datacenter_file: Path) -> Iterator[Cloud]:
    """The issue-9 cluster over ``hosts`` zero-time hosts shared out among the agents (each shaped like the
    datacenter file's first rack, with its behaviour)."""
    extra = {"TWINSTACK_COMPUTE__SCHEDULER": "remote"} if shape.schedulers else {}
    with local_cluster(workdir / "cluster", database_url, extra_env=extra) as cluster:
        cluster.serve(shape.api_workers)
        for n in range(shape.schedulers):
            cluster.scheduler(f"scheduler-{n + 1}")
        for n in range(shape.conductors):
            cluster.conductor(f"conductor-{n + 1}")
        agents = [f"agent{n + 1}" for n in range(shape.agents)]
        for n, name in enumerate(agents):
            share = hosts // shape.agents + (1 if n < hosts % shape.agents else 0)
            cluster.agent(name, "--hosts", str(share), "--datacenter", str(datacenter_file))
        cluster.wait_serving()
        plane = [p.pid for name, p in cluster.processes.items() if name not in agents]
        yield Cloud(cluster.server, plane, [cluster.processes[name].pid for name in agents])


class Admin:
    """The harness's own calls (not measured): quotas, references, waiting for the cloud to settle."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=120)
        auth = server.admin_auth()
        answer = self.http.post("/identity/v3/auth/tokens", json=users.password_body(auth))
        answer.raise_for_status()
        self.token = answer.headers["X-Subject-Token"]
        self.project_id = answer.json()["token"]["project"]["id"]
        self.headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": "compute 2.79"}

    def lift_quotas(self) -> None:
        self.http.put(f"/compute/v2.1/os-quota-sets/{self.project_id}", headers=self.headers, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
        self.http.put(f"/network/v2.0/quotas/{self.project_id}", headers={"X-Auth-Token": self.token}, json={
            "quota": {"network": -1, "subnet": -1, "port": -1}}).raise_for_status()

    def load_network(self) -> str:
        """A network with a subnet roomy enough for every port the port users make (a /12)."""
        headers = {"X-Auth-Token": self.token}
        network = self.http.post("/network/v2.0/networks", headers=headers, json={"network": {"name": "load-net"}})
        network.raise_for_status()
        network_id = str(network.json()["network"]["id"])
        self.http.post("/network/v2.0/subnets", headers=headers, json={"subnet": {
            "network_id": network_id, "ip_version": 4, "cidr": "10.128.0.0/12"}}).raise_for_status()
        return network_id

    def references(self) -> tuple[str, str]:
        flavors = self.http.get("/compute/v2.1/flavors", headers=self.headers).json()["flavors"]
        flavor = next(f["id"] for f in flavors if f["name"] == "m1.tiny")
        images = self.http.get("/image/v2/images", headers={"X-Auth-Token": self.token}).json()["images"]
        return flavor, images[0]["id"]

    def count(self, status: str | None = None) -> int:
        """How many servers (of one status) the project has, paging through them."""
        total, marker = 0, None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"status": status} if status else {}),
                                      **({"marker": marker} if marker else {})}
            page = self.http.get("/compute/v2.1/servers", headers=self.headers, params=params).json()["servers"]
            total += len(page)
            if len(page) < 1000:
                return total
            marker = page[-1]["id"]

    def wait_settled(self, timeout: float = 600.0) -> float:
        """Seconds until no server is in BUILD any more (asking for one, so that polling costs the cloud
        little while it works)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            page = self.http.get("/compute/v2.1/servers", headers=self.headers,
                                 params={"status": "BUILD", "limit": 1}).json()["servers"]
            if not page:
                break
            time.sleep(0.5)
        return time.perf_counter() - started

    def wait_hosts(self, hosts: int, timeout: float = 600.0) -> float:
        """Seconds until every simulated host has registered (measuring before would measure registration)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            answer = self.http.get("/compute/v2.1/os-hypervisors/statistics", headers=self.headers)
            answer.raise_for_status()
            if answer.json()["hypervisor_statistics"]["count"] >= hosts:
                return time.perf_counter() - started
            time.sleep(0.5)
        raise RuntimeError(f"the {hosts} hosts did not all register in {timeout} s")


def run_locust(user_class: type[users._Cloud], url: str, count: int, seconds: float) -> Environment:
    environment = Environment(user_classes=[user_class], host=url)
    runner = environment.create_local_runner()
    runner.start(count, spawn_rate=max(count, 1))
    import gevent

    gevent.sleep(seconds)
    runner.quit()
    return environment


def figure(environment: Environment, name: str, method: str, seconds: float, database: str, scenario: str,
           count: int, lap: Lap, per: int | None = None, **extra: float) -> Figure:
    """One figure; the server's CPU time over ``lap`` is shared over ``per`` (default: the requests made)."""
    entry = environment.stats.get(name, method)
    per = entry.num_requests if per is None else per
    return Figure(database=database, scenario=scenario, users=count, requests=entry.num_requests,
                  per_second=entry.num_requests / seconds, p50_ms=entry.get_response_time_percentile(0.5),
                  p95_ms=entry.get_response_time_percentile(0.95), p99_ms=entry.get_response_time_percentile(0.99),
                  errors=environment.stats.total.num_failures,
                  extra={**extra, "cpu_ms": 1000 * lap.server_seconds / per if per else 0.0,
                         **({"agent_cpu_ms": 1000 * lap.agent_seconds / per if per else 0.0}
                            if lap.agent_seconds else {}),
                         "locust_cores": lap.generator_cores, "load_avg": os.getloadavg()[0]})


def measure(database: str, hosts: int, seconds: float, user_counts: list[int], list_servers: int,
            scenarios: list[str], postgres_url: str = POSTGRES_ADMIN_URL, repeats: int = 1,
            postgres_database: str = BENCH_DATABASE, shape: Shape = SINGLE) -> list[Figure]:
    """Every figure of one database, each measured ``repeats`` times in a row on the same cloud."""
    figures: list[Figure] = []
    with cloud(hosts, database, postgres_url, postgres_database, shape) as running:
        server = running.server
        database = shape.label(database)
        admin = Admin(server)
        registered = admin.wait_hosts(hosts)
        print(f"{database} ({shape.describe()}): {hosts} hosts registered {registered:.1f} s after the API "
              "answered", flush=True)
        cpu = CpuClock(running.server_pids, running.agent_pids)
        admin.lift_quotas()
        flavor, image = admin.references()
        for cls in (users.BootAndDelete, users.CreateOnly, users.ListServers, users.IssueToken, users.CheckToken,
                    network_users.BootWithPort, network_users.NetworkLifecycle):
            cls.auth, cls.flavor_ref, cls.image_ref = server.admin_auth(), flavor, image
        if {"port-boot", "network"} & set(scenarios):
            network_users.BootWithPort.network_id = admin.load_network()
        for count in [c for c in user_counts for _ in range(repeats)]:
            if "create" in scenarios:
                before = admin.count()
                started = time.perf_counter()
                cpu.lap()
                env = run_locust(users.CreateOnly, server.url, count, seconds)
                running_lap = cpu.lap()
                settle = admin.wait_settled()
                after = cpu.lap()
                spent = Lap(running_lap.server_seconds + after.server_seconds, running_lap.generator_cores,
                            running_lap.agent_seconds + after.agent_seconds)
                created = admin.count() - before
                figures.append(figure(env, "server create", "POST", seconds, database, "create", count, spent,
                                      per=created, created=created,
                                      active_per_s=created / (time.perf_counter() - started),
                                      settle_s=settle, errored=admin.count("ERROR")))
            if "boot" in scenarios:
                cpu.lap()
                env = run_locust(users.BootAndDelete, server.url, count, seconds)
                figures.append(figure(env, "server active", "EVENT", seconds, database, "boot-and-delete", count,
                                      cpu.lap()))
            if "port-boot" in scenarios:
                cpu.lap()
                env = run_locust(network_users.BootWithPort, server.url, count, seconds)
                figures.append(figure(env, "port server active", "EVENT", seconds, database, "boot-with-port",
                                      count, cpu.lap()))
            if "network" in scenarios:
                cpu.lap()
                env = run_locust(network_users.NetworkLifecycle, server.url, count, seconds)
                figures.append(figure(env, "network lifecycle", "EVENT", seconds, database, "net+subnet+port",
                                      count, cpu.lap()))
        if "list" in scenarios:
            present = admin.count()
            if present < list_servers:
                fill(admin, server, list_servers - present)
            present = admin.count()
            for count in [c for c in user_counts for _ in range(repeats)]:
                cpu.lap()
                env = run_locust(users.ListServers, server.url, count, seconds)
                figures.append(figure(env, "server list (100, paginated)", "GET", seconds, database, "list", count,
                                      cpu.lap(), servers=present, building=admin.count("BUILD")))
        if "token" in scenarios:
            for count in [c for c in user_counts for _ in range(repeats)]:
                cpu.lap()
                env = run_locust(users.IssueToken, server.url, count, seconds)
                figures.append(figure(env, "token issue", "POST", seconds, database, "token", count, cpu.lap()))
        if "ceiling" in scenarios:
            for count in [c for c in user_counts for _ in range(repeats)]:
                cpu.lap()
                env = run_locust(users.CheckToken, server.url, count, seconds)
                figures.append(figure(env, "token check (no database)", "HEAD", seconds, database, "ceiling", count,
                                      cpu.lap()))
    return figures


def medians(figures: list[Figure]) -> list[Figure]:
    """One figure per database, scenario and user count: the median of each number over its runs (errors: their
    sum)."""
    groups: dict[tuple[str, str, int], list[Figure]] = {}
    for f in figures:
        groups.setdefault((f.database, f.scenario, f.users), []).append(f)
    merged = []
    for (database, scenario, count), runs in groups.items():
        extra = {key: float(statistics.median(float(r.extra[key]) for r in runs)) for key in runs[0].extra}
        merged.append(Figure(
            database, scenario, count, int(statistics.median(r.requests for r in runs)),
            statistics.median(r.per_second for r in runs), statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p95_ms for r in runs), statistics.median(r.p99_ms for r in runs),
            sum(r.errors for r in runs), {**extra, "runs": float(len(runs))}))
    return merged


def fill(admin: Admin, server: Server, missing: int) -> None:
    """Create ``missing`` more servers (not measured) and wait for them to settle."""
    target = admin.count() + missing
    while admin.count() < target:
        run_locust(users.CreateOnly, server.url, 16, max(2.0, min(30.0, (target - admin.count()) / 200)))
    waited = admin.wait_settled()
    building = admin.count("BUILD")
    if building:
        print(f"fill: {building} servers still building after {waited:.0f} s; the list is measured beside their "
              "builds (its figure says how many: building=)", flush=True)


def print_table(figures: list[Figure]) -> None:
    print(f"{'database':<18}{'scenario':<17}{'users':>6}{'requests':>10}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'p99 ms':>9}{'errors':>8}  extra")
    for f in figures:
        extra = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in f.extra.items())
        print(f"{f.database:<18}{f.scenario:<17}{f.users:>6}{f.requests:>10}{f.per_second:>9.1f}{f.p50_ms:>9.0f}"
              f"{f.p95_ms:>9.0f}{f.p99_ms:>9.0f}{f.errors:>8}  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0, help="locust run time per figure")
    parser.add_argument("--users", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL,
                        help="a PostgreSQL server to make the fresh benchmark database on (any database's URL)")
    parser.add_argument("--postgres-database", default=BENCH_DATABASE,
                        help="the benchmark database's name (dropped and made again; two runs at once need two)")
    parser.add_argument("--list-servers", type=int, default=10_000, help="servers present for the list figure")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure each figure this many times in a row; the table gives each run, then medians")
    parser.add_argument("--api-workers", type=int, default=0,
                        help="scale out (PostgreSQL only): serve --no-plane --workers N, and the plane in the "
                        "processes below (0: one serve process runs everything)")
    parser.add_argument("--conductors", type=int, default=2, help="twinstack conductor processes (scaled out)")
    parser.add_argument("--schedulers", type=int, default=0,
                        help="twinstack scheduler processes (scaled out; 0: each conductor schedules itself)")
    parser.add_argument("--agents", type=int, default=2, help="twinstack agent processes sharing --hosts (scaled out)")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run: 20 hosts, 2 users")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.tiny:
        args.hosts, args.seconds, args.users, args.list_servers = 20, 2.0, [2], 150
    shape = Shape(args.api_workers, args.conductors, args.schedulers, args.agents)
    if shape.scaled_out and "sqlite" in args.databases:
        parser.error("--api-workers (scaled out) runs on PostgreSQL only: add --databases postgresql")
    figures: list[Figure] = []
    for database in args.databases:
        figures += measure(database, args.hosts, args.seconds, args.users, args.list_servers, args.scenarios,
                           args.postgres_url, args.repeats, args.postgres_database, shape)
    if args.repeats > 1:
        print_table(figures)
        print(f"medians of {args.repeats} runs:")
        figures = medians(figures)
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
