"""What one server create costs the API alone: its CPU time per create, over the real HTTP stack.

    python -m benchmarks.api_create [--creates 500] [--database sqlite|postgresql] [--py-spy flame.txt] [--json out]

Starts ``twinstack serve --no-plane`` (the APIs only, as ``--workers`` runs them) on RabbitMQ, under a bus
prefix of its own, with no conductor listening: a create is recorded and its build request is queued, and nothing
builds it, so the server's CPU time is the API's part of a create and nothing else (benchmarks/load.py's
``cpu_ms`` adds the build). The admin project's quotas are lifted, as the load benchmark lifts them, then
``--creates`` creates are posted one after another as benchmarks/locustfiles/compute.py's ``CreateOnly`` posts
them (``networks: none``, microversion 2.79), after a warm-up of 50. Prints the server's CPU milliseconds per
create and the client's median latency. ``--py-spy FILE`` records the server meanwhile (collapsed stacks, GIL
samples only: what the API threads run), for a profile of the create path alone. The queues and exchange made
on the broker are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
from kombu.connection import Connection

from benchmarks.load import POSTGRES_ADMIN_URL, Admin, fresh_postgres_database
from benchmarks.locustfiles.compute import password_body
from benchmarks.serving import Server, launch_serve

BROKER_URL = os.environ.get("TWINSTACK_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
WARM_UP = 50


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def post_creates(server: Server, count: int, flavor: str, image: str) -> list[float]:
    """Post ``count`` creates in turn on one kept connection; the latency of each, in seconds."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post("/identity/v3/auth/tokens", json=password_body(server.admin_auth()))
        answer.raise_for_status()
        headers = {"X-Auth-Token": answer.headers["X-Subject-Token"], "OpenStack-API-Version": "compute 2.79"}
        latencies = []
        for n in range(count):
            body = {"server": {"name": f"load-{n:06d}", "flavorRef": flavor, "imageRef": image, "networks": "none"}}
            started = time.perf_counter()
            created = http.post("/compute/v2.1/servers", json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if created.status_code != 202:
                raise RuntimeError(f"create answered {created.status_code}: {created.text[:300]}")
    return latencies


def delete_bus(prefix: str) -> None:
    """The exchange and the queues the server declared under ``prefix``."""
    with Connection(BROKER_URL) as connection:  # type: ignore[no-untyped-call]
        channel = connection.default_channel
        for topic in ("conductor", "scheduler", "compute"):
            channel.queue_delete(f"{prefix}.{topic}")
        channel.exchange_delete(prefix)


def measure(creates: int, database_url: str | None, profile: Path | None) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "TWINSTACK_BUS__TRANSPORT": "amqp", "TWINSTACK_BUS__URL": BROKER_URL,
           "TWINSTACK_BUS__PREFIX": prefix, "TWINSTACK_LOGGING__LEVEL": "WARNING"}
    extra = ["--database-url", database_url] if database_url else []
    with tempfile.TemporaryDirectory(prefix="twinstack-api-create-") as tmp:
        data_dir, log = Path(tmp) / "data", Path(tmp) / "serve.log"
        process, url = launch_serve(["--no-plane", *extra], data_dir, log, env)
        try:
            server = Server(url, data_dir, process.pid, process, log)
            admin = Admin(server)
            admin.lift_quotas()
            flavor, image = admin.references()
            post_creates(server, WARM_UP, flavor, image)
            watched = psutil.Process(process.pid)
            spy = (subprocess.Popen(["py-spy", "record", "--gil", "--format", "raw", "--rate", "250", "--output",
                                     str(profile), "--pid", str(process.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   if profile is not None else None)
            if spy is not None:
                time.sleep(1.0)  # py-spy attaches
            before = cpu_seconds(watched)
            latencies = post_creates(server, creates, flavor, image)
            spent = cpu_seconds(watched) - before
            if spy is not None:
                spy.send_signal(2)
                spy.wait(30)
        finally:
            process.terminate()
            process.wait(10)
            delete_bus(prefix)
    return {"creates": creates, "server_cpu_ms_per_create": round(1000 * spent / creates, 3),
            "latency_p50_ms": round(1000 * statistics.median(latencies), 3),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--py-spy", type=Path, default=None, help="record the server's GIL samples into this file")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures into this file")
    args = parser.parse_args()
    database_name = f"twinstack_api_create_{uuid.uuid4().hex[:8]}"
    database_url = (fresh_postgres_database(args.postgres_url, database_name) if args.database == "postgresql"
                    else None)
    try:
        figures = measure(args.creates, database_url, args.py_spy)
    finally:
        if database_url is not None:
            import psycopg

            with psycopg.connect(args.postgres_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
    answer = json.dumps({"database": args.database, **figures})
    print(answer)
    if args.json is not None:
        args.json.write_text(answer + "\n")


if __name__ == "__main__":
    main()
