"""Cells with a bus of their own, over HTTP (issue 9, Nova's super-conductor and cell conductors): cell1 and cell2 each
have their own database and their own in-process bus (``inprocess://`` transport URLs), with their own conductor and
simulated hosts on it. The top-level conductor, on the main bus, schedules every build and hands it over to the
cell's conductor on the cell's bus; the API sends a server's actions to its cell's bus. With cell2's bus down,
builds into cell1 still go ACTIVE, cell2's servers are still listed as their database holds them (as Nova shows
them while only a cell's message queue is away), its hosts are reported down once silent for service_down_time and
take no new builds; once the bus is back, what was sent meanwhile is carried out.

The layout is test_compute_cells.py's: az1 is cell1, az2 is cell2, and cell2's hosts have the most memory, so a
boot naming no zone goes there while they are up (the RAM weigher spreads).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.compute_helpers import Nova
from tests.api.test_boot_from_volume import boot_body, bootable_volume, create, from_volume
from tests.api.test_compute_cells import DATACENTER, records
from tests.api.volume_helpers import FAST, Cinder
from tests.conftest import Api
from tests.rpc.broker import BROKER_URL, delete_prefix, unique_prefix
from twinstack.compute_plane import CellPlane, ComputePlane, build_compute_plane
from twinstack.config import BusSettings
from twinstack.core.compute.conductor import BUILD_EVENT, ConductorSettings
from twinstack.core.scheduler.filter_scheduler import scheduler_factory
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db import migrate
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.models.compute import CellRow
from twinstack.db.session import SessionFactory, make_engine, make_session_factory
from twinstack.db.stores.cell_outbox import SqlHeldMessages
from twinstack.db.stores.cells import SqlCellStore
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.compute import DestroyInstance, agent_topic
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Message, open_envelope
from twinstack.sim.runtime import LiveRuntime
from twinstack.volume_plane import start_volume

DOWN_TIME = 3.0
CELL_TIMEOUT = 30.0
"""How long a cell's database may take to answer: these tests are about cells' buses, whose databases all answer (a
loaded machine made a 1 s deadline skip cell2 and answer 503 mid-test)."""


def create_cell(sessions: SessionFactory, name: str, database_url: str, transport_url: str) -> None:
    """What ``twinstack cell create --name NAME --database-url URL --transport-url URL`` does."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    databases = CellDatabases(sessions)
    SqlCellStore(sessions, databases).create(name, database_url, transport_url, time.time())
    databases.close()


@pytest.fixture
def plane(api: Api, tmp_path: Path) -> Iterator[ComputePlane]:
    for name in ("cell1", "cell2"):
        create_cell(api.cloud.sessions, name, f"sqlite:///{tmp_path / name}.db", f"inprocess://{name}")
    built = build_compute_plane(
        api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions),
        scheduler_factory(SchedulerSettings(host_refresh_seconds=0.3, service_down_time=DOWN_TIME)), DATACENTER,
        conductor_settings=ConductorSettings(build_timeout=30, service_down_time=DOWN_TIME, check_interval=0.5),
        cell_timeout=CELL_TIMEOUT)
    api.cloud.compute = built.context()
    try:
        wait_until("the simulated hosts registered", lambda: len(built.hosts.all()) == 4)
        yield built
    finally:
        built.stop()
        api.cloud.compute = None


