"""Quotas: Nova's checks as pure functions, and the admission contract on memory and SQL stores — including
many threads racing for the last slot, of which exactly the quota's worth pass (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import event

from twinstack.core.compute import quotas
from twinstack.core.compute.memory import MemoryInstanceStore, MemoryQuotas, MemoryServerGroupStore
from twinstack.core.compute.model import ActionEvent, Instance, InstanceAction, ServerGroup
from twinstack.core.compute.quotas import InstanceDemand, QuotaExceeded, instances_allowed
from twinstack.core.compute.stores import Admission, InstanceStore, QuotaStore, ServerGroupStore
from twinstack.core.errors import BadRequest
from twinstack.db import migrate
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.session import make_engine, make_session_factory
from twinstack.db.stores.cell_instances import CellInstanceStore
from twinstack.db.stores.compute import SqlInstanceStore
from twinstack.db.stores.instance_mappings import SqlInstanceMappings
from twinstack.db.stores.quotas import SqlQuotas
from twinstack.db.stores.server_groups import SqlServerGroupStore
from twinstack.rpc.compute import FlavorSpec

TINY = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1)
LIMITS = dict(quotas.DEFAULT_LIMITS)


def usage(instances: int = 0, cores: int = 0, ram: int = 0) -> dict[str, int]:
    return {"instances": instances, "cores": cores, "ram": ram, "server_groups": 0}


# the checks -------------------------------------------------------------------------------------


def test_the_last_slot_is_refused_in_novas_words() -> None:
    assert instances_allowed(LIMITS, usage(9, 9, 9 * 512), InstanceDemand(1, 512, 1, 1)) == 1
    with pytest.raises(QuotaExceeded) as refused:
        instances_allowed(LIMITS, usage(10, 10, 5120), InstanceDemand(1, 512, 1, 1))
    assert refused.value.status == 403
    assert refused.value.message == "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"


def test_cores_and_ram_are_checked_and_every_resource_over_is_named() -> None:
    with pytest.raises(QuotaExceeded) as refused:
        instances_allowed(LIMITS, usage(2, 18, 50000), InstanceDemand(4, 2048, 1, 1))
    assert refused.value.message == ("Quota exceeded for cores, ram: Requested 4, 2048, but already used 18, 50000 "
                                     "of 20, 51200 cores, ram")


def test_a_multiple_create_shrinks_to_what_fits_but_not_below_min_count() -> None:
    assert instances_allowed(LIMITS, usage(7, 7, 0), InstanceDemand(1, 512, 2, 5)) == 3
    with pytest.raises(QuotaExceeded, match=r"Requested 4-5, but already used 7 of 10 instances"):
        instances_allowed(LIMITS, usage(7, 7, 0), InstanceDemand(1, 512, 4, 5))


def test_unlimited_resources_never_refuse() -> None:
    unlimited = {**LIMITS, "instances": -1, "cores": -1, "ram": -1}
    assert instances_allowed(unlimited, usage(10_000, 10_000, 10**9), InstanceDemand(8, 4096, 50, 50)) == 50


def test_metadata_items_are_limited_per_server() -> None:
    with pytest.raises(QuotaExceeded, match="Maximum number of metadata items exceeds 128"):
        instances_allowed(LIMITS, usage(), InstanceDemand(1, 512, 1, 1, metadata_items=129))


def test_new_limits_may_not_go_below_usage_or_minus_one() -> None:
    quotas.check_new_limits({"instances": 5}, usage(5))
    with pytest.raises(BadRequest, match=re.escape("Quota limit 4 for instances must be greater than or equal to "
                                                   "already used and reserved 5.")):
        quotas.check_new_limits({"instances": 4}, usage(5))
    with pytest.raises(BadRequest, match=re.escape("Quota limit -2 for cores must be -1 or greater.")):
        quotas.check_new_limits({"cores": -2}, usage())


# the stores' contract ---------------------------------------------------------------------------


@dataclass
class Stores:
    instances: InstanceStore
    groups: ServerGroupStore
    quotas: QuotaStore
    admission: Admission


@pytest.fixture(params=["memory", "sql"])
def stores(request: pytest.FixtureRequest, database_url: str) -> Iterator[Stores]:
    if request.param == "memory":
        instances = MemoryInstanceStore()
        groups = MemoryServerGroupStore(instances)
        memory = MemoryQuotas(instances, groups)
        yield Stores(instances, groups, memory, memory)
        return
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    sql = SqlQuotas(sessions)
    yield Stores(SqlInstanceStore(sessions), SqlServerGroupStore(sessions), sql, sql)
    engine.dispose()


def new_instance(project_id: str = "p", group: str | None = None, index: int = 0, at: float = 1_800_000_000.0,
                 **changes: object) -> Instance:
    instance = Instance(uuid=str(uuid.uuid4()), name="vm", project_id=project_id, user_id="u", flavor=TINY,
                        image=None, created_at=at, updated_at=at, server_group_id=group, launch_index=index)
    for key, value in changes.items():
        setattr(instance, key, value)
    return instance


def group_of(project_id: str = "p") -> ServerGroup:
    return ServerGroup(uuid=str(uuid.uuid4()), name="g", policy="anti-affinity", project_id=project_id, user_id="u",
                       created_at=1_800_000_000.0)


def test_limits_default_until_set_and_revert(stores: Stores) -> None:
    assert quotas.limits_of(stores.quotas, "p") == quotas.DEFAULT_LIMITS
    stores.quotas.set_limits("p", {"instances": 2, "cores": 4})
    stores.quotas.set_limits("p", {"instances": 3})
    assert stores.quotas.overrides("p") == {"instances": 3, "cores": 4}
    assert quotas.limits_of(stores.quotas, "other") == quotas.DEFAULT_LIMITS
    stores.quotas.reset_limits("p")
    assert stores.quotas.overrides("p") == {}


def test_usage_counts_live_instances_and_groups_only(stores: Stores) -> None:
    admitted = stores.admission.admit([new_instance(), new_instance()], 1)
    assert len(admitted) == 2
    gone = stores.instances.get(admitted[0].uuid)
    assert gone is not None
    gone.vm_state = "deleted"
    stores.instances.save(gone)
    stores.groups.create(group_of(), limit=10)
    assert stores.quotas.usage("p") == {"instances": 1, "cores": 1, "ram": 512, "server_groups": 1}
    assert stores.quotas.usage("other") == {"instances": 0, "cores": 0, "ram": 0, "server_groups": 0}


def test_admission_over_quota_stores_nothing(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"instances": 2})
    stores.admission.admit([new_instance()], 1)
    refused = [new_instance(index=n) for n in range(2)]
    with pytest.raises(QuotaExceeded, match="Requested 2, but already used 1 of 2 instances"):
        stores.admission.admit(refused, 2)
    assert all(stores.instances.get(i.uuid) is None for i in refused)
    assert stores.quotas.usage("p")["instances"] == 1


def test_admission_shrinks_a_multiple_create_to_the_room_left(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"instances": 3})
    asked = [new_instance(index=n) for n in range(5)]
    admitted = stores.admission.admit(asked, 1)
    assert [i.uuid for i in admitted] == [i.uuid for i in asked[:3]]
    assert stores.instances.get(asked[3].uuid) is None


def test_group_membership_is_the_instances_and_bounded_by_its_quota(stores: Stores) -> None:
    group = group_of()
    stores.groups.create(group, limit=10)
    stores.quotas.set_limits("p", {"server_group_members": 2})
    first, second = stores.admission.admit([new_instance(group=group.uuid, index=n, host=f"h{n}")
                                            for n in range(2)], 2)
    with pytest.raises(QuotaExceeded, match="Quota exceeded, too many servers in group"):
        stores.admission.admit([new_instance(group=group.uuid)], 1)
    found = stores.groups.get(group.uuid)
    assert found is not None and found.members == [first.uuid, second.uuid]
    assert sorted(stores.groups.member_hosts(group.uuid)) == ["h0", "h1"]
    with pytest.raises(BadRequest, match=re.escape("Instance group nope could not be found.")):
        stores.admission.admit([new_instance(group="nope")], 1)


def create_actions(instances: list[Instance], request_id: str = "req-1") -> list[InstanceAction]:
    return [InstanceAction(request_id, i.uuid, "create", i.project_id, i.user_id, i.created_at) for i in instances]


def test_the_create_actions_of_the_admitted_instances_are_stored_with_them(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"instances": 3})
    asked = [new_instance(index=n) for n in range(5)]
    admitted = stores.admission.admit(asked, 1, create_actions(asked))
    assert [[(a.action, a.request_id) for a in stores.instances.actions(i.uuid)] for i in asked] == [
        [("create", "req-1")]] * 3 + [[], []], "the actions of those admitted only"
    assert len(admitted) == 3


def test_a_refused_admission_stores_no_action(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"cores": 1})
    refused = [new_instance(index=n) for n in range(2)]
    with pytest.raises(QuotaExceeded, match="Quota exceeded for cores"):
        stores.admission.admit(refused, 2, create_actions(refused))
    assert [stores.instances.actions(i.uuid) for i in refused] == [[], []]


@pytest.mark.parametrize("across_cells", [False, True])
def test_the_events_of_an_admitted_build_find_its_create_action_without_a_query(database_url: str,
                                                                               across_cells: bool) -> None:
    """The admission tells the instance store (the conductor's, in one process) the ids of the create actions it
    wrote, as the store's own add_action did: a build's first event is written without looking its action up."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    main = SqlInstanceStore(sessions)
    store: InstanceStore = (CellInstanceStore(main, CellDatabases(sessions), SqlInstanceMappings(sessions))
                            if across_cells else main)
    try:
        asked = [new_instance(index=n) for n in range(2)]
        SqlQuotas(sessions, None, store).admit(asked, 1, create_actions(asked, "req-2"))
        vm = asked[1]
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda _c, _cu, statement, *_a: statements.append(statement))
        store.start_event(vm.uuid, "req-2", ActionEvent("schedule", 1_800_000_001.0))
        assert [s for s in statements if "FROM compute_instance_actions" in s] == [], "the action was not looked up"
        if not across_cells:  # (the cell store also reads which cells have a database)
            assert [s.split()[0] for s in statements] == ["INSERT", "UPDATE"]
        [action] = store.actions(vm.uuid)
        assert [e.event for e in action.events] == ["schedule"]
    finally:
        engine.dispose()


