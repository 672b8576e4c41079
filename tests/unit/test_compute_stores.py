"""One contract suite for every implementation of the compute store protocols (memory and SQL)."""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.unit.cell_fixtures import create_cell
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore
from twinstack.core.compute.model import ActionEvent, ComputeHost, Fault, Instance, InstanceAction, ServerAttributes
from twinstack.core.compute.stores import (
    EventRecord,
    Expected,
    HostLoad,
    HostLocation,
    HostService,
    InstanceDeleted,
    InstanceQuery,
    MarkerNotFound,
)
from twinstack.db import migrate
from twinstack.db.models.compute import InstanceRow
from twinstack.db.session import SessionFactory, make_engine, make_session_factory
from twinstack.db.stores.cell_instances import CellInstanceStore
from twinstack.db.stores.compute import SqlHostStore, SqlInstanceStore
from twinstack.db.stores.instance_mappings import SqlInstanceMappings
from twinstack.rpc.compute import FlavorSpec, ImageSpec

FLAVOR = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1, extra_specs={"hw:cpu_policy": "shared"})


class SpreadOverCells(CellInstanceStore):
    """The cell store with every instance placed, by its uuid, in the default cell (main database) or in cell2
    (its own database): the contract must hold whichever database each instance lives in."""

    def save(self, instance: Instance, _again: bool = True) -> None:
        if instance.cell is None:
            instance.cell = "cell2" if int(instance.uuid[-1], 16) % 2 else "cell1"
        super().save(instance, _again)


@pytest.fixture(params=["memory", "sql", "cells"])
def stores(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[tuple[object, object]]:
    if request.param == "memory":
        yield MemoryInstanceStore(), MemoryHostStore()
        return
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    if request.param == "sql":
        yield SqlInstanceStore(sessions), SqlHostStore(sessions)
    else:
        # a deadline far above any stall: these tests are about listings, and a loaded machine must not count cell2
        # down (a full run once listed 21 of 40 servers: cell2's gather passed the 2 s default)
        databases = create_cell(sessions, "cell2", f"sqlite:///{tmp_path / 'cell2.db'}", timeout=30.0)
        yield (SpreadOverCells(SqlInstanceStore(sessions), databases, SqlInstanceMappings(sessions)),
               SqlHostStore(sessions))
        databases.close()
    engine.dispose()


def instance() -> Instance:
    return Instance(uuid="6b3c3e2c-0000-4000-8000-000000000001", name="vm", project_id="p", user_id="u",
                    flavor=FLAVOR, image=ImageSpec(id="img", size_bytes=10), created_at=1_800_000_000.0,
                    updated_at=1_800_000_000.0, metadata={"k": "v"}, scheduler_hints={"same_host": ["x"]})


def test_an_instance_reads_back_as_it_was_saved(stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    instances, _ = stores
    vm = instance()
    instances.save(vm)
    assert instances.get(vm.uuid) == vm
    vm.vm_state, vm.task_state, vm.host, vm.attempts = "error", None, "h1", 2
    vm.fault = Fault(code=500, message="No valid host was found.", created=1_800_000_010.0)
    vm.alternates = ["h2", "h3"]
    vm.launched_at = 1_800_000_005.5
    instances.save(vm)
    assert instances.get(vm.uuid) == vm
    assert instances.get("no-such") is None


def test_actions_collect_their_events_in_order(stores: tuple[MemoryInstanceStore, MemoryHostStore],
                                               tmp_path: Path) -> None:
    instances, _ = stores
    vm = instance()
    instances.save(vm)
    instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
    instances.start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_001.0))
    instances.start_event(vm.uuid, "req-1", ActionEvent("spawn", 1_800_000_002.0, host="h1"))
    instances.finish_event(vm.uuid, "req-1", "schedule", 1_800_000_001.5, "Success")
    instances.finish_event(vm.uuid, "req-1", "spawn", 1_800_000_003.0, "Error", "boom")
    [action] = instances.actions(vm.uuid)
    assert [(e.event, e.finish_time, e.result, e.traceback, e.host) for e in action.events] == [
        ("schedule", 1_800_000_001.5, "Success", None, None),
        ("spawn", 1_800_000_003.0, "Error", "boom", "h1"),
    ]


