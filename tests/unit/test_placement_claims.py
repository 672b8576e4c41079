"""Claims against Placement's accounting, on SQLite and on PostgreSQL.

A claim writes all allocations of a consumer or none; inventories never shrink below what is
used; and however claims, releases and inventory changes interleave -- one after another
(a hypothesis state machine) or from racing threads -- every provider's usage is the sum of its
allocations and stays within (total - reserved) * allocation_ratio.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from twinstack.core.errors import BadRequest
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler.write_through import engine_of
from twinstack.db import migrate
from twinstack.db.models.placement import Allocation
from twinstack.db.session import make_engine, make_session_factory

CLAIM_ATTEMPTS = 200


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def provider(sessions: sessionmaker[Session], name: str, **inventories: pl.InventorySpec) -> pl.Provider:
    with sessions() as s, s.begin():
        created = pl.create_provider(s, name)
        if inventories:
            created = pl.set_inventories(s, created.uuid, created.generation, inventories)
        return created


def claim(sessions: sessionmaker[Session], consumer: str, allocations: dict[str, dict[str, int]],
          via: str = "session", **kw: Any) -> None:
    """Claim in an ORM Session (as the API does) or, ``via="connection"``, on a Core Connection (as the scheduler
    does): the same rules hold either way."""
    request = pl.ConsumerClaim(consumer, allocations, kw.pop("project_id", "project"), "user", **kw)
    if via == "connection":
        pl.run_in_transaction(engine_of(sessions), lambda c: pl.claim(c, [request]), attempts=CLAIM_ATTEMPTS)
    else:
        pl.run_in_transaction(sessions, lambda s: pl.claim(s, [request]), attempts=CLAIM_ATTEMPTS)


VIA = pytest.mark.parametrize("via", ["session", "connection"])


def usages(sessions: sessionmaker[Session], uuid: str) -> dict[str, int]:
    with sessions() as s:
        return pl.provider_usages(s, uuid)[1]


@VIA
def test_a_claim_writes_every_allocation_and_bumps_each_provider_generation(sessions: sessionmaker[Session],
                                                                            via: str) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8), MEMORY_MB=pl.InventorySpec(4096))
    disk = provider(sessions, "nfs", DISK_GB=pl.InventorySpec(100))
    claim(sessions, "vm1", {host.uuid: {"VCPU": 2, "MEMORY_MB": 1024}, disk.uuid: {"DISK_GB": 10}}, via=via)
    with sessions() as s:
        held = pl.consumer_allocations(s, "vm1")
        assert held.generation == 1
        assert {p: a.resources for p, a in held.allocations.items()} == {
            host.uuid: {"MEMORY_MB": 1024, "VCPU": 2}, disk.uuid: {"DISK_GB": 10}}
        assert pl.get_provider(s, host.uuid).generation == host.generation + 1
        assert pl.get_provider(s, disk.uuid).generation == disk.generation + 1
    assert usages(sessions, host.uuid) == {"MEMORY_MB": 1024, "VCPU": 2}


@VIA
def test_a_claim_that_does_not_fit_somewhere_writes_nothing_anywhere(sessions: sessionmaker[Session],
                                                                     via: str) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(4, allocation_ratio=2.0))
    disk = provider(sessions, "nfs", DISK_GB=pl.InventorySpec(100, reserved=50))
    claim(sessions, "vm1", {host.uuid: {"VCPU": 8}}, via=via)
    with pytest.raises(pl.CapacityExceeded, match="would exceed the capacity"):
        claim(sessions, "vm2", {host.uuid: {"VCPU": 1}, disk.uuid: {"DISK_GB": 10}}, via=via)
    with pytest.raises(pl.CapacityExceeded, match="would exceed the capacity"):
        claim(sessions, "vm3", {disk.uuid: {"DISK_GB": 51}}, via=via)
    assert usages(sessions, disk.uuid) == {"DISK_GB": 0}
    with sessions() as s:
        assert pl.consumer_allocations(s, "vm2").allocations == {}


@VIA
def test_amounts_outside_min_unit_max_unit_or_step_size_are_refused(sessions: sessionmaker[Session],
                                                                    via: str) -> None:
    host = provider(sessions, "host", MEMORY_MB=pl.InventorySpec(4096, min_unit=256, max_unit=2048, step_size=256))
    for amount, problem in ((128, "below min_unit"), (4096, "above max_unit"), (300, "multiple of step_size")):
        with pytest.raises(pl.CapacityExceeded, match=problem):
            claim(sessions, "vm", {host.uuid: {"MEMORY_MB": amount}}, via=via)
    with pytest.raises(pl.CapacityExceeded, match=r"Inventory for 'VCPU'.*invalid"):
        claim(sessions, "vm", {host.uuid: {"VCPU": 1}}, via=via)
    with pytest.raises(BadRequest, match="does not exist"):
        claim(sessions, "vm", {str(uuid.uuid4()): {"VCPU": 1}}, via=via)


@VIA
def test_a_new_claim_replaces_what_the_consumer_held(sessions: sessionmaker[Session], via: str) -> None:
    a = provider(sessions, "a", VCPU=pl.InventorySpec(4))
    b = provider(sessions, "b", VCPU=pl.InventorySpec(4))
    claim(sessions, "vm", {a.uuid: {"VCPU": 4}}, via=via)
    claim(sessions, "vm", {a.uuid: {"VCPU": 4}}, via=via)  # replacing 4 by 4 on a full provider fits
    claim(sessions, "vm", {b.uuid: {"VCPU": 3}}, via=via)
    assert usages(sessions, a.uuid) == {"VCPU": 0}
    assert usages(sessions, b.uuid) == {"VCPU": 3}


@VIA
def test_consumer_generation_guards_a_rewrite(sessions: sessionmaker[Session], via: str) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8))
    claim(sessions, "vm", {host.uuid: {"VCPU": 1}}, generation=None, via=via)
    with pytest.raises(pl.StaleConsumerGeneration, match="expected 1 but got null"):
        claim(sessions, "vm", {host.uuid: {"VCPU": 2}}, generation=None, via=via)
    with pytest.raises(pl.StaleConsumerGeneration, match="expected 1 but got 7"):
        claim(sessions, "vm", {host.uuid: {"VCPU": 2}}, generation=7, via=via)
    claim(sessions, "vm", {host.uuid: {"VCPU": 2}}, generation=1, via=via)
    claim(sessions, "vm", {}, generation=2, via=via)  # an empty claim releases, safely
    with sessions() as s:
        assert pl.consumer_allocations(s, "vm").allocations == {}
    with pytest.raises(pl.StaleConsumerGeneration, match="expected null but got 3"):
        claim(sessions, "vm", {host.uuid: {"VCPU": 1}}, generation=3, via=via)


@VIA
def test_release_frees_everything_the_consumer_held(sessions: sessionmaker[Session], via: str) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(2))
    claim(sessions, "vm", {host.uuid: {"VCPU": 2}}, via=via)
    with contextlib.ExitStack() as stack:
        if via == "connection":
            db: Session | Connection = stack.enter_context(engine_of(sessions).begin())
        else:
            db = stack.enter_context(sessions())
            stack.enter_context(db.begin())
        assert pl.release(db, "vm") is True
        assert pl.release(db, "vm") is False
    claim(sessions, "vm2", {host.uuid: {"VCPU": 2}}, via=via)


def test_inventory_never_shrinks_below_or_drops_what_is_used(sessions: sessionmaker[Session]) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8), MEMORY_MB=pl.InventorySpec(1024))
    claim(sessions, "vm", {host.uuid: {"VCPU": 6}})
    with sessions() as s, s.begin():
        current = pl.get_provider(s, host.uuid)
        with pytest.raises(pl.InventoryInUse, match="new capacity 4 is below the 6 already allocated"):
            pl.set_inventories(s, host.uuid, current.generation, {"VCPU": pl.InventorySpec(8, reserved=4)})
        with pytest.raises(pl.InventoryInUse, match=r"Inventory for 'VCPU' on resource provider .* in use"):
            pl.set_inventories(s, host.uuid, current.generation, {"MEMORY_MB": pl.InventorySpec(1024)})
        with pytest.raises(pl.InventoryInUse):
            pl.delete_inventory(s, host.uuid, "VCPU")
        pl.set_inventories(s, host.uuid, current.generation, {"VCPU": pl.InventorySpec(3, allocation_ratio=2.0)})


def test_a_stale_provider_generation_is_refused(sessions: sessionmaker[Session]) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8))
    claim(sessions, "vm", {host.uuid: {"VCPU": 1}})
    with sessions() as s, s.begin(), pytest.raises(pl.ConcurrentUpdate, match="generation conflict"):
        pl.set_inventories(s, host.uuid, host.generation, {"VCPU": pl.InventorySpec(16)})
    with sessions() as s, s.begin(), pytest.raises(pl.ConcurrentUpdate):
        pl.set_traits(s, host.uuid, host.generation, ["HW_CPU_X86_AVX2"])


def test_providers_with_allocations_or_children_cannot_be_deleted(sessions: sessionmaker[Session]) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8))
    with sessions() as s, s.begin():
        child = pl.create_provider(s, "numa0", parent_uuid=host.uuid)
    claim(sessions, "vm", {host.uuid: {"VCPU": 1}})
    with sessions() as s, s.begin():
        with pytest.raises(pl.ProviderInUse):
            pl.delete_provider(s, host.uuid)
        pl.release(s, "vm")
    with sessions() as s, s.begin(), pytest.raises(pl.CannotDeleteParent):
        pl.delete_provider(s, host.uuid)
    with sessions() as s, s.begin():
        pl.delete_provider(s, child.uuid)
        pl.delete_provider(s, host.uuid)
        assert pl.list_providers(s) == []


def test_usages_per_provider_and_per_project(sessions: sessionmaker[Session]) -> None:
    a = provider(sessions, "a", VCPU=pl.InventorySpec(8), MEMORY_MB=pl.InventorySpec(4096))
    b = provider(sessions, "b", VCPU=pl.InventorySpec(8))
    claim(sessions, "vm1", {a.uuid: {"VCPU": 2, "MEMORY_MB": 512}}, project_id="p1", consumer_type="INSTANCE")
    claim(sessions, "vm2", {b.uuid: {"VCPU": 1}}, project_id="p1")
    claim(sessions, "vm3", {b.uuid: {"VCPU": 4}}, project_id="p2")
    assert usages(sessions, b.uuid) == {"VCPU": 5}
    with sessions() as s:
        assert pl.project_usages(s, "p1") == {"VCPU": 3, "MEMORY_MB": 512}
        assert pl.project_usages(s, "p1", user_id="nobody") == {}
        assert pl.project_usages_by_type(s, "p1") == {
            "INSTANCE": {"consumer_count": 1, "VCPU": 2, "MEMORY_MB": 512},
            "unknown": {"consumer_count": 1, "VCPU": 1},
        }
        assert pl.project_usages_by_type(s, "p1", consumer_type="all") == {
            "all": {"consumer_count": 2, "VCPU": 3, "MEMORY_MB": 512}}


def test_reshape_moves_inventory_and_its_allocations_in_one_step(sessions: sessionmaker[Session]) -> None:
    host = provider(sessions, "host", VCPU=pl.InventorySpec(8), VGPU=pl.InventorySpec(4))
    with sessions() as s, s.begin():
        gpu = pl.create_provider(s, "gpu0", parent_uuid=host.uuid)
    claim(sessions, "vm", {host.uuid: {"VCPU": 1, "VGPU": 2}}, generation=None)
    with sessions() as s, s.begin():
        host_now = pl.get_provider(s, host.uuid)
        pl.reshape(s, {host.uuid: (host_now.generation, {"VCPU": pl.InventorySpec(8)}),
                       gpu.uuid: (gpu.generation, {"VGPU": pl.InventorySpec(4)})},
                   [pl.ConsumerClaim("vm", {host.uuid: {"VCPU": 1}, gpu.uuid: {"VGPU": 2}}, "project", "user", 1)])
    assert usages(sessions, host.uuid) == {"VCPU": 1}
    assert usages(sessions, gpu.uuid) == {"VGPU": 2}
    with sessions() as s, s.begin(), pytest.raises(pl.InventoryInUse):
        gpu_now = pl.get_provider(s, gpu.uuid)
        pl.reshape(s, {gpu.uuid: (gpu_now.generation, {})}, [])


# Racing claimers --------------------------------------------------------------------------------


def race(threads: int, work: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:  # collected, asserted by the caller
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return errors


def allocated(sessions: sessionmaker[Session], provider_uuid: str, rc: str) -> int:
    with sessions() as s:
        pid = pl.get_provider(s, provider_uuid).id
        total = s.scalar(select(func.coalesce(func.sum(Allocation.used), 0))
                         .where(Allocation.provider_id == pid, Allocation.resource_class == rc))
        return int(total or 0)


@VIA
def test_a_claim_whose_consumer_left_a_provider_deleted_meanwhile_is_retried(
        database_url: str, sessions: sessionmaker[Session], via: str) -> None:
    """Between the claim's read of what its consumer holds and its read of the providers, another writer releases
    the consumer and deletes the provider it held on: the claim's first attempt is a conflict (retried), not a
    KeyError, and the retry writes the new allocations."""
    gone = provider(sessions, "gone", VCPU=pl.InventorySpec(4))
    kept = provider(sessions, "kept", VCPU=pl.InventorySpec(4))
    claim(sessions, "vm", {gone.uuid: {"VCPU": 2}})
    rival = make_engine(database_url)
    interfered: list[str] = []

    def between_the_reads(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not interfered and "placement_inventories" in statement and statement.lstrip().startswith("SELECT"):
            interfered.append(statement)
            with make_session_factory(rival)() as s, s.begin():
                pl.release(s, "vm")
                pl.delete_provider(s, gone.uuid)

    engine = engine_of(sessions)
    event.listen(engine, "before_cursor_execute", between_the_reads)
    try:
        claim(sessions, "vm", {kept.uuid: {"VCPU": 3}}, via=via, generation=pl.UNCHECKED)
    finally:
        event.remove(engine, "before_cursor_execute", between_the_reads)
        rival.dispose()
    assert interfered
    assert usages(sessions, kept.uuid) == {"VCPU": 3}


@VIA
def test_racing_claimers_never_overcommit_a_provider(database_url: str, sessions: sessionmaker[Session],
                                                     via: str) -> None:
    threads, tries = (8, 12) if database_url.startswith("postgresql") else (4, 8)
    host = provider(sessions, "host", VCPU=pl.InventorySpec(10, reserved=2, allocation_ratio=1.5))  # capacity 12
    won: list[str] = []
    refused: list[str] = []

    def claimer(index: int) -> None:
        for attempt in range(tries):
            consumer = f"vm-{index}-{attempt}"
            try:
                claim(sessions, consumer, {host.uuid: {"VCPU": 1}}, via=via)
                won.append(consumer)
            except pl.CapacityExceeded:
                refused.append(consumer)

    assert race(threads, claimer) == []
    assert len(won) == 12
    assert len(refused) == threads * tries - 12
    assert allocated(sessions, host.uuid, "VCPU") == 12
    with sessions() as s:
        assert pl.get_provider(s, host.uuid).generation == host.generation + 12


def test_a_claim_held_up_by_a_rival_taking_the_last_room_is_refused_once_the_rival_commits(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    """What decides is the compare-and-swap, not the read: the late claim read the provider (room for one more)
    before the rival committed, waits on the rival's swap, then must lose its own, read again and be refused.
    On PostgreSQL the test waits until the late claim is really blocked on the rival's lock."""
    host = provider(sessions, "host", VCPU=pl.InventorySpec(2))
    claim(sessions, "first", {host.uuid: {"VCPU": 1}})
    engine = engine_of(sessions)
    outcome: list[str] = []

    def late() -> None:
        wanted = pl.ConsumerClaim("late", {host.uuid: {"VCPU": 1}}, "project", "user", generation=None)
        try:
            pl.run_in_transaction(engine, lambda c: pl.claim(c, [wanted]))
            outcome.append("claimed")
        except pl.CapacityExceeded as exc:
            outcome.append(str(exc))

    with engine.connect() as rival:
        with rival.begin():
            pl.claim(rival, [pl.ConsumerClaim("rival", {host.uuid: {"VCPU": 1}}, "project", "user", generation=None)])
            waiting = threading.Thread(target=late)
            waiting.start()
            if database_url.startswith("postgresql"):
                blocked_on_a_lock(engine)
            else:
                waiting.join(0.5)  # SQLite: the late claim waits for the write lock (busy timeout), seen or not
            assert outcome == []
        waiting.join(60)
    assert outcome == [f"Unable to allocate inventory: Unable to create allocation for 'VCPU' on resource provider "
                       f"'{host.uuid}'. The requested amount would exceed the capacity."]
    assert allocated(sessions, host.uuid, "VCPU") == 2
    with sessions() as s:
        assert pl.get_provider(s, host.uuid).generation == host.generation + 2


