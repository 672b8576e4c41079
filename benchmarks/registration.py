"""Host registration: how long a conductor takes to register an agent's hosts, and how many SQL statements it sends.

    python -m benchmarks.registration [--hosts 1000 5000] [--databases sqlite postgresql]
                                      [--postgres-url URL] [--json out.json]

What is timed is what a conductor does with one ``HostsRegistered`` message (twinstack.core.compute.conductor
``_register``): the shared placement's ``register_hosts`` (resource providers, inventories, traits, the
allocations they already hold) and the host store's ``upsert_all``, on a fresh database. Three figures per size:

* ``first``: every host is new;
* ``again``: the same hosts register again (an agent restarted): nothing to write but the hosts' rows;
* ``again, holding``: the same, with one allocation held on every host (kept, and loaded into the columns).

A restarting cloud or agent goes through ``again``; a new cloud through ``first``. PostgreSQL: a fresh database
``twinstack_registration`` is made (dropped first if it exists) on the server ``--postgres-url`` names.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from benchmarks.scheduler import make_hosts
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler.shared_placement import SharedPlacement
from twinstack.db import migrate
from twinstack.db.session import make_engine, make_session_factory
from twinstack.db.stores.compute import SqlHostStore

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "twinstack_registration"


@contextmanager
def fresh_database(kind: str, postgres_url: str) -> Iterator[str]:
    """The URL of an empty database of ``kind``, gone afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="twinstack-registration-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'cloud.db'}"
        return
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        admin.dispose()


class StatementCounter:
    """Counts the SQL statements an engine sends (an executemany counts once: one round trip)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def register(database_url: str, hosts: int) -> list[dict[str, Any]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    counter = StatementCounter(engine)
    figures: list[dict[str, Any]] = []

    def timed(figure: str) -> None:
        fleet = make_hosts(hosts)
        placement, store = SharedPlacement(sessions), SqlHostStore(sessions)  # a conductor starting
        counter.count = 0
        started = time.perf_counter()
        placement.register_hosts(fleet)
        store.upsert_all(fleet)
        seconds = time.perf_counter() - started
        figures.append({"hosts": hosts, "figure": figure, "seconds": seconds, "hosts_per_s": hosts / seconds,
                        "statements": counter.count})
        print(f"  {hosts} hosts, {figure}: {seconds:.2f} s, {counter.count} statements", flush=True)

    timed("first")
    timed("again")
    placement = SharedPlacement(sessions)
    providers = [placement.provider_of(host.host) for host in make_hosts(hosts)]
    claims = [pl.ConsumerClaim(str(uuid.uuid4()), {provider: {"VCPU": 1, "MEMORY_MB": 512}}, "bench", "bench",
                               generation=None) for provider in providers if provider is not None]
    pl.run_in_transaction(sessions, lambda s: pl.claim(s, claims))
    timed("again, holding")
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (SQLite, 20 hosts)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    sizes, databases = ([20], ["sqlite"]) if args.tiny else (args.hosts, args.databases)
    results: list[dict[str, Any]] = []
    for database in databases:
        for hosts in sizes:
            with fresh_database(database, args.postgres_url) as url:
                results += [{"database": database, **row} for row in register(url, hosts)]
    print()
    print(f"{'database':<12}{'hosts':>7}  {'figure':<18}{'seconds':>9}{'hosts/s':>10}{'statements':>12}")
    for row in results:
        print(f"{row['database']:<12}{row['hosts']:>7}  {row['figure']:<18}{row['seconds']:>9.2f}"
              f"{row['hosts_per_s']:>10.0f}{row['statements']:>12}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