@contextlib.contextmanager
def transactions_of(instances: object) -> Iterator[list[object] | None]:
    """The transactions an SQL store begins inside the block (None for a store that keeps no database)."""
    if not isinstance(instances, SqlInstanceStore):
        yield None
        return
    engine = instances.sessions.kw["bind"]
    begun: list[object] = []

    def counted(connection: object) -> None:
        begun.append(connection)

    event.listen(engine, "begin", counted)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", counted)


def test_a_save_records_its_events_in_the_same_write(stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    """How a build records its steps: placed (its scheduling event ends, its build event starts), then ACTIVE (its
    build event ends), each as finish_event, start_event and save would leave it, and on the SQL store each one
    transaction, not two or three."""
    instances, _ = stores
    vm = instance()
    instances.save(vm)
    instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
    instances.start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_001.0))
    with transactions_of(instances) as begun:
        vm.host, vm.task_state = "h1", "spawning"
        instances.record_and_save(vm, "req-1", EventRecord(
            finished="schedule", finish_time=1_800_000_002.0, started=ActionEvent("spawn", 1_800_000_002.0, host="h1")))
        vm.vm_state, vm.task_state = "active", None
        instances.save_and_record(vm, "req-1", EventRecord(finished="spawn", finish_time=1_800_000_003.0))
    assert begun is None or len(begun) == 2
    instances.save_and_record(vm, "req-nope", EventRecord(finished="spawn", started=ActionEvent("spawn", 1.0)))
    assert instances.get(vm.uuid) == vm
    [action] = instances.actions(vm.uuid)
    assert [(e.event, e.start_time, e.finish_time, e.result, e.host) for e in action.events] == [
        ("schedule", 1_800_000_001.0, 1_800_000_002.0, "Success", None),
        ("spawn", 1_800_000_002.0, 1_800_000_003.0, "Success", "h1"),
    ]