def test_groups_are_listed_per_project_and_deleted(stores: Stores) -> None:
    mine, theirs = group_of("p"), group_of("q")
    stores.groups.create(mine, limit=10)
    stores.groups.create(theirs, limit=10)
    assert [g.uuid for g in stores.groups.find("p")] == [mine.uuid]
    assert {g.uuid for g in stores.groups.find()} == {mine.uuid, theirs.uuid}
    assert stores.groups.delete(mine.uuid) and not stores.groups.delete(mine.uuid)
    assert stores.groups.get(mine.uuid) is None


# racing for the last slot -----------------------------------------------------------------------


def race(attempts: int, attempt: Callable[[int], None]) -> tuple[int, int]:
    """Run ``attempt`` from ``attempts`` threads released together; (passed, refused by quota)."""
    start = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        start.wait()
        try:
            attempt(n)
            outcome = "passed"
        except QuotaExceeded:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == attempts, "a racer never finished"
    return outcomes.count("passed"), outcomes.count("refused")


def test_racing_creates_pass_exactly_up_to_the_limit(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"instances": 6})
    stores.admission.admit([new_instance(), new_instance()], 1)
    assert race(16, lambda n: stores.admission.admit([new_instance(index=n)], 1) and None) == (4, 12)
    assert stores.quotas.usage("p")["instances"] == 6