def wait_until(what: str, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def boot(nova: Nova, name: str, zone: str | None = None) -> dict[str, Any]:
    created = nova.boot(name, **({"availability_zone": zone} if zone else {}))
    return nova.wait_for(str(created["id"]), "ACTIVE")


def commands(cell: CellPlane, server: dict[str, Any]) -> list[str]:
    """The compute commands the cell's hosts received about ``server``, in order (on the cell's bus: the only one they
    hear); port plugs left out."""
    assert cell.agent is not None
    return [name for _host, name, uuid in cell.agent.timeline if uuid == server["id"] and name.startswith("compute.")]


def compute_states(nova: Nova) -> dict[str, str]:
    return {s["host"]: s["state"] for s in nova.get("/os-services?binary=nova-compute").json()["services"]}


def test_each_cell_runs_on_its_own_bus_and_a_cell_whose_bus_is_down_stops_nothing_else(
        api: Api, plane: ComputePlane, tmp_path: Path) -> None:
    nova = Nova(api)
    cell1, cell2 = plane.cell_planes["cell1"], plane.cell_planes["cell2"]
    assert plane.agents == [], "every host is on its cell's bus: none joined the main bus"
    assert isinstance(plane.bus, InProcessBus) and cell1.bus is not cell2.bus is not plane.bus
    assert plane.bus.pending("agent.c2r1-0000") == 0

    one = boot(nova, "one", "az1")
    two = boot(nova, "two", "az2")
    assert str(one["OS-EXT-SRV-ATTR:host"]).startswith("c1r1") and str(two["OS-EXT-SRV-ATTR:host"]).startswith("c2r1")
    assert commands(cell1, one) == ["compute.spawn_instance"] and commands(cell2, two) == ["compute.spawn_instance"]
    assert commands(cell2, one) == [], "a cell's hosts hear nothing of the other cell's servers"
    cell2_db = make_engine(f"sqlite:///{tmp_path / 'cell2'}.db")
    try:
        assert records(make_session_factory(cell2_db)) == {two["id"]}
    finally:
        cell2_db.dispose()

    # an action goes to the server's cell's bus, by its mapping
    assert nova.action(str(two["id"]), {"os-stop": None}).status_code == 202
    nova.wait_for(str(two["id"]), "SHUTOFF")
    assert commands(cell2, two) == ["compute.spawn_instance", "compute.power_action"]
    three = boot(nova, "three", "az2")
    assert nova.delete(f"/servers/{three['id']}").status_code == 204
    nova.wait_gone(str(three["id"]))
    assert commands(cell2, three) == ["compute.spawn_instance", "compute.destroy_instance"]

    cell2.bus.go_down()
    went_down = time.monotonic()
    four = boot(nova, "four", "az1")
    assert str(four["OS-EXT-SRV-ATTR:host"]).startswith("c1r1"), "builds into cell1 go on"
    assert time.monotonic() - went_down < DOWN_TIME, "and at once, not after cell2 is seen down"
    listed = {s["name"]: s["status"] for s in nova.get("/servers/detail").json()["servers"]}
    assert listed == {"one": "ACTIVE", "two": "SHUTOFF", "four": "ACTIVE"}, "cell2's servers as its database holds"

    wait_until("cell2's hosts reported down", lambda: compute_states(nova) == {
        "c1r1-0000": "up", "c1r1-0001": "up", "c2r1-0000": "down", "c2r1-0001": "down"}, DOWN_TIME + 5)
    time.sleep(0.5)  # the scheduler re-reads its hosts
    five = boot(nova, "five")
    assert str(five["OS-EXT-SRV-ATTR:host"]).startswith("c1r1"), "a boot naming no zone lands in the cell that is up"
    assert nova.action(str(two["id"]), {"os-start": None}).status_code == 202, "accepted, carried out once back"
    time.sleep(0.5)
    assert nova.server(str(two["id"]))["OS-EXT-STS:task_state"] == "powering-on"
    assert nova.delete(f"/servers/{one['id']}").status_code == 204, "cell1's servers are deleted as ever"
    nova.wait_gone(str(one["id"]))

    cell2.bus.come_back()
    nova.wait_for(str(two["id"]), "ACTIVE")
    wait_until("cell2's hosts up again", lambda: set(compute_states(nova).values()) == {"up"}, DOWN_TIME + 5)
    time.sleep(0.5)
    six = boot(nova, "six")
    assert str(six["OS-EXT-SRV-ATTR:host"]).startswith("c2r1"), "cell2 takes builds again (and is preferred)"
    for server in (two, four, five, six):
        assert nova.delete(f"/servers/{server['id']}").status_code == 204
    for server in (two, four, five, six):
        nova.wait_gone(str(server["id"]))
    assert plane.placement.allocations(str(six["id"])) == {}, "the cell's conductor released what it deleted"


def test_a_build_handed_to_a_cell_whose_broker_refuses_lands_in_another_cell(api: Api, tmp_path: Path) -> None:
    """cell2's broker is gone (nothing listens at its transport URL) while its hosts still look up (they are on the
    main bus here, as hosts whose heartbeats have not yet stopped): the hand-over is refused within
    cell_publish_timeout, nothing stays recorded in cell2, the build goes to cell1, and cell2 is closed to new builds
    for a while, so that the next build does not try it again."""
    create_cell(api.cloud.sessions, "cell1", f"sqlite:///{tmp_path / 'cell1'}.db", "inprocess://cell1")
    create_cell(api.cloud.sessions, "cell2", f"sqlite:///{tmp_path / 'cell2'}.db", "amqp://guest:guest@127.0.0.1:1//")
    built = build_compute_plane(
        api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions),
        scheduler_factory(SchedulerSettings(host_refresh_seconds=0.3)), DATACENTER,
        conductor_settings=ConductorSettings(build_timeout=30, check_interval=0.5),
        bus_settings=BusSettings(cell_publish_timeout=0.3), cell_timeout=CELL_TIMEOUT)
    api.cloud.compute = built.context()
    try:
        wait_until("the simulated hosts registered", lambda: len(built.hosts.all()) == 4)
        nova = Nova(api)
        one = boot(nova, "one")
        assert str(one["OS-EXT-SRV-ATTR:host"]).startswith("c1r1")
        assert built.cell_buses is not None and built.cell_buses.down() == {"cell2"}
        events = nova.at("2.62").get(f"/servers/{one['id']}/os-instance-actions/{create_request(nova, one)}")
        build = [e for e in events.json()["instanceAction"]["events"] if e["event"] == BUILD_EVENT]
        assert sorted((e["host"][:4], e["result"]) for e in build) == [("c1r1", "Success"), ("c2r1", "Error")]
        engine = make_engine(f"sqlite:///{tmp_path / 'cell2'}.db")
        try:
            assert records(make_session_factory(engine)) == set(), "nothing left in the cell that refused"
        finally:
            engine.dispose()
        two = boot(nova, "two")
        assert str(two["OS-EXT-SRV-ATTR:host"]).startswith("c1r1"), "cell2 is closed meanwhile"
    finally:
        built.stop()
        api.cloud.compute = None


