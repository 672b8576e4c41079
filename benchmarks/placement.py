"""Placement: allocation-candidates latency and claims per second at 1,000 and 10,000 providers.

    python -m benchmarks.placement [--providers 1000 10000] [--rounds 30] [--claims 300]
                                   [--database-url URL] [--json out.json]

Each provider is a compute node (VCPU 64 x4.0, MEMORY_MB 256 GiB, DISK_GB 4 TB, a few traits, one
of 10 aggregates) already running one consumer. Figures, for each size:

* in-process, through the core functions (the scheduler's path): allocation candidates for
  ``VCPU:1,MEMORY_MB:512,DISK_GB:10`` (every candidate, then the first 10), and claims (new
  consumer on a random provider, generation compare-and-swap, retried on conflict) on a
  Connection as the scheduler makes them, then in an ORM Session as the API makes them;
* over HTTP against the cloud's HTTP application under uvicorn in its own process (SQLite; the
  same app ``twinstack serve`` runs, without the compute plane so that only the API is timed):
  ``GET /allocation_candidates`` and ``PUT /allocations/{consumer}`` at microversion 1.39, one
  request at a time.

Each figure has its CPU per call: this process's in process, the server's over HTTP (the figure to
compare on a busy machine). The in-process figures use a temporary SQLite file unless ``--database-url`` names another
(e.g. a PostgreSQL database, which must be empty).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.serving import Server, launch
from benchmarks.stats import percentile
from twinstack.config import Settings
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler.candidates import CandidateQuery, RequestGroup, allocation_candidates
from twinstack.db import migrate
from twinstack.db.models.placement import (
    Allocation,
    Consumer,
    Inventory,
    ProviderAggregate,
    ProviderTrait,
    ResourceProvider,
)
from twinstack.db.session import make_engine, make_session_factory

REQUEST = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}
AGGREGATES = [str(uuid.UUID(int=i + 1)) for i in range(10)]
TRAITS = ["COMPUTE_NODE", "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"]


def populate(engine: Engine, providers: int) -> list[str]:
    """``providers`` compute nodes, each with inventory, traits, an aggregate and one consumer."""
    uuids = [str(uuid.uuid4()) for _ in range(providers)]
    rows: list[dict[str, Any]] = [
        {"id": i + 1, "uuid": u, "name": f"cn{i:05d}-{u[:8]}", "generation": 1, "root_provider_id": i + 1}
        for i, u in enumerate(uuids)]
    with engine.begin() as conn:
        conn.execute(insert(ResourceProvider), rows)
        conn.execute(insert(Inventory), [
            {"provider_id": r["id"], "resource_class": rc, "total": total, "reserved": 0, "min_unit": 1,
             "max_unit": total, "step_size": 1, "allocation_ratio": ratio}
            for r in rows for rc, total, ratio in (("VCPU", 64, 4.0), ("MEMORY_MB", 262144, 1.0),
                                                   ("DISK_GB", 4000, 1.0))
        ])
        conn.execute(insert(ProviderTrait), [{"provider_id": r["id"], "trait": t} for r in rows for t in TRAITS
                                             if t != "HW_CPU_X86_AVX2" or r["id"] % 2])
        conn.execute(insert(ProviderAggregate), [{"provider_id": r["id"], "aggregate_uuid": AGGREGATES[r["id"] % 10]}
                                                 for r in rows])
        consumers = [str(uuid.uuid4()) for _ in rows]
        conn.execute(insert(Consumer), [{"uuid": c, "project_id": "bench", "user_id": "bench", "generation": 1}
                                        for c in consumers])
        conn.execute(insert(Allocation), [
            {"consumer_uuid": c, "provider_id": r["id"], "resource_class": rc, "used": used}
            for c, r in zip(consumers, rows, strict=True)
            for rc, used in (("VCPU", 4), ("MEMORY_MB", 8192), ("DISK_GB", 80))
        ])
    return uuids


def timed(rounds: int, call: Callable[[], Any], spent: Callable[[], float] = time.process_time) -> dict[str, float]:
    """Latencies, rate and CPU per call of ``rounds`` calls; ``spent`` reads the CPU seconds of whoever does the
    work (this process by default; the server's for HTTP figures). CPU per call is the figure that holds up on a
    busy machine, where the rate drops with the load."""
    latencies = []
    cpu = spent()
    started = time.perf_counter()
    for _ in range(rounds):
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    cpu = spent() - cpu
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * percentile(ordered, 0.99),
            "per_second": rounds / elapsed, "cpu_ms": 1000 * cpu / rounds, "rounds": rounds}


def in_process(database_url: str, providers: int, rounds: int, claims: int) -> dict[str, dict[str, float]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    uuids = populate(engine, providers)
    every = CandidateQuery((RequestGroup("", REQUEST),))
    first10 = CandidateQuery((RequestGroup("", REQUEST),), limit=10)
    with_traits = CandidateQuery((RequestGroup("", REQUEST, required=(frozenset(["HW_CPU_X86_AVX2"]),),
                                               member_of=(frozenset(AGGREGATES[:5]),)),), limit=10)
    matching = sum(1 for pid in range(1, providers + 1) if pid % 2 and pid % 10 < 5)  # as populate() lays them

    def candidates(query: CandidateQuery, expect: int | None) -> Callable[[], None]:
        def call() -> None:
            with sessions() as session:
                found = allocation_candidates(session, query)
            assert expect is None or len(found.allocation_requests) == expect

        return call

    figures = {
        "allocation_candidates (all)": timed(rounds, candidates(every, providers)),
        "allocation_candidates (limit 10)": timed(rounds, candidates(first10, 10)),
        "  + required trait, member_of": timed(rounds, candidates(with_traits, min(10, matching))),
    }
    rng = random.Random(42)

    def request() -> pl.ConsumerClaim:
        return pl.ConsumerClaim(str(uuid.uuid4()), {rng.choice(uuids): dict(REQUEST)}, "bench", "bench",
                                generation=None)

    def claim() -> None:  # as the scheduler's SqlBackedPlacement.claim_at makes it: on a Connection
        wanted = request()
        pl.run_in_transaction(engine, lambda connection: pl.claim(connection, [wanted]))

    def claim_in_session() -> None:  # as Placement's PUT /allocations makes it: in an ORM Session
        wanted = request()
        pl.run_in_transaction(sessions, lambda session: pl.claim(session, [wanted]))

    figures["claim (new consumer)"] = timed(claims, claim)
    figures["  the same in a Session"] = timed(claims, claim_in_session)
    engine.dispose()
    return figures


def serve_api(data_dir: Path) -> None:
    """Run the cloud's HTTP application on a free port (bootstrapping ``data_dir``), until killed; print the URL."""
    import uvicorn

    from twinstack.api.app import create_app
    from twinstack.cloud import open_cloud
    from twinstack.listener import bind_listener, bound_port
    from twinstack.setup_cloud import bootstrap

    listener = bind_listener("127.0.0.1", 0)
    cloud = open_cloud(Settings(data_dir=data_dir, port=bound_port(listener)))
    bootstrap(cloud)
    print(f"Twinstack is serving at {cloud.settings.effective_public_url}", flush=True)
    uvicorn.Server(uvicorn.Config(create_app(cloud), log_level="warning", access_log=False)).run(sockets=[listener])


@contextmanager
def api_server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="twinstack-placement-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        process, url = launch([sys.executable, "-m", "benchmarks.placement", "--serve", str(data_dir)],
                              Path(tmp) / "serve.log", dict(os.environ))
        try:
            yield Server(url, data_dir, process.pid)
        finally:
            process.terminate()
            process.wait(10)