def test_racing_creates_of_a_project_without_instance_limit_stop_at_its_cores(stores: Stores) -> None:
    """Instances unlimited, cores limited: the count still matters, so the admissions still take turns."""
    stores.quotas.set_limits("p", {"instances": quotas.UNLIMITED, "ram": quotas.UNLIMITED, "cores": 5})
    stores.admission.admit([new_instance()], 1)
    assert race(12, lambda n: stores.admission.admit([new_instance(index=n)], 1) and None) == (4, 8)
    assert stores.quotas.usage("p")["cores"] == 5


def test_creates_of_an_unlimited_project_all_pass_and_all_are_stored(stores: Stores) -> None:
    stores.quotas.set_limits("p", {"instances": quotas.UNLIMITED, "cores": quotas.UNLIMITED,
                                   "ram": quotas.UNLIMITED})
    assert race(12, lambda n: stores.admission.admit([new_instance(index=n)], 1) and None) == (12, 0)
    assert stores.quotas.usage("p")["instances"] == 12


def test_racing_joins_fill_a_group_exactly(stores: Stores) -> None:
    group = group_of()
    stores.groups.create(group, limit=10)
    stores.quotas.set_limits("p", {"server_group_members": 3})
    assert race(10, lambda n: stores.admission.admit([new_instance(group=group.uuid, index=n)], 1) and None) == (3, 7)
    found = stores.groups.get(group.uuid)
    assert found is not None and len(found.members) == 3


def test_racing_group_creations_stop_at_the_limit(stores: Stores) -> None:
    assert race(10, lambda n: stores.groups.create(group_of(), limit=4)) == (4, 6)
    assert len(stores.groups.find("p")) == 4


def test_counting_usage_reads_only_the_resizing_instances_in_full(database_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage is summed in SQL; only an instance with a resize under way (its larger flavor counts) is loaded.
    Loading every instance made each create slower as a project grew."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    sql, instances = SqlQuotas(sessions), SqlInstanceStore(sessions)
    bigger = FlavorSpec(id="2", name="m1.small", vcpus=2, ram_mb=2048, disk_gb=20)
    resizing = new_instance(old_flavor=TINY, new_flavor=bigger)
    sql.admit([new_instance() for _ in range(5)] + [resizing], 1)
    loaded: list[str] = []
    from twinstack.db.stores import quotas as sql_quotas

    real = sql_quotas.instance_from_row
    monkeypatch.setattr(sql_quotas, "instance_from_row", lambda row: loaded.append(row.uuid) or real(row))
    assert sql.usage("p") == {"instances": 6, "cores": 7, "ram": 5 * 512 + 2048, "server_groups": 0}
    assert loaded == [resizing.uuid]
    assert instances.get(resizing.uuid) is not None
    engine.dispose()