def create_request(nova: Nova, server: dict[str, Any]) -> str:
    """The request id of the server's create action."""
    listed = nova.get(f"/servers/{server['id']}/os-instance-actions").json()["instanceActions"]
    return str(listed[0]["request_id"])


def test_a_server_in_a_cell_on_its_own_bus_boots_from_a_volume_and_has_volumes_attached_and_detached(
        api: Api, plane: ComputePlane) -> None:
    """Block storage runs beside the top-level conductor, on the main bus; cell2's conductor asks it for the
    server's volumes (as Nova's cell conductor and computes call Cinder) and has cell2's hosts connect them through
    cell2's bus, the only one they hear."""
    volumes = start_volume(api.cloud, plane, FAST)
    nova, cinder = Nova(api, version="2.79"), Cinder(api)
    wait_until("the back ends reported their pools",
               lambda: len(cinder.get("/scheduler-stats/get_pools").json().get("pools", [])) == 3)
    cell2 = plane.cell_planes["cell2"]
    root = bootable_volume(cinder)
    server_id = create(nova, boot_body("bfv", from_volume(root["id"]), availability_zone="az2"))
    server = nova.wait_for(server_id, "ACTIVE")
    host = str(server["OS-EXT-SRV-ATTR:host"])
    assert host.startswith("c2r1") and commands(cell2, server) == ["compute.spawn_instance"]
    assert server["os-extended-volumes:volumes_attached"] == [{"id": root["id"], "delete_on_termination": False}]
    assert [(a["server_id"], a["host_name"]) for a in cinder.wait_for(root["id"], "in-use")["attachments"]] == [
        (server_id, host)]
    root_attachment = cinder.volume(root["id"])["attachments"][0]["attachment_id"]
    assert volumes.cell_host_volumes["cell2"].connected[host] == {root_attachment}, "connected by cell2's host"

    data = cinder.wait_for(cinder.create(size=1, name="data")["id"], "available")
    attached = nova.post(f"/servers/{server_id}/os-volume_attachments", json={"volumeAttachment": {
        "volumeId": data["id"]}})
    assert attached.status_code == 200, attached.text
    assert [a["host_name"] for a in cinder.wait_for(data["id"], "in-use")["attachments"]] == [host]
    assert nova.delete(f"/servers/{server_id}/os-volume_attachments/{data['id']}").status_code == 202
    assert cinder.wait_for(data["id"], "available")["attachments"] == []
    assert volumes.cell_host_volumes["cell2"].connected[host] == {root_attachment}, "the host let it go"

    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    assert cinder.wait_for(root["id"], "available")["attachments"] == []


def test_the_console_log_of_a_server_in_a_cell_on_its_own_bus_is_read_through_that_bus(
        api: Api, plane: ComputePlane) -> None:
    """The API asks cell2's conductor on cell2's bus, which asks the server's host there and answers on the main bus
    (as Nova's API reaches a cell's compute through the cell's message queue)."""
    nova = Nova(api)
    two = boot(nova, "two", "az2")
    asked = time.monotonic()
    answer = nova.action(str(two["id"]), {"os-getConsoleOutput": {"length": 3}})
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - asked < 5, "answered, not timed out"
    lines = answer.json()["output"].splitlines()
    assert len(lines) <= 3 and lines[-1] == "twinstack-guest: ready", "the guest's log, from its host"
    cell2 = plane.cell_planes["cell2"]
    assert commands(cell2, two) == ["compute.spawn_instance", "compute.get_console_output"], "asked on cell2's bus"