def blocked_on_a_lock(engine: Engine, timeout: float = 30) -> None:
    """Return once some other session of this PostgreSQL database waits on a lock."""
    deadline = time.monotonic() + timeout
    with engine.connect() as watcher:
        while watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock'")) == 0:
            assert time.monotonic() < deadline, "the late claim never waited on the rival's lock"
            time.sleep(0.01)
            watcher.rollback()


def test_racing_multi_provider_claims_and_inventory_changes_never_overcommit(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    threads = 6 if database_url.startswith("postgresql") else 3
    a = provider(sessions, "a", VCPU=pl.InventorySpec(16))
    b = provider(sessions, "b", MEMORY_MB=pl.InventorySpec(8192))

    def claimer(index: int) -> None:
        if index == 0:  # an operator shrinking and growing inventory meanwhile
            for total in (12, 20, 8, 16, 10):
                try:
                    with sessions() as s, s.begin():
                        pl.set_inventories(s, a.uuid, None, {"VCPU": pl.InventorySpec(total)})
                except (pl.InventoryInUse, pl.ConcurrentUpdate):
                    pass
            return
        for attempt in range(10):
            order = [(a.uuid, {"VCPU": 2}), (b.uuid, {"MEMORY_MB": 1024})]
            if index % 2:
                order.reverse()  # opposite lock orders must not deadlock
            with contextlib.suppress(pl.CapacityExceeded):
                claim(sessions, f"vm-{index}-{attempt}", dict(order))

    assert race(threads, claimer) == []
    with sessions() as s:
        vcpu = pl.get_inventories(s, a.uuid)[1]["VCPU"]
        assert allocated(sessions, a.uuid, "VCPU") <= vcpu.capacity
        assert allocated(sessions, b.uuid, "MEMORY_MB") <= 8192
        assert allocated(sessions, a.uuid, "VCPU") // 2 == allocated(sessions, b.uuid, "MEMORY_MB") // 1024


# Any interleaving (hypothesis state machine) ------------------------------------------------------

CLASSES = ("VCPU", "MEMORY_MB")


def accounting_machine(sessions: sessionmaker[Session]) -> type[RuleBasedStateMachine]:
    """Claims, releases and inventory changes against a model that predicts every outcome."""

    class Accounting(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.inventories: dict[str, dict[str, pl.InventorySpec]] = {}
            with sessions() as s, s.begin():
                for _ in range(3):
                    made = pl.create_provider(s, f"host-{uuid.uuid4()}")
                    specs = {"VCPU": pl.InventorySpec(8, allocation_ratio=2.0),
                             "MEMORY_MB": pl.InventorySpec(4096, reserved=512, step_size=256)}
                    pl.set_inventories(s, made.uuid, None, specs)
                    self.inventories[made.uuid] = specs
            self.providers = sorted(self.inventories)
            self.consumers = [str(uuid.uuid4()) for _ in range(5)]
            self.held: dict[str, dict[str, dict[str, int]]] = {}

        def used(self, provider_uuid: str, rc: str, without: str | None = None) -> int:
            return sum(held.get(provider_uuid, {}).get(rc, 0) for c, held in self.held.items() if c != without)

        @rule(consumer=st.integers(0, 4), picks=st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(CLASSES), st.integers(1, 24).map(lambda n: n * 128)),
            min_size=0, max_size=3), via=st.sampled_from(["session", "connection"]))
        def claim(self, consumer: int, picks: list[tuple[int, str, int]], via: str) -> None:
            who = self.consumers[consumer]
            wanted: dict[str, dict[str, int]] = {}
            for index, rc, amount in picks:
                amount = amount // 128 if rc == "VCPU" else amount
                wanted.setdefault(self.providers[index], {})[rc] = amount
            ok = all(
                rc in self.inventories[p] and pl.fits(self.inventories[p][rc], self.used(p, rc, without=who), n)
                for p, resources in wanted.items() for rc, n in resources.items()
            )
            try:
                claim(sessions, who, wanted, via=via)
            except pl.CapacityExceeded:
                assert not ok
                return
            assert ok
            if wanted:
                self.held[who] = wanted
            else:
                self.held.pop(who, None)

        @rule(consumer=st.integers(0, 4))
        def release(self, consumer: int) -> None:
            who = self.consumers[consumer]
            with sessions() as s, s.begin():
                assert pl.release(s, who) is (who in self.held)
            self.held.pop(who, None)

        @rule(index=st.integers(0, 2), rc=st.sampled_from(CLASSES), total=st.integers(1, 16),
              reserved=st.integers(0, 4), ratio=st.sampled_from([1.0, 1.5, 2.0]), drop=st.booleans())
        def change_inventory(self, index: int, rc: str, total: int, reserved: int, ratio: float, drop: bool) -> None:
            p = self.providers[index]
            scale = 512 if rc == "MEMORY_MB" else 1
            specs = dict(self.inventories[p])
            if drop:
                specs.pop(rc, None)
            else:
                specs[rc] = pl.InventorySpec(total * scale, min(reserved * scale, total * scale),
                                             allocation_ratio=ratio, step_size=256 if scale > 1 else 1)
            ok = all(self.used(p, c) <= (specs[c].capacity if c in specs else 0) for c in CLASSES)
            try:
                with sessions() as s, s.begin():
                    pl.set_inventories(s, p, None, specs)
            except pl.InventoryInUse:
                assert not ok
                return
            assert ok
            self.inventories[p] = specs

        @invariant()
        def usage_is_the_sum_of_allocations_and_within_capacity(self) -> None:
            with sessions() as s:
                for p in self.providers:
                    inventories = pl.get_inventories(s, p)[1]
                    usage = pl.provider_usages(s, p)[1]
                    held = pl.provider_allocations(s, p)[1]
                    for rc in CLASSES:
                        summed = sum(resources.get(rc, 0) for _gen, resources in held.values())
                        assert usage.get(rc, 0) == summed == self.used(p, rc)
                        if summed:
                            assert summed <= inventories[rc].capacity
                    assert inventories == self.inventories[p]

    return Accounting


def test_any_interleaving_keeps_usage_equal_to_allocations_and_within_capacity(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    examples = 25 if database_url.startswith("postgresql") else 40
    run_state_machine_as_test(
        accounting_machine(sessions),
        settings=settings(max_examples=examples, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]),
    )