def test_events_recorded_with_a_save_the_deletion_refuses_are_not_recorded(database_url: str) -> None:
    """All or nothing: an instance deleted meanwhile (by another conductor) keeps its events as they were."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    instances = SqlInstanceStore(make_session_factory(engine))
    vm = instance()
    instances.save(vm)
    instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
    instances.start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_001.0))
    gone = instance()
    gone.vm_state = "deleted"
    instances.save(gone)
    with pytest.raises(InstanceDeleted):
        instances.record_and_save(vm, "req-1", EventRecord(finished="schedule", finish_time=1_800_000_002.0,
                                                            started=ActionEvent("spawn", 1_800_000_002.0)))
    [action] = instances.actions(vm.uuid)
    assert [(e.event, e.finish_time) for e in action.events] == [("schedule", None)]
    engine.dispose()


def test_hosts_keep_operator_settings_across_reregistration_and_take_heartbeats(
        stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    _, hosts = stores
    report = ComputeHost(host="h1", agent="a", cell="cell1", availability_zone="nova", rack="r1",
                         hypervisor_type="QEMU", hypervisor_hostname="h1", host_ip="127.0.0.1",
                         inventory={"VCPU": {"total": 8}}, traits=["COMPUTE_STATUS_ENABLED"],
                         last_heartbeat=1_800_000_000.0)
    hosts.upsert(report)
    stored = hosts.get("h1")
    assert stored is not None and stored.inventory == {"VCPU": {"total": 8}}
    if isinstance(hosts, MemoryHostStore):
        hosts.hosts["h1"].disabled = True
    else:
        from sqlalchemy import update

        from twinstack.db.models.compute import ComputeHostRow
        with hosts.sessions() as session, session.begin():
            session.execute(update(ComputeHostRow).values(disabled=True))
    hosts.upsert(ComputeHost(**{**report.__dict__, "inventory": {"VCPU": {"total": 16}}}))
    again = hosts.get("h1")
    assert again is not None and again.disabled and again.inventory == {"VCPU": {"total": 16}}
    hosts.heartbeat(["h1", "unknown"], 1_800_000_060.0)
    assert [h.last_heartbeat for h in hosts.all()] == [1_800_000_060.0]


def vm(index: int, **changes: object) -> Instance:
    base = instance()
    fields: dict[str, object] = {"uuid": f"6b3c3e2c-0000-4000-8000-{index:012d}", "name": f"vm-{index}",
                                 "created_at": 1_800_000_000.0 + index, "updated_at": 1_800_000_000.0 + index,
                                 **changes}
    return replace(base, **fields)  # type: ignore[arg-type]


def test_the_conductors_saves_leave_the_users_fields_alone(stores: tuple[MemoryInstanceStore, MemoryHostStore]
                                                           ) -> None:
    instances, _ = stores
    saved = instance()
    instances.save(saved)
    stale = instances.get(saved.uuid)
    assert stale is not None
    renamed = instances.get(saved.uuid)
    assert renamed is not None
    renamed.name, renamed.metadata, renamed.locked_by = "renamed", {"a": "b"}, "owner"
    renamed.attributes = ServerAttributes(description="d", tags=["t"])
    instances.update_user_fields(renamed)
    stale.vm_state, stale.task_state = "active", None
    instances.save(stale)
    again = instances.get(saved.uuid)
    assert again is not None and again.vm_state == "active"
    assert (again.name, again.metadata, again.locked_by) == ("renamed", {"a": "b"}, "owner")
    assert again.attributes == ServerAttributes(description="d", tags=["t"])
    assert stale.name == "renamed", "save hands the stored user fields back"


def test_find_filters_sorts_and_pages(stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    instances, _ = stores
    other_flavor = FLAVOR.model_copy(update={"id": "2"})
    for made in (vm(1, project_id="p1", host="h1", vm_state="active", task_state=None),
                 vm(2, project_id="p1", host="h2", vm_state="stopped", task_state=None, flavor=other_flavor,
                    locked_by="owner"),
                 vm(3, project_id="p2", name="Web-3", vm_state="active", task_state="rebooting", image=None,
                    attributes=ServerAttributes(tags=["a", "b"])),
                 vm(4, project_id="p1", vm_state="deleted", task_state=None)):
        instances.save(made)

    def uuids(**query: object) -> list[str]:
        return [i.uuid[-1] for i in instances.find(InstanceQuery(**query))]  # type: ignore[arg-type]

    assert uuids() == ["3", "2", "1"], "newest first, deleted left out"
    assert uuids(project_id="p1") == ["2", "1"]
    assert uuids(name_pattern="^web") == ["3"], "a case-insensitive regular expression"
    assert uuids(vm_states=frozenset({"active"})) == ["3", "1"]
    assert uuids(vm_states=frozenset({"active"}), task_states=frozenset({None})) == ["1"]
    assert uuids(host="h2") == ["2"]
    assert uuids(flavor_id="2") == ["2"]
    assert uuids(image_id="img") == ["2", "1"]
    assert uuids(locked=True) == ["2"]
    assert uuids(tags=frozenset({"a"})) == ["3"] and uuids(not_tags_any=frozenset({"b"})) == ["2", "1"]
    assert uuids(changes_since=1_800_000_002.0) == ["4", "3", "2"], "changes-since shows the deleted too"
    assert uuids(deleted=True) == ["4"]
    assert uuids(sort=(("name", "asc"),)) == ["3", "1", "2"]
    assert uuids(sort=(("host", "asc"),)) == ["3", "1", "2"], "no host sorts lowest"
    assert uuids(limit=2) == ["3", "2"]
    assert uuids(marker=vm(2).uuid) == ["1"]
    with pytest.raises(MarkerNotFound):
        instances.find(InstanceQuery(marker="nope"))


def test_load_by_host_counts_live_instances_and_the_busy_ones(
        stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    instances, _ = stores
    for host, vm_state, task_state in [("h1", "active", None), ("h1", "building", "spawning"),
                                       ("h1", "active", "rebooting"), ("h2", "stopped", None),
                                       ("h2", "deleted", None), (None, "building", "scheduling")]:
        vm = instance()
        vm.uuid = str(uuid.uuid4())
        vm.host, vm.vm_state, vm.task_state = host, vm_state, task_state
        instances.save(vm)
    assert instances.load_by_host() == {"h1": HostLoad(instances=3, busy=2), "h2": HostLoad(instances=1, busy=0)}


def test_get_many_returns_the_named_hosts_that_exist(stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    _, hosts = stores
    for name in ("a", "b", "c"):
        hosts.upsert(ComputeHost(host=name, agent="sim", cell="cell1", availability_zone="nova", rack="r1",
                                 hypervisor_type="QEMU", hypervisor_hostname=name, host_ip="10.0.0.1", traits=[],
                                 inventory={}, last_heartbeat=1.0))
    assert sorted(hosts.get_many(["a", "c", "zz"])) == ["a", "c"]
    assert hosts.get_many([]) == {}
    hosts.upsert(ComputeHost(host="d", agent="sim", cell="cell2", availability_zone="az2", rack="r1",
                             hypervisor_type="QEMU", hypervisor_hostname="d.node", host_ip="10.0.0.1", traits=[],
                             inventory={}, last_heartbeat=1.0))
    assert hosts.locations() == {"a": HostLocation("a", "cell1", "nova"), "b": HostLocation("b", "cell1", "nova"),
                                 "c": HostLocation("c", "cell1", "nova"), "d": HostLocation("d.node", "cell2", "az2")}


def test_services_give_the_named_hosts_flags_and_heartbeats(stores: tuple[MemoryInstanceStore, MemoryHostStore]
                                                            ) -> None:
    """What a page of servers reads for host_status: the service's flags and last heartbeat, hosts unknown left out."""
    _, hosts = stores
    for name in ("a", "b"):
        hosts.upsert(ComputeHost(host=name, agent="sim", cell="cell1", availability_zone="nova", rack="r1",
                                 hypervisor_type="QEMU", hypervisor_hostname=name, host_ip="10.0.0.1", traits=[],
                                 inventory={"VCPU": {"total": 8}}, last_heartbeat=1_800_000_000.0))
    hosts.set_service("a", disabled=True, disabled_reason="maintenance")
    hosts.set_service("b", forced_down=True)
    hosts.heartbeat(["b"], 1_800_000_060.0)
    assert hosts.services(["a", "b", "zz"]) == {"a": HostService(True, False, 1_800_000_000.0),
                                                "b": HostService(False, True, 1_800_000_060.0)}
    assert hosts.services([]) == {}