def over_http(providers: int, rounds: int, claims: int) -> dict[str, dict[str, float]]:
    with api_server() as server:
        settings = Settings(data_dir=server.data_dir)
        engine = make_engine(settings.effective_database_url)
        uuids = populate(engine, providers)
        engine.dispose()
        auth = server.admin_auth()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}
        with httpx.Client(base_url=f"{server.url}/placement", timeout=120) as client:
            token = client.post(f"{server.url}/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]
            client.headers.update({"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.39"})
            resources = ",".join(f"{rc}:{n}" for rc, n in REQUEST.items())

            def candidates(limit: str) -> Callable[[], None]:
                def call() -> None:
                    answer = client.get(f"/allocation_candidates?resources={resources}{limit}")
                    assert answer.status_code == 200, answer.text

                return call

            rng = random.Random(7)
            served = psutil.Process(server.pid)

            def server_cpu() -> float:
                times = served.cpu_times()
                return float(times.user + times.system)

            def claim() -> None:
                answer = client.put(f"/allocations/{uuid.uuid4()}", json={
                    "allocations": {rng.choice(uuids): {"resources": REQUEST}}, "project_id": "bench",
                    "user_id": "bench", "consumer_generation": None, "consumer_type": "INSTANCE"})
                assert answer.status_code == 204, answer.text

            return {
                "GET /allocation_candidates (all)": timed(max(3, rounds // 3), candidates(""), server_cpu),
                "GET /allocation_candidates (limit 10)": timed(rounds, candidates("&limit=10"), server_cpu),
                "PUT /allocations/{consumer}": timed(claims, claim, server_cpu),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=30, help="candidate requests timed per figure")
    parser.add_argument("--claims", type=int, default=300, help="claims timed per figure")
    parser.add_argument("--database-url", default=None, help="in-process database (default: a temporary SQLite)")
    parser.add_argument("--no-http", action="store_true", help="the in-process figures only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_api(args.serve)
        return
    results: list[dict[str, Any]] = []
    for providers in args.providers:
        with tempfile.TemporaryDirectory(prefix="twinstack-placement-bench-") as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'placement.db'}"
            for figure, row in in_process(url, providers, args.rounds, args.claims).items():
                results.append({"where": "in-process", "providers": providers, "figure": figure, **row})
                print(f"  measured in-process {providers} {figure}", flush=True)
        for figure, row in ({} if args.no_http else over_http(providers, args.rounds, args.claims)).items():
            results.append({"where": "http", "providers": providers, "figure": figure, **row})
            print(f"  measured http {providers} {figure}", flush=True)
    print()
    print(f"{'where':<12}{'providers':>10}  {'figure':<40}{'p50 ms':>10}{'p99 ms':>10}{'per second':>12}"
          f"{'CPU ms':>10}")
    for row in results:
        print(f"{row['where']:<12}{row['providers']:>10}  {row['figure']:<40}{row['p50_ms']:>10.2f}"
              f"{row['p99_ms']:>10.2f}{row['per_second']:>12.1f}{row['cpu_ms']:>10.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