def test_a_cell_whose_broker_refuses_never_holds_up_the_top_level_conductor(api: Api, tmp_path: Path) -> None:
    """cell2's broker is gone and its publisher retries it for cell_publish_timeout before giving up: the hand-over
    of a build placed there is published off the conductor's thread, so a build into cell1 asked right after is
    built at once rather than behind that wait; the refused one is then placed afresh in cell1."""
    create_cell(api.cloud.sessions, "cell1", f"sqlite:///{tmp_path / 'cell1'}.db", "inprocess://cell1")
    create_cell(api.cloud.sessions, "cell2", f"sqlite:///{tmp_path / 'cell2'}.db", "amqp://guest:guest@127.0.0.1:1//")
    publish_timeout = 6.0
    built = build_compute_plane(
        api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions),
        scheduler_factory(SchedulerSettings(host_refresh_seconds=0.3)), DATACENTER,
        conductor_settings=ConductorSettings(build_timeout=30, check_interval=0.5),
        bus_settings=BusSettings(cell_publish_timeout=publish_timeout), cell_timeout=CELL_TIMEOUT)
    api.cloud.compute = built.context()
    try:
        wait_until("the simulated hosts registered", lambda: len(built.hosts.all()) == 4)
        nova = Nova(api)
        one = nova.boot("one")  # to cell2 (the most memory), whose hand-over waits for a broker that is gone
        asked = time.monotonic()
        two = boot(nova, "two", "az1")
        assert time.monotonic() - asked < publish_timeout / 2, "cell1's build did not wait for cell2's broker"
        assert str(two["OS-EXT-SRV-ATTR:host"]).startswith("c1r1")
        placed = nova.wait_for(str(one["id"]), "ACTIVE", timeout=publish_timeout + 10)
        assert str(placed["OS-EXT-SRV-ATTR:host"]).startswith("c1r1"), "refused by cell2's bus: placed in cell1"
        assert built.cell_buses is not None and built.cell_buses.down() == {"cell2"}
    finally:
        built.stop()
        api.cloud.compute = None


def test_what_a_dead_conductor_held_for_a_cell_whose_broker_was_away_is_published_by_the_next_one(
        api: Api, tmp_path: Path) -> None:
    """A top-level conductor holds what it posts to a cell whose broker refuses (here, a guest to destroy on one of
    cell2's hosts) in the main database: it stops before the cell is back, the operator points cell2 at a broker
    that answers, and the conductor started next publishes it there (as Nova's super-conductor would have to, had
    it held it)."""
    create_cell(api.cloud.sessions, "cell1", f"sqlite:///{tmp_path / 'cell1'}.db", "inprocess://cell1")
    create_cell(api.cloud.sessions, "cell2", f"sqlite:///{tmp_path / 'cell2'}.db", "amqp://guest:guest@127.0.0.1:1//")

    def start() -> ComputePlane:
        return build_compute_plane(
            api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions),
            scheduler_factory(SchedulerSettings(host_refresh_seconds=0.3)), DATACENTER,
            conductor_settings=ConductorSettings(build_timeout=30, check_interval=0.5),
            bus_settings=BusSettings(cell_publish_timeout=0.3), cell_timeout=CELL_TIMEOUT)

    first = start()
    try:
        wait_until("the simulated hosts registered", lambda: len(first.hosts.all()) == 4)
        destroy = DestroyInstance(host="c2r1-0000", instance_uuid="guest-left-behind")
        first.conductor.cells.to_host("c2r1-0000", destroy)
        wait_until("cell2's broker refused it", lambda: first.cell_buses is not None and first.cell_buses.down() == {
            "cell2"})
        held = SqlHeldMessages(api.cloud.sessions)
        wait_until("kept in the database", lambda: held.count("cell2") == 1)
    finally:
        first.stop()

    prefix = unique_prefix()
    runtime = LiveRuntime()
    runtime.start()
    listener = AmqpBus(runtime, BROKER_URL, prefix=prefix)
    received: queue.SimpleQueue[Message] = queue.SimpleQueue()
    listener.subscribe(agent_topic("c2r1-0000"), lambda envelope: received.put(open_envelope(envelope)))
    with api.cloud.sessions() as session, session.begin():
        session.get_one(CellRow, "cell2").transport_url = f"{BROKER_URL}?prefix={prefix}"
    second = start()
    try:
        assert received.get(timeout=20) == destroy, "published by the next conductor, the command id kept"
        wait_until("forgotten once published", lambda: held.count("cell2") == 0)
    finally:
        second.stop()
        listener.close(grace=0)
        runtime.stop()
        delete_prefix(prefix)
