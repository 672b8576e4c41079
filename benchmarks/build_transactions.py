"""How many database transactions and statements one server's build costs the control plane, and where they come from.

    python -m benchmarks.build_transactions [--servers 50] [--hosts 100] [--database postgresql|sqlite]
                                            [--repeats 1] [--json out.json]

Runs the conductor as ``twinstack conductor`` runs it (a SharedPlacement, the shared FilterScheduler, SQL stores),
in this process over the in-process bus with simulated hosts that boot in no time, then creates ``--servers``
servers through the compute service (the API's core call, asking for no network, ``networks: none``, as
benchmarks/load.py's creates do) one at a time and waits for each to be ACTIVE. Every transaction begun meanwhile
is counted, and attributed to the first Twinstack function outside the database layer that began it; the table
gives transactions and statements per server. The API's own share (the create request) is counted apart from the
build's (the conductor's and the agent's answers).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import event

from benchmarks.registration import POSTGRES_ADMIN_URL, fresh_database
from twinstack.cloud import open_cloud
from twinstack.compute_plane import build_compute_plane
from twinstack.config import Settings
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.core.compute.model import ServerAttributes
from twinstack.core.compute.service import BootRequest
from twinstack.core.image.images import TEST_IMAGE_ID
from twinstack.core.scheduler.shared_placement import SharedPlacement, shared_scheduler_factory
from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.setup_cloud import bootstrap
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed

SKIPPED = ("/sqlalchemy/", "/twinstack/db/", "/contextlib.py", "/benchmarks/build_transactions.py")


def origin() -> str:
    """The innermost Twinstack frame outside the database layer: who began this transaction."""
    for frame in reversed(traceback.extract_stack()):
        if "/twinstack/" in frame.filename and not any(part in frame.filename for part in SKIPPED):
            return f"{frame.filename.split('/twinstack/', 1)[1]}:{frame.name}"
    return "?"


class Counter:
    """Counts the plane's transactions (its runtime's thread) and the create call's (this thread, while
    ``creating``); this thread's polling for ACTIVE is not counted."""

    def __init__(self) -> None:
        self.transactions: collections.Counter[str] = collections.Counter()
        self.statements = 0
        self.creating = False

    def counts(self) -> bool:
        return self.creating or threading.current_thread() is not threading.main_thread()

    def begun(self, *_args: Any) -> None:
        if self.counts():
            self.transactions[origin()] += 1

    def executed(self, *_args: Any) -> None:
        if self.counts():
            self.statements += 1


def plane_cpu_seconds() -> float:
    """CPU time of every thread but this one (the plane's runtime and whatever it started), as the kernel counts it:
    what the builds cost, the create calls (made on this thread) and this thread's polling left out."""
    total = 0.0
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and thread.ident is not None:
            with contextlib.suppress(OSError):  # ended meanwhile
                total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


def measure(database_url: str, servers: int, hosts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="twinstack-build-tx-") as tmp:
        cloud = open_cloud(Settings(data_dir=Path(tmp) / "data", database_url=database_url, port=8000))
        bootstrap(cloud)
        datacenter = uniform_datacenter(hosts, profile=HostProfile(vcpus=64, ram_mb=262144, disk_gb=4000))
        datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
            boot_seconds=Fixed(value=0), delete_seconds=Fixed(value=0), heartbeat_seconds=10)})
        plane = build_compute_plane(cloud.sessions, SharedPlacement(cloud.sessions), shared_scheduler_factory(),
                                    datacenter, conductor_settings=ConductorSettings(recovery_delay=None))
        try:
            while len(plane.hosts.all()) < hosts:
                time.sleep(0.1)
            context = plane.context()
            context.quotas.set_limits("p", {"instances": -1, "cores": -1, "ram": -1})
            counter = Counter()
            event.listen(cloud.engine, "begin", counter.begun)
            event.listen(cloud.engine, "before_cursor_execute", counter.executed)
            flavor = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1)
            plane_cpu = plane_cpu_seconds()
            created_tx = created_statements = 0
            for n in range(servers):
                counter.creating = True
                before_tx, before_st = sum(counter.transactions.values()), counter.statements
                [instance] = context.service.create_servers(
                    BootRequest(name=f"vm{n}", project_id="p", user_id="u", flavor=flavor,
                                image=ImageSpec(id=TEST_IMAGE_ID),
                                attributes=ServerAttributes(requested_networks="none")), f"req-{n}")
                created_tx += sum(counter.transactions.values()) - before_tx
                created_statements += counter.statements - before_st
                counter.creating = False
                deadline = time.monotonic() + 30
                while context.instances.get(instance.uuid).vm_state != "active":  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, f"{instance.uuid} did not become active"
                    time.sleep(0.002)
            plane_cpu = plane_cpu_seconds() - plane_cpu
            total = sum(counter.transactions.values())
            print(f"{servers} servers: {total / servers:.1f} transactions and {counter.statements / servers:.1f} "
                  f"statements per server (the create call: {created_tx / servers:.1f} and "
                  f"{created_statements / servers:.1f}); {1000 * plane_cpu / servers:.2f} ms of the plane's CPU per "
                  "server (its threads: conductor, scheduler, simulated agent, bus; the create call apart)")
            for where, count in counter.transactions.most_common():
                print(f"{count / servers:8.2f}  {where}")
            return {"servers": servers, "hosts": hosts, "transactions_per_server": total / servers,
                    "statements_per_server": counter.statements / servers,
                    "create_transactions_per_server": created_tx / servers,
                    "create_statements_per_server": created_statements / servers,
                    "plane_cpu_ms_per_server": 1000 * plane_cpu / servers,
                    "by_origin": {where: count / servers for where, count in counter.transactions.most_common()}}
        finally:
            plane.stop()
            cloud.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--repeats", type=int, default=1, help="measure this many times, each on a fresh database")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (one per repeat)")
    args = parser.parse_args()
    figures = []
    for _ in range(args.repeats):
        with fresh_database(args.database, args.postgres_url) as url:
            figures.append({"database": args.database, **measure(url, args.servers, args.hosts)})
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
