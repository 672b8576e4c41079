"""The conductors' registry in SQL: a build whose conductor stopped beating is adopted by exactly one other
conductor; a conductor restarted under its name takes its own old builds; finished builds are forgotten; a build
handed over is claimed by one conductor while it lives, whoever else claims it at once.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)
from tests.unit.scheduler.hosts import SMALL
from twinstack.cloud import Cloud
from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.core.compute.takeover import Claim
from twinstack.db.stores.compute import SqlInstanceStore
from twinstack.db.stores.conductors import SqlConductorRegistry


def building(cloud: Cloud, *uuids: str) -> SqlInstanceStore:  # noqa: F811
    store = SqlInstanceStore(cloud.sessions)
    for uuid in uuids:
        store.save(Instance(uuid=uuid, name=uuid, project_id="p", user_id="u", flavor=SMALL, image=None,
                            created_at=1000.0, updated_at=1000.0))
    return store


def test_the_builds_of_a_silent_conductor_go_to_one_live_conductor(cloud: Cloud) -> None:  # noqa: F811
    building(cloud, "vm-1", "vm-2", "vm-3")
    registry = SqlConductorRegistry(cloud.sessions)
    registry.beat("dead", 1000.0)
    registry.beat("alive", 1100.0)
    registry.own("dead", ["vm-1", "vm-2"])
    registry.own("alive", ["vm-3"])
    assert sorted(registry.adopt_orphans("alive", dead_before=1050.0)) == ["vm-1", "vm-2"]
    registry.beat("late", 1100.0)
    assert registry.adopt_orphans("late", dead_before=1050.0) == [], "already adopted: nothing left to take"
    assert registry.adopt_orphans("alive", dead_before=1050.0) == [], "a live conductor's builds stay its own"


def test_a_restarted_conductor_takes_its_own_builds_and_finished_ones_are_forgotten(cloud: Cloud) -> None:  # noqa: F811
    store = building(cloud, "vm-1", "vm-2")
    registry = SqlConductorRegistry(cloud.sessions)
    registry.beat("c1", 1000.0)
    registry.own("c1", ["vm-1", "vm-2"])
    done = store.get("vm-2")
    assert done is not None
    done.vm_state, done.task_state = states.ACTIVE, None
    store.save(done)
    assert registry.adopt_orphans("c1", dead_before=900.0) == [], "alive and not restarting: nothing to adopt"
    assert registry.adopt_orphans("c1", dead_before=900.0, own_too=True) == ["vm-1"]


def test_a_build_no_conductor_received_is_adopted_once_it_has_waited_long_enough(cloud: Cloud) -> None:  # noqa: F811
    """An API worker killed between recording a server and publishing its build: nobody would ever build it."""
    store = building(cloud, "lost", "received", "placed")
    placed = store.get("placed")
    assert placed is not None
    placed.host, placed.task_state = "h1", states.SPAWNING
    store.save(placed)
    registry = SqlConductorRegistry(cloud.sessions)
    registry.own("c1", ["received"])
    assert registry.adopt_unsent("c2", sent_before=999.0) == [], "not waiting long enough yet"
    assert registry.adopt_unsent("c2", sent_before=1001.0) == ["lost"]
    assert registry.adopt_unsent("c1", sent_before=1001.0) == [], "recorded under c2 now: not lost any more"


def test_a_delete_or_a_power_action_of_a_silent_conductor_is_adopted_and_forgotten_once_done(cloud: Cloud) -> None:  # noqa: F811
    store = building(cloud, "deleting", "stopping", "idle")
    for uuid, task in (("deleting", states.DELETING), ("stopping", states.POWERING_OFF), ("idle", None)):
        instance = store.get(uuid)
        assert instance is not None
        instance.vm_state, instance.task_state, instance.host = states.ACTIVE, task, "h1"
        store.save(instance)
    registry = SqlConductorRegistry(cloud.sessions)
    registry.beat("dead", 1000.0)
    registry.own("dead", ["deleting", "stopping", "idle"])
    assert sorted(registry.adopt_orphans("alive", dead_before=1050.0)) == ["deleting", "stopping"], \
        "work still under way is adopted; an instance whose task ended is swept"
    stopped = store.get("stopping")
    assert stopped is not None
    stopped.vm_state, stopped.task_state = states.STOPPED, None
    store.save(stopped)
    registry.beat("alive", 1100.0)
    registry.beat("later", 1200.0)
    assert registry.adopt_orphans("later", dead_before=1150.0) == ["deleting"], "the stop ended: forgotten"


def test_a_handed_over_build_is_claimed_by_one_conductor_while_it_lives_then_by_another(cloud: Cloud) -> None:  # noqa: F811
    """A hand-over that reaches a second conductor of the cell while the first drives the build (redelivered, or
    sent again) leaves it with the first; once the first is dead, the second takes it over."""
    building(cloud, "vm-1")
    registry = SqlConductorRegistry(cloud.sessions)
    registry.beat("first", 1000.0)
    registry.beat("second", 1000.0)
    assert registry.claim("first", "vm-1", alive_since=970.0) is Claim.FREE
    assert registry.claim("first", "vm-1", alive_since=970.0) is Claim.FREE, "its own already: still its own"
    assert registry.claim("second", "vm-1", alive_since=970.0) is Claim.REFUSED, "the first lives: it drives it"
    assert registry.adopt_orphans("second", dead_before=970.0) == []
    registry.beat("second", 1040.0)
    registry.beat("third", 1040.0)
    assert registry.claim("second", "vm-1", alive_since=1010.0) is Claim.ORPHANED, "the first is dead"
    assert registry.claim("third", "vm-1", alive_since=1010.0) is Claim.REFUSED, "the second drives it now"
    assert registry.adopt_orphans("third", dead_before=1010.0) == [], "nothing left over to adopt"


def claimed_at_once(registry: SqlConductorRegistry, uuid: str, names: tuple[str, ...],
                    alive_since: float) -> list[Claim]:
    barrier = threading.Barrier(len(names))

    def claim(name: str) -> Claim:
        barrier.wait()
        return registry.claim(name, uuid, alive_since)

    with ThreadPoolExecutor(len(names)) as pool:
        return sorted(pool.map(claim, names), key=lambda claim: claim.value)


def test_of_conductors_claiming_a_build_at_once_exactly_one_gets_it(cloud: Cloud) -> None:  # noqa: F811
    """Nobody holds it (a hand-over delivered to two conductors of the cell at once), or a dead one does: each
    time one claimant gets it, the others find a live owner."""
    uuids = [f"vm-{n}" for n in range(6)]
    building(cloud, *uuids)
    registry = SqlConductorRegistry(cloud.sessions)
    names = ("a", "b", "c")
    for name in names:
        registry.beat(name, 1000.0)
    registry.beat("dead", 900.0)
    for uuid in uuids[:3]:
        assert claimed_at_once(registry, uuid, names, 970.0) == [Claim.FREE, Claim.REFUSED, Claim.REFUSED]
    registry.own("dead", uuids[3:])
    for uuid in uuids[3:]:
        assert claimed_at_once(registry, uuid, names, 970.0) == [Claim.ORPHANED, Claim.REFUSED, Claim.REFUSED]
    assert registry.adopt_orphans("a", dead_before=970.0) == []
