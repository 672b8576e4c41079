"""Two conductors' schedulers over one database (SharedPlacement): each decides on its own columns, claims are
compare-and-swaps in SQL, and the columns catch up with the other's claims and releases, so neither overcommits
a host nor refuses a build while SQL has room. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)
from tests.unit.scheduler.hosts import host, spec
from twinstack.cloud import Cloud
from twinstack.core.clock import ManualClock
from twinstack.core.compute.stores import NoValidHost
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.filter_scheduler import FilterScheduler, HostSources
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.scheduler.shared_placement import SharedFilterScheduler, SharedPlacement, shared_scheduler_factory
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db.stores.compute import SqlHostStore


def conductor_side(cloud: Cloud, clock: ManualClock) -> tuple[SharedPlacement, SharedFilterScheduler]:  # noqa: F811
    placement = SharedPlacement(cloud.sessions)
    return placement, shared_scheduler_factory()(placement, HostSources(SqlHostStore(cloud.sessions), clock=clock))


def register(cloud: Cloud, placement: SharedPlacement, clock: ManualClock, *names: str) -> None:  # noqa: F811
    """What a conductor does on HostsRegistered: providers first, then the host records."""
    hosts = [host(name, vcpus=2, heartbeat=clock.now()) for name in names]
    placement.register_hosts(hosts)
    SqlHostStore(cloud.sessions).upsert_all(hosts)


def used_vcpus(cloud: Cloud) -> dict[str, int]:  # noqa: F811
    with cloud.sessions() as session:
        return {p.name: sql.provider_usages(session, p.uuid)[1].get("VCPU", 0) for p in sql.list_providers(session)}


def test_hosts_registered_through_one_conductor_are_scheduled_by_the_other(cloud: Cloud,  # noqa: F811
                                                                          clock: ManualClock) -> None:
    first, _ = conductor_side(cloud, clock)
    _, second_scheduler = conductor_side(cloud, clock)
    register(cloud, first, clock, "h1", "h2")
    chosen = second_scheduler.select_destinations(spec(uuid="vm-a"))[0]
    assert chosen in {"h1", "h2"}
    assert used_vcpus(cloud)[chosen] == 1, "the claim is in SQL, where every conductor sees it"


def test_two_conductors_fill_the_hosts_exactly_and_never_past_them(cloud: Cloud,  # noqa: F811
                                                                   clock: ManualClock) -> None:
    first, first_scheduler = conductor_side(cloud, clock)
    _, second_scheduler = conductor_side(cloud, clock)
    register(cloud, first, clock, "h1", "h2")  # 2 hosts x 2 vCPUs: room for 4 one-vCPU servers
    schedulers = [first_scheduler, second_scheduler, second_scheduler, first_scheduler]
    placed = [s.select_destinations(spec(uuid=f"vm-{n}"))[0] for n, s in enumerate(schedulers)]
    assert sorted(placed) == ["h1", "h1", "h2", "h2"]
    assert used_vcpus(cloud) == {"h1": 2, "h2": 2}
    for scheduler in (first_scheduler, second_scheduler):
        with pytest.raises(NoValidHost):
            scheduler.select_destinations(spec(uuid="vm-too-many"))
    assert used_vcpus(cloud) == {"h1": 2, "h2": 2}
    # the first conductor's columns learnt of the second's claims when SQL refused theirs
    assert first.usage("h1")["VCPU"] == 2 and first.state.usage_of("h1")["VCPU"] == 2


def test_room_freed_by_one_conductor_is_used_by_the_other(cloud: Cloud, clock: ManualClock) -> None:  # noqa: F811
    first, _ = conductor_side(cloud, clock)
    second, second_scheduler = conductor_side(cloud, clock)
    register(cloud, first, clock, "h1")
    for n in range(2):
        second_scheduler.select_destinations(spec(uuid=f"vm-{n}"))
    with pytest.raises(NoValidHost):
        second_scheduler.select_destinations(spec(uuid="vm-later"))
    first.release("vm-0")  # a delete handled by the first conductor: the second's columns still count vm-0
    assert second.state.usage_of("h1")["VCPU"] == 2
    assert second_scheduler.select_destinations(spec(uuid="vm-later")) == ["h1"]
    assert used_vcpus(cloud) == {"h1": 2} and second.host_of("vm-0") is None


def test_a_conductor_claims_an_alternate_on_a_host_registered_through_another(cloud: Cloud,  # noqa: F811
                                                                            clock: ManualClock) -> None:
    """A cell's conductor never schedules, so nothing refreshes its columns; a host whose registration reached
    another conductor is read in before the claim on it (an alternate of a build it took over), not refused."""
    first, _ = conductor_side(cloud, clock)
    second, _ = conductor_side(cloud, clock)
    register(cloud, first, clock, "h1")
    assert "h1" not in second.state.index
    assert second.claim("vm-a", "p", "u", "h1", {"VCPU": 1, "MEMORY_MB": 512})
    assert used_vcpus(cloud) == {"h1": 1}


def test_the_one_process_scheduler_claims_in_sql_too(cloud: Cloud, clock: ManualClock) -> None:  # noqa: F811
    """``twinstack serve``'s own placement (SqlBackedPlacement): the scheduler's claim, made on its columns by host
    index, is written to SQL first, where the placement API and every other process read it."""
    placement = SqlBackedPlacement(cloud.sessions)
    placement.register_hosts([host("h1", vcpus=2, heartbeat=clock.now())])
    scheduler = FilterScheduler(placement, SchedulerSettings(host_refresh_seconds=None))
    assert scheduler.select_destinations(spec(uuid="vm-a")) == ["h1"]
    assert used_vcpus(cloud) == {"h1": 1}
    with cloud.sessions() as session:
        assert sql.consumer_allocations(session, "vm-a").project_id == "p"


def test_a_scheduler_services_claim_is_handed_to_the_instance_only_where_the_answer_says(
        cloud: Cloud, clock: ManualClock) -> None:  # noqa: F811
    """The scheduler service claims under the request's id; the conductor adopts that claim for the instance, on
    the host the answer names only (another handling of the request may have claimed elsewhere since)."""
    from dataclasses import replace

    conductor, _ = conductor_side(cloud, clock)
    scheduler_placement, scheduler = conductor_side(cloud, clock)
    register(cloud, conductor, clock, "h1", "h2")
    request, instance = "0b8e7f2a-5c1d-4e3f-9a8b-7c6d5e4f3a21", "9d2c4b6a-8e1f-4a3b-b5c7-d9e1f3a5b7c9"
    [chosen, *_] = scheduler.select_destinations(replace(spec(uuid=instance), consumer=request))
    other = "h2" if chosen == "h1" else "h1"
    assert scheduler_placement.holds(request) and not scheduler_placement.holds(instance)
    assert not conductor.adopt(request, instance, other), "not where the request holds its claim"
    assert conductor.adopt(request, instance, chosen)
    assert not conductor.holds(request) and conductor.holds(instance)
    assert conductor.allocations(instance) == {chosen: {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}}
    with cloud.sessions() as session:
        assert sql.consumer_allocations(session, instance).consumer_type == "INSTANCE"
    assert used_vcpus(cloud) == {chosen: 1, other: 0}, "handed over, not claimed twice"
    assert not conductor.adopt(request, instance, chosen), "taken once"


def test_a_scheduler_service_judges_heartbeats_against_the_newest_one_recorded(cloud: Cloud,  # noqa: F811
                                                                                clock: ManualClock) -> None:
    """The conductors record heartbeats late behind a burst: a scheduler service still sees hosts heard recently
    as up, and a host silent while the others are heard as down."""
    from twinstack.core.scheduler.shared_placement import ServiceFilterScheduler

    placement = SharedPlacement(cloud.sessions)
    service = shared_scheduler_factory(kind=ServiceFilterScheduler)(
        placement, HostSources(SqlHostStore(cloud.sessions), clock=clock))
    register(cloud, placement, clock, "h1", "h2")
    hosts = SqlHostStore(cloud.sessions)
    hosts.heartbeat(["h2"], clock.now() - 500)  # h2 silent for long before h1's last beat
    clock.advance(300)  # every record is 300 s behind the clock (> service_down_time): the conductors are late
    assert service.select_destinations(spec(uuid="vm-a"))[0] == "h1"
    _, in_conductor = conductor_side(cloud, clock)
    with pytest.raises(NoValidHost):  # judged by the clock, every host is down
        in_conductor.select_destinations(spec(uuid="vm-b"))