def test_a_page_of_instances_carries_each_ones_own_flavor_and_image(
        stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    """Two flavors and two images (and none) interleaved on one page: each instance reads back its own."""
    instances, _ = stores
    big = FlavorSpec(id="2", name="m1.small", vcpus=2, ram_mb=2048, disk_gb=20, extra_specs={})
    images = [ImageSpec(id="img", size_bytes=10), ImageSpec(id="other", size_bytes=20), None]
    for index in range(6):
        instances.save(vm(index, flavor=(FLAVOR, big)[index % 2], image=images[index % 3]))
    page = sorted(instances.find(InstanceQuery(limit=6)), key=lambda i: i.name)
    assert [(i.flavor, i.image) for i in page] == [((FLAVOR, big)[n % 2], images[n % 3]) for n in range(6)]


@pytest.mark.parametrize("sort", [
    (("created_at", "desc"),), (("created_at", "asc"),), (("host", "asc"), ("created_at", "desc")),
    (("host", "desc"), ("name", "asc")), (("launched_at", "asc"),), (("task_state", "desc"), ("uuid", "asc")),
])
def test_pages_walked_by_marker_are_the_whole_listing_in_order(
        stores: tuple[MemoryInstanceStore, MemoryHostStore], sort: tuple[tuple[str, str], ...]) -> None:
    """Ties and NULLs included: each page starts right after its marker, whatever the sort keys."""
    instances, _ = stores
    rng = random.Random(7)
    for _ in range(40):
        vm = instance()
        vm.uuid, vm.name = str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"vm{rng.randint(0, 5)}"
        vm.created_at = vm.updated_at = 1_800_000_000.0 + rng.randint(0, 6)  # many ties
        vm.host = rng.choice([None, "h1", "h2"])
        vm.launched_at = rng.choice([None, 1_800_000_100.0, 1_800_000_200.0])
        vm.task_state = rng.choice([None, "spawning"])
        instances.save(vm)
    whole = [i.uuid for i in instances.find(InstanceQuery(sort=sort))]
    assert len(whole) == 40
    walked: list[str] = []
    marker: str | None = None
    while True:
        page = [i.uuid for i in instances.find(InstanceQuery(sort=sort, limit=7, marker=marker))]
        walked += page
        if len(page) < 7:
            break
        marker = page[-1]
    assert walked == whole


def test_a_deleted_instance_stays_deleted_in_the_sql_store(database_url: str) -> None:
    """Two conductors: one deletes while the other, which read the instance before, saves it placed. The save
    fails and writes nothing (the second conductor then releases its claim)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    instances = SqlInstanceStore(make_session_factory(engine))
    try:
        vm = instance()
        instances.save(vm)
        stale = instances.get(vm.uuid)
        assert stale is not None
        vm.vm_state, vm.deleted_at = "deleted", 1_800_000_001.0
        instances.save(vm)
        stale.host, stale.task_state = "h1", "spawning"
        with pytest.raises(InstanceDeleted):
            instances.save(stale)
        kept = instances.get(vm.uuid)
        assert kept is not None and kept.vm_state == "deleted" and kept.host is None
        instances.save(vm)  # deleted over deleted: fine (a delete finished twice)
    finally:
        engine.dispose()


def test_a_conditional_write_is_made_only_while_the_instance_is_as_expected(
        stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    """How a build's spawn ends (Nova's ``instance.save(expected_task_state=SPAWNING)``): ACTIVE and the build event
    finished in one write, only while the server still spawns on that host; a delete recorded meanwhile (task
    deleting, or deleted) is neither undone nor its server brought back, and the user's fields are left alone.
    A store whose instances span cell databases writes nothing and says so (the conductor then reads and saves)."""
    instances, _ = stores
    conditional = not isinstance(instances, CellInstanceStore)
    vm = instance()
    vm.host, vm.task_state = "h1", "spawning"
    instances.save(vm)
    instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
    instances.start_event(vm.uuid, "req-1", ActionEvent("spawn", 1_800_000_002.0, host="h1"))
    spawning = Expected("building", "spawning", "h1")
    done = {"vm_state": "active", "task_state": None, "power_state": 1, "launched_at": 1_800_000_003.0,
            "updated_at": 1_800_000_003.0, "fault": None}
    finished = EventRecord(finished="spawn", finish_time=1_800_000_003.0)

    def stored() -> Instance:
        found = instances.get(vm.uuid)
        assert found is not None
        return copy.deepcopy(found)

    assert not instances.update_expecting(vm.uuid, Expected("building", "spawning", "h2"), done, "req-1", finished)
    assert not instances.update_expecting("no-such", spawning, done, "req-1", finished)
    deleting = stored()
    deleting.task_state = "deleting"  # the API accepted a delete
    instances.save(deleting)
    assert not instances.update_expecting(vm.uuid, spawning, done, "req-1", finished)
    assert stored() == deleting
    assert [e.finish_time for e in instances.actions(vm.uuid)[0].events] == [None]

    again = stored()
    again.task_state = "spawning"
    instances.save(again)
    renamed = stored()
    renamed.name, renamed.metadata = "renamed", {"k": "changed"}
    instances.update_user_fields(renamed)
    assert instances.update_expecting(vm.uuid, spawning, done, "req-1", finished) is conditional
    if conditional:
        after = stored()
        assert (after.vm_state, after.task_state, after.power_state, after.launched_at, after.host) == (
            "active", None, 1, 1_800_000_003.0, "h1")
        assert (after.name, after.metadata, after.scheduler_hints) == ("renamed", {"k": "changed"},
                                                                     {"same_host": ["x"]})
        assert [(e.event, e.finish_time) for e in instances.actions(vm.uuid)[0].events] == [
            ("spawn", 1_800_000_003.0)]
    gone = stored()
    gone.vm_state, gone.task_state, gone.deleted_at = "deleted", None, 1_800_000_004.0
    instances.save(gone)
    assert not instances.update_expecting(vm.uuid, Expected("deleted", None, "h1"), {"vm_state": "active"})
    assert stored().vm_state == "deleted"


@contextlib.contextmanager
def holding_the_row(sessions: SessionFactory, uuid: str, **written: object) -> Iterator[None]:
    """Another writer (the API's delete or rename) holds the instance's row with ``written`` written but not yet
    committed while the block runs, then commits."""
    with sessions() as session, session.begin():
        row = session.get(InstanceRow, uuid, with_for_update=True)
        assert row is not None
        for key, value in written.items():
            setattr(row, key, value)
        session.flush()
        yield


def waits_for_the_row(sessions: SessionFactory, uuid: str, call: Callable[[], object],
                      **written: object) -> list[object]:
    """``call`` on a thread while another writer holds the instance's row with ``written`` not yet committed: it
    must wait (nothing back within half a second); then that writer commits, and what ``call`` returned or raised
    is returned, in a list of one."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    with holding_the_row(sessions, uuid, **written):
        writer = threading.Thread(target=run)
        writer.start()
        time.sleep(0.5)
        assert outcome == [], "it waits for the row"
    writer.join(30)
    return outcome


@contextlib.contextmanager
def sql_instances(database_url: str) -> Iterator[tuple[SqlInstanceStore, SessionFactory]]:
    """A SQL instance store over a freshly migrated database, and its sessions (for a rival writer)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    try:
        yield SqlInstanceStore(sessions), sessions
    finally:
        engine.dispose()


def test_a_conditional_write_waiting_on_a_delete_sees_it(database_url: str) -> None:
    """The expectation is checked on the row as the delete left it, not as it was when the write began: a delete
    holding the row (the API's save locks it) when the spawn's answer arrives wins, and the answer writes nothing."""
    with sql_instances(database_url) as (instances, sessions):
        vm = instance()
        vm.host, vm.task_state = "h1", "spawning"
        instances.save(vm)
        answers = waits_for_the_row(sessions, vm.uuid, lambda: instances.update_expecting(
            vm.uuid, Expected("building", "spawning", "h1"), {"vm_state": "active", "task_state": None}),
            task_state="deleting")
        assert answers == [False]
        kept = instances.get(vm.uuid)
        assert kept is not None and (kept.vm_state, kept.task_state) == ("building", "deleting")


def test_a_read_starts_an_event_only_if_the_instance_is_as_wanted(
        stores: tuple[MemoryInstanceStore, MemoryHostStore]) -> None:
    """How a build reads the instance it schedules and records its scheduling's start: one transaction on the SQL
    store; a redelivered build (the instance placed already) reads it and records nothing."""
    instances, _ = stores
    vm = instance()
    instances.save(vm)
    instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
    with transactions_of(instances) as begun:
        read = instances.get_and_start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_001.0),
                                             lambda i: i.host is None)
    assert begun is None or len(begun) == 1
    assert read == vm
    placed = copy.deepcopy(vm)
    placed.host = "h1"
    instances.save(placed)
    assert instances.get_and_start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_002.0),
                                         lambda i: i.host is None) == placed
    assert instances.get_and_start_event("no-such", "req-1", ActionEvent("schedule", 1.0), lambda i: True) is None
    [action] = instances.actions(vm.uuid)
    assert [(e.event, e.start_time) for e in action.events] == [("schedule", 1_800_000_001.0)]


def test_a_save_waiting_on_a_delete_leaves_the_instance_deleted(database_url: str) -> None:
    """A conductor saves a build placed while a delete holds the row (the API's delete, recorded but not committed
    yet): the save waits for it, finds the instance deleted, writes nothing (neither the instance nor its events)
    and says so; the delete stands."""
    with sql_instances(database_url) as (instances, sessions):
        vm = instance()
        instances.save(vm)
        instances.add_action(InstanceAction("req-1", vm.uuid, "create", "p", "u", 1_800_000_000.0))
        instances.start_event(vm.uuid, "req-1", ActionEvent("schedule", 1_800_000_001.0))
        placed = copy.deepcopy(vm)
        placed.host, placed.task_state = "h1", "spawning"
        outcome = waits_for_the_row(sessions, vm.uuid, lambda: instances.record_and_save(placed, "req-1", EventRecord(
            finished="schedule", finish_time=1_800_000_002.0, started=ActionEvent("spawn", 1_800_000_002.0))),
            vm_state="deleted", deleted=True, task_state=None)
        assert len(outcome) == 1 and isinstance(outcome[0], InstanceDeleted)
        kept = instances.get(vm.uuid)
        assert kept is not None and (kept.vm_state, kept.task_state, kept.host) == ("deleted", None, None)
        [action] = instances.actions(vm.uuid)
        assert [(e.event, e.finish_time) for e in action.events] == [("schedule", None)]


def test_a_save_waiting_on_a_rename_keeps_it(database_url: str) -> None:
    """A conductor saves while a user's rename holds the row: the save waits for it, writes only the conductor's
    fields, and hands back the user's fields as the rename left them."""
    with sql_instances(database_url) as (instances, sessions):
        vm = instance()
        instances.save(vm)
        placed = copy.deepcopy(vm)
        placed.host, placed.task_state = "h1", "spawning"
        outcome = waits_for_the_row(sessions, vm.uuid, lambda: instances.save(placed), name="renamed",
                                    meta={"k": "changed"}, locked_by="owner")
        assert outcome == [None]
        kept = instances.get(vm.uuid)
        assert kept is not None and (kept.host, kept.task_state) == ("h1", "spawning")
        assert (kept.name, kept.metadata, kept.locked_by) == ("renamed", {"k": "changed"}, "owner")
        assert (placed.name, placed.metadata, placed.locked_by) == ("renamed", {"k": "changed"}, "owner")


def test_a_conductors_save_of_a_stored_instance_is_one_statement(database_url: str) -> None:
    """The check that a deleted instance stays deleted, the write of the conductor's fields and the read of the
    user's are one UPDATE ... RETURNING (a build saves its instance at least twice)."""
    statements: list[str] = []

    def executed(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with sql_instances(database_url) as (instances, _sessions):
        vm = instance()
        instances.save(vm)
        vm.host, vm.task_state = "h1", "spawning"
        event.listen(instances.engine, "before_cursor_execute", executed)
        instances.save(vm)
        event.remove(instances.engine, "before_cursor_execute", executed)
        assert [s.split()[0] for s in statements] == ["UPDATE"]
        assert instances.get(vm.uuid) == vm
