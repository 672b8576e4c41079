"""Cells with their own database, over HTTP: servers booted into the default cell (main database) and into cell2
(its own database, SQLite or PostgreSQL) are shown, listed, renamed and deleted alike; with cell2's database gone,
listings still answer with cell1's servers and, from microversion 2.69, cell2's as partial UNKNOWN records, new
builds land in cell1, and once it is back everything is as before.

The simulated datacenter has one availability zone per cell (az1 in cell1, az2 in cell2), so a boot picks its cell
by its zone; cell2's hosts have the most memory, so a boot that names no zone goes there while it can (the RAM
weigher spreads). The scheduler re-reads hosts and cells every 0.3 s (or, in the last test, only when told).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tests.api.compute_helpers import Nova, make_member
from tests.conftest import POSTGRES_URL, Api, drop_postgres_database, postgres_database
from tests.unit.cell_fixtures import create_cell
from twinstack.compute_plane import ComputePlane, build_compute_plane
from twinstack.core.audit.findings import AuditContext
from twinstack.core.audit.placement_leaks import OrphanAllocations
from twinstack.core.compute.conductor import BUILD_EVENT, ConductorSettings
from twinstack.core.scheduler.filter_scheduler import scheduler_factory
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db.models.compute import InstanceRow
from twinstack.db.session import SessionFactory, make_engine, make_session_factory
from twinstack.sim.datacenter import (
    Behaviour,
    Cell,
    Datacenter,
    HostGroup,
    HostProfile,
    Rack,
    Zone,
)
from twinstack.sim.distributions import Fixed

DATACENTER = Datacenter(
    cells=[Cell(name="cell1", zones=[Zone(name="az1", racks=[Rack(name="c1r1", hosts=HostGroup(count=2))])]),
           Cell(name="cell2", zones=[Zone(name="az2", racks=[Rack(name="c2r1", hosts=HostGroup(
               count=2, profile="big"))])])],
    profiles={"standard": HostProfile(vcpus=8, ram_mb=16384, disk_gb=200),
              "big": HostProfile(vcpus=8, ram_mb=65536, disk_gb=200)},
    behaviour=Behaviour(boot_seconds=Fixed(value=0.2), delete_seconds=Fixed(value=0.1), heartbeat_seconds=1.0))
PARTIAL_DETAIL = {"id", "status", "tenant_id", "created", "links"}
PARTIAL_SHOW = PARTIAL_DETAIL | {"user_id", "image", "flavor", "OS-EXT-AZ:availability_zone",
                                 "OS-EXT-STS:power_state"}


@dataclass
class TwoCells:
    plane: ComputePlane
    cell2: SessionFactory
    take_down: Callable[[], None]
    bring_back: Callable[[], None]


def sqlite_cell(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    path = tmp_path / "cell2.db"
    away = tmp_path / "cell2.away"
    yield f"sqlite:///{path}", lambda: path.rename(away), lambda: away.rename(path)


def postgres_cell() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    name = postgres_database()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def rename(old: str, new: str) -> None:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": old})
            conn.execute(text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))

    try:
        yield (POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", lambda: rename(name, name + "_away"),
               lambda: rename(name + "_away", name))
    finally:
        admin.dispose()
        drop_postgres_database(name + "_away")
        drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def cells(request: pytest.FixtureRequest, api: Api, tmp_path: Path) -> Iterator[TwoCells]:
    yield from two_cells(api, tmp_path, request.param, refresh=0.3)


def two_cells(api: Api, tmp_path: Path, backend: str, refresh: float | None) -> Iterator[TwoCells]:
    made = sqlite_cell(tmp_path) if backend == "sqlite" else postgres_cell()
    url, take_down, bring_back = next(made)
    create_cell(api.cloud.sessions, "cell2", url).close()
    plane = build_compute_plane(
        api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions),
        scheduler_factory(SchedulerSettings(host_refresh_seconds=refresh)), DATACENTER,
        conductor_settings=ConductorSettings(build_timeout=30, service_down_time=60, check_interval=5),
        cell_timeout=1.0)
    api.cloud.compute = plane.context()
    deadline = time.monotonic() + 10
    while len(plane.hosts.all()) < 4:
        assert time.monotonic() < deadline, "simulated hosts did not register"
        time.sleep(0.05)
    engine = make_engine(url)
    try:
        yield TwoCells(plane, make_session_factory(engine), take_down, bring_back)
    finally:
        plane.stop()
        api.cloud.compute = None
        engine.dispose()
        next(made, None)


def records(sessions: SessionFactory) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(InstanceRow.uuid).where(InstanceRow.deleted.is_(False))))


def boot(nova: Nova, name: str, zone: str | None = None) -> dict[str, object]:
    extra = {"availability_zone": zone} if zone else {}
    created = nova.boot(name, **extra)
    return nova.wait_for(str(created["id"]), "ACTIVE")


def test_servers_of_both_cells_live_in_their_cells_databases_and_a_down_cell_stops_nothing_else(
        api: Api, cells: TwoCells) -> None:
    nova = Nova(api)
    one = boot(nova, "one", "az1")
    two = boot(nova, "two", "az2")
    three = boot(nova, "three", "az2")
    assert str(one["OS-EXT-SRV-ATTR:host"]).startswith("c1r1") and str(two["OS-EXT-SRV-ATTR:host"]).startswith("c2r1")
    assert records(cells.cell2) == {two["id"], three["id"]}, "cell2's servers are kept in cell2's database"
    assert records(api.cloud.sessions) == {one["id"]}, "only cell1's (the default cell's) in the main one"
    with api.cloud.sessions() as session:
        leaks = OrphanAllocations().find(session, AuditContext(now=time.time(), stuck_after=600))
    assert leaks == [], "the audit, reading the main database, takes cell2's servers' allocations as held"

    listed = nova.get("/servers/detail").json()["servers"]
    assert [s["name"] for s in listed] == ["three", "two", "one"], "newest first across both cells"
    renamed = nova.put(f"/servers/{two['id']}", json={"server": {"name": "deux"}})
    assert renamed.status_code == 200 and nova.server(str(two["id"]))["name"] == "deux"
    actions = nova.get(f"/servers/{two['id']}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["create"]
    assert nova.delete(f"/servers/{three['id']}").status_code == 204
    nova.wait_gone(str(three["id"]))
    assert [s["name"] for s in nova.get("/servers/detail").json()["servers"]] == ["deux", "one"]

    cells.take_down()
    started = time.monotonic()
    plain = nova.get("/servers/detail")
    assert plain.status_code == 200 and [s["name"] for s in plain.json()["servers"]] == ["one"]
    assert time.monotonic() - started < 5, "a down cell costs at most its timeout"
    nova69 = nova.at("2.69")
    servers = nova69.get("/servers/detail").json()["servers"]
    assert [s.get("name") for s in servers] == ["one", None]
    unknown = servers[1]
    assert set(unknown) == PARTIAL_DETAIL and (unknown["id"], unknown["status"]) == (two["id"], "UNKNOWN")
    assert unknown["tenant_id"] == one["tenant_id"] and unknown["created"] == two["created"]
    assert [set(s) for s in nova69.get("/servers").json()["servers"]][1] == {"id", "status", "links"}
    assert nova69.get("/servers/detail?name=deux").json()["servers"] == [], "a filter cannot match a partial record"
    shown = nova69.get(f"/servers/{two['id']}").json()["server"]
    assert set(shown) == PARTIAL_SHOW and shown["status"] == "UNKNOWN"
    assert shown["OS-EXT-AZ:availability_zone"] == "az2" and shown["OS-EXT-STS:power_state"] == 0
    assert shown["flavor"]["vcpus"] == 1 and shown["user_id"] == one["user_id"]
    assert nova.get(f"/servers/{two['id']}").status_code == 503, "before 2.69 there is no partial record"
    mallory = nova69.as_user(make_member(api, "mallory", "other").token)
    assert mallory.get(f"/servers/{two['id']}").status_code == 404, "another project's server stays unseen"
    assert [s["id"] for s in mallory.get("/servers/detail").json()["servers"]] == []
    assert nova.get(f"/servers/{one['id']}").status_code == 200

    time.sleep(0.5)  # the scheduler re-reads its hosts and finds cell2 closed
    four = boot(nova, "four")
    assert str(four["OS-EXT-SRV-ATTR:host"]).startswith("c1r1"), "builds land in the healthy cell"
    assert nova.delete(f"/servers/{one['id']}").status_code == 204
    nova.wait_gone(str(one["id"]))

    cells.bring_back()
    time.sleep(0.5)
    back = nova69.get("/servers/detail").json()["servers"]
    assert [(s["name"], s["status"]) for s in back] == [("four", "ACTIVE"), ("deux", "ACTIVE")]
    five = boot(nova, "five")
    assert str(five["OS-EXT-SRV-ATTR:host"]).startswith("c2r1"), "cell2 takes builds again (and is preferred)"
    assert nova.delete(f"/servers/{two['id']}").status_code == 204
    nova.wait_gone(str(two["id"]))
    assert records(cells.cell2) == {five["id"]}


@pytest.fixture
def unaware(api: Api, tmp_path: Path) -> Iterator[TwoCells]:
    yield from two_cells(api, tmp_path, "sqlite", refresh=3600.0)


def test_a_build_sent_to_a_cell_whose_database_just_went_down_lands_in_another_cell(
        api: Api, unaware: TwoCells) -> None:
    """The scheduler has not noticed (it re-reads hosts hourly here): the conductor finds the cell's database gone
    when it records the placement, writes nothing there, and schedules again, the scheduler told to re-read."""
    nova = Nova(api)
    first = boot(nova, "first")
    assert str(first["OS-EXT-SRV-ATTR:host"]).startswith("c2r1"), "cell2 is preferred"
    unaware.take_down()
    second = boot(nova, "second")
    assert str(second["OS-EXT-SRV-ATTR:host"]).startswith("c1r1")
    assert second["id"] in records(api.cloud.sessions)
    actions = nova.get(f"/servers/{second['id']}/os-instance-actions/{actions_request(nova, second)}").json()
    builds = [e["result"] for e in actions["instanceAction"]["events"] if e["event"] == BUILD_EVENT]
    assert sorted(builds) == ["Error", "Success"], "the build tried cell2's host, then another cell's"
    unaware.bring_back()


def actions_request(nova: Nova, server: dict[str, object]) -> str:
    listed = nova.get(f"/servers/{server['id']}/os-instance-actions").json()["instanceActions"]
    return str(listed[0]["request_id"])
