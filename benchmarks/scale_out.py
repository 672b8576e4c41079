"""Scale out and stay correct: a boot burst larger than the cloud, on API workers, schedulers, conductors and
agents that are all separate processes over PostgreSQL and RabbitMQ (issue 9).

    python -m benchmarks.scale_out                 # 4 API workers, 2 schedulers, 2 conductors, 2 agents:
                                                   #   2,000 boots onto room for 1,500
    python -m benchmarks.scale_out --tiny          # 2 workers, 2 schedulers, 2 conductors, 2 agents of 20 hosts:
                                                   #   60 boots, room 45
    python -m benchmarks.scale_out --boots 600 --room 450 --hosts-per-agent 200 --json out.json
    python -m benchmarks.scale_out --schedulers 0  # no scheduler process: each conductor schedules in-process

The conductors ask the ``twinstack scheduler`` processes for destinations over RabbitMQ (compute.scheduler =
'remote'); every claim is a compare-and-swap in SQL whichever scheduler makes it. Hosts take one or two servers
of the benchmark's flavor, so the cloud has room for exactly ``--room``. Every boot is requested at once
(openstacksdk, ``--clients`` threads, each its own connection); then the cloud must hold exactly ``room`` ACTIVE
servers and ``boots - room`` in ERROR with Nova's NoValidHost fault, no provider used past its capacity, no
allocation of anything but an ACTIVE server, no address or MAC on two ports and every ACTIVE server's one port
bound to its host. Everything is then deleted, concurrently, and nothing may be left: no server, no allocation,
no server's port.

Figures: seconds to accept every request, requests accepted per second, seconds until no server is building,
seconds to delete everything. Simulated boots take ``--boot-seconds``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import openstack
import yaml
from openstack.connection import Connection

from benchmarks.cluster import Cluster, fresh_postgres, local_cluster

T = TypeVar("T")
R = TypeVar("R")

FLAVOR = {"name": "scale.one", "vcpus": 1, "ram": 256, "disk": 1}
PROFILES = {"one": {"vcpus": 1, "ram_mb": 4096, "disk_gb": 20, "cpu_allocation_ratio": 1.0},
            "two": {"vcpus": 2, "ram_mb": 4096, "disk_gb": 20, "cpu_allocation_ratio": 1.0}}
"""Hosts that take one, or two, servers of FLAVOR (their vCPUs are the binding resource)."""


@dataclass
class Layout:
    """How many one-slot and two-slot hosts each agent process runs."""

    agents: list[tuple[int, int]]

    @property
    def hosts(self) -> int:
        return sum(one + two for one, two in self.agents)

    @property
    def room(self) -> int:
        return sum(one + 2 * two for one, two in self.agents)


def layout(agents: int, hosts_per_agent: int, room: int) -> Layout:
    """``room - hosts`` two-slot hosts, taken from the last agents first."""
    twos = room - agents * hosts_per_agent
    if not 0 <= twos <= agents * hosts_per_agent:
        raise ValueError(f"room {room} needs between {agents * hosts_per_agent} and {2 * agents * hosts_per_agent} "
                         "slots' worth of hosts")
    shares = []
    for _ in range(agents):
        two = min(twos, hosts_per_agent)
        twos -= two
        shares.append((hosts_per_agent - two, two))
    return Layout(list(reversed(shares)))


def agent_arguments(workdir: Path, name: str, one: int, two: int, boot_seconds: float,
                    delete_seconds: float | None = None) -> list[str]:
    """``--hosts N`` shaped by a one-rack file when the agent has one kind of host; its own layout file if two.
    Deletes and power actions take a quarter of a boot unless ``delete_seconds`` says how long a delete takes."""
    racks = [{"name": f"{name}-{kind}", "hosts": {"profile": kind, "count": count}}
             for kind, count in (("one", one), ("two", two)) if count]
    datacenter = {"cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": racks}]}], "profiles": PROFILES,
                  "behaviour": {"boot_seconds": {"kind": "fixed", "value": boot_seconds},
                                "delete_seconds": {"kind": "fixed", "value": delete_seconds or boot_seconds / 4},
                                "power_seconds": {"kind": "fixed", "value": boot_seconds / 4},
                                "heartbeat_seconds": 5}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(datacenter))
    if len(racks) == 1:
        return ["--hosts", str(one + two), "--datacenter", str(path)]
    return ["--datacenter", str(path)]


@dataclass
class Audit:
    """What the cloud holds, and every inconsistency found (each a sentence); empty ``problems``: correct."""

    statuses: dict[str, int]
    no_valid_host: int
    allocations: int
    compute_ports: int
    problems: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    """ERROR servers per fault message (its first 100 characters): which NoValidHost it was, when it was one."""


@dataclass
class Figures:
    boots: int
    room: int
    hosts: int
    api_workers: int
    schedulers: int
    conductors: int
    accept_seconds: float
    accepted_per_second: float
    settle_seconds: float
    delete_seconds: float
    after_boots: Audit
    after_deletes: Audit


def connect(cluster: Cluster) -> Connection:
    data = yaml.safe_load((cluster.data_dir / "clouds.yaml").read_text())
    return openstack.connect(**data["clouds"]["twinstack"])


def progress(line: str) -> None:
    print(f"scale_out: {line}", file=sys.stderr, flush=True)


def wait_for(what: str, ready: Callable[[], bool], timeout: float, cluster: Cluster, pause: float = 0.5) -> float:
    started = time.monotonic()
    while not ready():
        cluster.check_alive()
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout} s\n{cluster.log_tails()}")
        time.sleep(pause)
    return time.monotonic() - started


def prepare(conn: Connection, cluster: Cluster, hosts: int) -> tuple[str, str, str]:
    """Quotas lifted, the flavor, a network roomy enough, every host registered: (flavor, image, network) ids."""
    project = conn.current_project_id
    assert project is not None, "the benchmark's connection is scoped to a project"
    conn.set_compute_quotas(project, instances=-1, cores=-1, ram=-1)
    conn.set_network_quotas(project, port=-1)
    flavor = conn.compute.create_flavor(**FLAVOR)
    network = conn.network.create_network(name="scale-net")
    conn.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.64.0.0/16", name="scale-subnet")
    image = conn.image.find_image("twinstack-test")
    if image is None:
        raise RuntimeError("the cloud has no twinstack-test image")
    wait_for(f"{hosts} hosts registering", lambda: len(list(conn.compute.hypervisors())) >= hosts, 120, cluster)
    return str(flavor.id), str(image.id), str(network.id)


def across(connections: list[Connection], work: Callable[[Connection, T], R], items: Iterable[T]) -> list[R]:
    """``work(connection, item)`` for every item at once, from one thread per connection (each thread keeps its
    own, so no client session is shared between threads)."""
    local = threading.local()
    handed = iter(connections)
    lock = threading.Lock()

    def run_one(item: T) -> R:
        if not hasattr(local, "conn"):
            with lock:
                local.conn = next(handed)
        return work(local.conn, item)

    with ThreadPoolExecutor(len(connections)) as pool:
        return list(pool.map(run_one, items))


def boot_all(connections: list[Connection], boots: int, flavor: str, image: str, network: str) -> list[str]:
    """Every create at once; the server ids."""
    def create(conn: Connection, index: int) -> str:
        server = conn.compute.create_server(name=f"scale-{index:05d}", flavor_id=flavor, image_id=image,
                                            networks=[{"uuid": network}])
        return str(server.id)

    return across(connections, create, range(boots))


def delete_all(connections: list[Connection], ids: Iterable[str]) -> None:
    across(connections, lambda conn, server_id: conn.compute.delete_server(server_id), ids)


def placement_get(conn: Connection, path: str) -> Any:
    answer = conn.placement.get(path, microversion="1.17")
    answer.raise_for_status()
    return answer.json()


def audit(conn: Connection) -> Audit:
    """Servers, placement and ports as the APIs show them, checked against each other."""
    servers = list(conn.compute.servers(details=True, all_projects=True))
    statuses = Counter(s.status for s in servers)
    active = {s.id: s for s in servers if s.status == "ACTIVE"}
    problems: list[str] = []
    no_valid_host = 0
    faults: Counter[str] = Counter()
    for server in servers:
        if server.status == "ERROR":
            message = (server.fault or {}).get("message", "")
            faults[message[:100]] += 1
            if message.startswith("No valid host was found"):
                no_valid_host += 1
            else:
                problems.append(f"server {server.id} is in ERROR for another reason: {message!r}")
    allocations = 0
    for provider in placement_get(conn, "/resource_providers")["resource_providers"]:
        uuid = provider["uuid"]
        inventories = placement_get(conn, f"/resource_providers/{uuid}/inventories")["inventories"]
        usages = placement_get(conn, f"/resource_providers/{uuid}/usages")["usages"]
        for rc, used in usages.items():
            inventory = inventories.get(rc)
            capacity = 0 if inventory is None else int(
                (inventory["total"] - inventory["reserved"]) * inventory["allocation_ratio"])
            if used > capacity:
                problems.append(f"provider {provider['name']} uses {used} {rc} of {capacity}")
        held = placement_get(conn, f"/resource_providers/{uuid}/allocations")["allocations"]
        for consumer in held:
            allocations += 1
            if consumer not in active:
                problems.append(f"provider {provider['name']} holds an allocation of {consumer}, not an ACTIVE server")
            elif active[consumer].hypervisor_hostname != provider["name"]:
                problems.append(f"{consumer} is allocated on {provider['name']} but runs on "
                                f"{active[consumer].hypervisor_hostname}")
    ports = [p for p in conn.network.ports() if (p.device_owner or "").startswith("compute:")]
    addresses = Counter((p.network_id, ip["ip_address"]) for p in ports for ip in p.fixed_ips)
    macs = Counter(p.mac_address for p in ports)
    problems += [f"address {address} is on {count} ports" for address, count in addresses.items() if count > 1]
    problems += [f"MAC {mac} is on {count} ports" for mac, count in macs.items() if count > 1]
    known = {s.id for s in servers}
    per_server = Counter(p.device_id for p in ports)
    for port in ports:
        if port.device_id not in known:
            problems.append(f"port {port.id} belongs to {port.device_id}, which is no server")
        elif port.device_id in active and port.binding_host_id != active[port.device_id].compute_host:
            problems.append(f"port {port.id} is bound to {port.binding_host_id!r}, its server runs on "
                            f"{active[port.device_id].compute_host}")
    problems += [f"ACTIVE server {s} has {per_server[s]} ports" for s in active if per_server[s] != 1]
    return Audit(dict(statuses), no_valid_host, allocations, len(ports), problems, dict(faults))


@dataclass
class Running:
    """A started cluster, its hosts registered, ready for bursts."""

    cluster: Cluster
    conn: Connection
    shape: Layout
    schedulers: int
    conductors: int
    api_workers: int
    flavor: str
    image: str
    network: str


@contextmanager
def scaled_out(workdir: Path, room: int, agents: int, hosts_per_agent: int, api_workers: int, conductors: int,
               schedulers: int, boot_seconds: float, prefix: str | None = None) -> Iterator[Running]:
    """The cluster (on a fresh database), up and with every host registered; stopped on the way out. With
    ``schedulers``, the conductors ask those scheduler processes (compute.scheduler = 'remote')."""
    shape = layout(agents, hosts_per_agent, room)
    extra = {"TWINSTACK_COMPUTE__SCHEDULER": "remote"} if schedulers else {}
    with fresh_postgres() as database, local_cluster(workdir, database, prefix, extra) as cluster:
        cluster.serve(api_workers)
        for n in range(schedulers):
            cluster.scheduler(f"scheduler-{n + 1}")
        for n in range(conductors):
            cluster.conductor(f"conductor-{n + 1}")
        for n, (one, two) in enumerate(shape.agents):
            name = f"agent{n + 1}"
            cluster.agent(name, *agent_arguments(workdir, name, one, two, boot_seconds))
        began = time.monotonic()
        cluster.wait_serving()
        progress(f"API answering after {time.monotonic() - began:.1f} s")
        conn = connect(cluster)
        flavor, image, network = prepare(conn, cluster, shape.hosts)
        progress(f"{shape.hosts} hosts registered after {time.monotonic() - began:.1f} s")
        yield Running(cluster, conn, shape, schedulers, conductors, api_workers, flavor, image, network)


def no_server_building(conn: Connection) -> bool:
    return next(iter(conn.compute.servers(status="BUILD", limit=1)), None) is None


def burst(running: Running, boots: int, clients: int) -> Figures:
    """Every boot at once, settle, audit, delete everything, audit again."""
    cluster, conn = running.cluster, running.conn
    connections = [connect(cluster) for _ in range(clients)]
    started = time.monotonic()
    ids = boot_all(connections, boots, running.flavor, running.image, running.network)
    accept_seconds = time.monotonic() - started
    settle_seconds = accept_seconds + wait_for("every boot settling", lambda: no_server_building(conn),
                                               60 + boots / 2, cluster)
    progress(f"{boots} boots accepted in {accept_seconds:.1f} s, settled after {settle_seconds:.1f} s")
    after_boots = audit(conn)
    progress("audited")
    started = time.monotonic()
    delete_all(connections, ids)
    wait_for("every server gone", lambda: next(iter(conn.compute.servers(limit=1)), None) is None,
             60 + boots / 2, cluster)
    delete_seconds = time.monotonic() - started
    after_deletes = audit(conn)
    return Figures(boots, running.shape.room, running.shape.hosts, running.api_workers, running.schedulers,
                   running.conductors, round(accept_seconds, 2), round(boots / accept_seconds, 1),
                   round(settle_seconds, 2), round(delete_seconds, 2), after_boots, after_deletes)


def run(workdir: Path, boots: int, room: int, agents: int, hosts_per_agent: int, api_workers: int,
        conductors: int, clients: int, boot_seconds: float, schedulers: int = 2, prefix: str | None = None,
        on_ready: Callable[[Cluster, Connection], None] | None = None) -> Figures:
    """Start the cluster, burst, audit, delete, audit again; ``on_ready`` sees the cluster before the burst."""
    with scaled_out(workdir, room, agents, hosts_per_agent, api_workers, conductors, schedulers, boot_seconds,
                    prefix) as running:
        if on_ready is not None:
            on_ready(running.cluster, running.conn)
        return burst(running, boots, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="60 boots onto room for 45, 2 workers (CI's size).")
    parser.add_argument("--boots", type=int, default=2000)
    parser.add_argument("--room", type=int, default=1500)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--hosts-per-agent", type=int, default=500)
    parser.add_argument("--api-workers", type=int, default=4)
    parser.add_argument("--conductors", type=int, default=2)
    parser.add_argument("--schedulers", type=int, default=2,
                        help="'twinstack scheduler' processes (0: each conductor schedules in-process).")
    parser.add_argument("--clients", type=int, default=16, help="Threads (and connections) creating servers.")
    parser.add_argument("--boot-seconds", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.tiny:
        args.boots, args.room, args.hosts_per_agent, args.api_workers, args.clients = 60, 45, 20, 2, 8
    with tempfile.TemporaryDirectory(prefix="twinstack-scale-") as tmp:
        figures = run(Path(tmp), args.boots, args.room, args.agents, args.hosts_per_agent, args.api_workers,
                      args.conductors, args.clients, args.boot_seconds, args.schedulers)
    print(f"{figures.boots} boots onto room for {figures.room} ({figures.hosts} hosts, {figures.api_workers} API "
          f"workers, {figures.schedulers} schedulers, {figures.conductors} conductors, {args.agents} agents)")
    print(f"  accepted in {figures.accept_seconds} s ({figures.accepted_per_second}/s); settled after "
          f"{figures.settle_seconds} s; deleted in {figures.delete_seconds} s")
    for label, found in (("after the burst", figures.after_boots), ("after deleting", figures.after_deletes)):
        print(f"  {label}: {found.statuses}, NoValidHost {found.no_valid_host}, allocations {found.allocations}, "
              f"server ports {found.compute_ports}, problems {len(found.problems)}")
        for problem in found.problems[:20]:
            print(f"    {problem}")
        for message, count in sorted(found.faults.items(), key=lambda item: -item[1]):
            print(f"    {count} x fault {message!r}")
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2))
    correct = (figures.after_boots.statuses == {"ACTIVE": figures.room, "ERROR": figures.boots - figures.room}
               and figures.after_boots.no_valid_host == figures.boots - figures.room
               and not figures.after_boots.problems and not figures.after_deletes.problems
               and figures.after_deletes.allocations == 0 and figures.after_deletes.compute_ports == 0)
    sys.exit(0 if correct else 1)


if __name__ == "__main__":
    main()
