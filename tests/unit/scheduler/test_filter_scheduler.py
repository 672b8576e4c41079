"""The FilterScheduler end to end: filters, weighers, the claim, alternates, races, randomisation."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.core.clock import ManualClock
from twinstack.core.compute.memory import MemoryHostStore, MemoryPlacement
from twinstack.core.compute.stores import NoValidHost
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import (
    FilterScheduler,
    HostSources,
    _first_set,
    _next_hint,
    scheduler_factory,
)
from twinstack.core.scheduler.host_state import Usage
from twinstack.core.scheduler.settings import SchedulerSettings

from .hosts import aggregate, cloud, flavor, host, spec


def test_the_answer_is_the_claimed_host_then_the_next_best_as_alternates() -> None:
    placement, scheduler = cloud(*[host(f"h{i}", ram_mb=8192 + 1024 * i) for i in range(5)], max_alternates=5)
    request = spec(alternates=3)
    assert scheduler.select_destinations(request) == ["h4", "h3", "h2", "h1"]
    assert placement.allocations(request.instance_uuid) == {"h4": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}}
    assert placement.allocations("nobody") == {}


def test_alternates_stay_in_the_claimed_hosts_cell_and_within_max_alternates() -> None:
    hosts = [host(f"h{i}", ram_mb=8192 + 1024 * i, cell=f"cell{i % 2}") for i in range(8)]
    _, scheduler = cloud(*hosts, max_alternates=2)
    assert scheduler.select_destinations(spec(alternates=5)) == ["h7", "h5", "h3"]
    _, scheduler = cloud(*hosts)
    assert scheduler.select_destinations(spec(alternates=0)) == ["h7"]


def test_alternates_come_from_the_same_cell_even_when_the_next_best_are_all_elsewhere() -> None:
    hosts = [host("best", ram_mb=65536, cell="small")]
    hosts += [host(f"big{i:02d}", ram_mb=32768 + i, cell="big") for i in range(30)]
    hosts += [host(f"small{i}", ram_mb=8192 + i, cell="small") for i in range(3)]
    _, scheduler = cloud(*hosts, max_alternates=5)
    assert scheduler.select_destinations(spec(alternates=3)) == ["best", "small2", "small1", "small0"]
    _, scheduler = cloud(*hosts, max_alternates=5)
    assert scheduler.select_destinations(spec(alternates=3, ignore_hosts=frozenset({"best"}))) == [
        "big29", "big28", "big27", "big26"]


def test_no_host_passing_the_filters_is_no_valid_host_with_novas_message() -> None:
    placement, scheduler = cloud(host("a", vcpus=2), host("b", vcpus=2))
    with pytest.raises(NoValidHost, match=r"^No valid host was found\. There are not enough hosts available\.$"):
        scheduler.select_destinations(spec(flavor(vcpus=4)))
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec(flavor(**{"trait:CUSTOM_X": "required"})))
    with pytest.raises(NoValidHost):
        cloud()[1].select_destinations(spec())
    assert placement.consumers() == {}


def test_ignored_hosts_are_never_chosen() -> None:
    _, scheduler = cloud(host("a", ram_mb=32768), host("b"), host("c"))
    assert scheduler.select_destinations(spec(ignore_hosts=frozenset({"a"}), alternates=5)) == ["b", "c"]


def test_a_forced_host_skips_the_filters_but_not_the_claim() -> None:
    _, scheduler = cloud(host("a", ram_mb=32768), host("b", disabled=True, vcpus=1), host("c"))
    assert scheduler.select_destinations(spec(availability_zone="nova:b")) == ["b"]
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec(availability_zone="nova:b"))  # b's one vCPU is taken now
    assert scheduler.select_destinations(spec(availability_zone="nova"))[0] == "a"
    assert scheduler.select_destinations(spec(availability_zone="nova::c"))[0] == "c"
    assert scheduler.select_destinations(spec(availability_zone="nova:c:c"))[0] == "c"


def test_a_host_forced_through_the_api_comes_as_the_force_hosts_hint_beside_its_zone() -> None:
    _, scheduler = cloud(host("a", ram_mb=32768), host("b"))
    forced = spec(availability_zone="nova", hints={"force_hosts": ["b"]})  # what the compute API makes of nova:b
    assert scheduler.select_destinations(forced) == ["b"]


class Racing(ColumnarPlacement):
    """A placement where another scheduler wins the claim on the listed hosts first."""

    def __init__(self, losing: set[str]) -> None:
        super().__init__()
        self.losing = losing

    def claim_at(self, consumer: str, i: int, usage: Usage, resources: Mapping[str, int], project_id: str = "",
                 user_id: str = "") -> bool:
        if self.state.names[i] in self.losing:
            return False
        return super().claim_at(consumer, i, usage, resources, project_id, user_id)


def test_a_lost_claim_moves_on_to_the_next_best_host() -> None:
    hosts = [host(f"h{i}", ram_mb=8192 + 1024 * i) for i in range(4)]
    placement = Racing({"h3", "h2"})
    for h in hosts:
        placement.register_host(h)
    scheduler = FilterScheduler(placement, SchedulerSettings(host_refresh_seconds=None), state=placement.state)
    assert scheduler.select_destinations(spec(alternates=2)) == ["h1", "h0"]
    placement.losing = {h.host for h in hosts}
    with pytest.raises(NoValidHost, match="lost its claim"):
        scheduler.select_destinations(spec())


def test_many_lost_claims_still_rank_every_host() -> None:
    hosts = [host(f"h{i:03d}", ram_mb=8192 + 1024 * (i % 7)) for i in range(150)]
    placement = Racing({h.host for h in hosts[:140]})
    for h in hosts:
        placement.register_host(h)
    scheduler = FilterScheduler(placement, SchedulerSettings(host_refresh_seconds=None), state=placement.state)
    chosen = scheduler.select_destinations(spec(alternates=2))
    best_free = {h.host: 8192 + 1024 * (i % 7) for i, h in enumerate(hosts) if i >= 140}
    top = sorted(best_free, key=lambda name: (-best_free[name], name))
    assert chosen[0] == top[0]


def test_host_subset_size_draws_among_the_best_with_the_rng_passed_in() -> None:
    hosts = [host(f"h{i}", ram_mb=65536 + 8192 * i) for i in range(6)]

    def first(seed: int) -> str:
        _, scheduler = cloud(*hosts, seed=seed, host_subset_size=3)
        return scheduler.select_destinations(spec())[0]

    firsts = [first(seed) for seed in range(40)]
    assert firsts == [first(seed) for seed in range(40)]
    assert set(firsts) == {"h5", "h4", "h3"}
    assert {first(seed) for seed in range(10)} != {"h5"}
    _, scheduler = cloud(*hosts, seed=3)
    assert {scheduler.select_destinations(spec())[0] for _ in range(1)} == {"h5"}


def test_anti_affinity_with_n_hosts_places_n_members_and_refuses_the_next() -> None:
    placement, scheduler = cloud(*[host(f"h{i}") for i in range(4)])
    where: Counter[str] = Counter()
    for _ in range(4):
        request = spec(server_group_policy="anti-affinity", server_group_hosts=frozenset(where),
                       server_group_host_counts=dict(where))
        where[scheduler.select_destinations(request)[0]] += 1
    assert sorted(where) == ["h0", "h1", "h2", "h3"]
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec(server_group_policy="anti-affinity", server_group_hosts=frozenset(where),
                                           server_group_host_counts=dict(where)))
    request = spec(server_group_policy="anti-affinity", server_group_hosts=frozenset(where),
                   server_group_host_counts=dict(where), server_group_rules={"max_server_per_host": 2})
    assert scheduler.select_destinations(request)[0] in where
    assert len(placement.consumers()) == 5


def test_affinity_and_soft_policies() -> None:
    hosts = [host(f"h{i}", ram_mb=8192 + 1024 * i) for i in range(4)]
    assert cloud(*hosts)[1].select_destinations(spec(server_group_policy="affinity",
                                                     server_group_hosts=frozenset({"h1"})))[0] == "h1"
    assert cloud(*hosts)[1].select_destinations(spec(server_group_policy="soft-affinity",
                                                     server_group_hosts=frozenset({"h0"})))[0] == "h0"
    equal = [host(f"h{i}") for i in range(4)]
    assert cloud(*equal)[1].select_destinations(spec(server_group_policy="soft-anti-affinity",
                                                     server_group_hosts=frozenset({"h0", "h1", "h2"})))[0] == "h3"
    # soft-affinity is a weight, not a rule: with a zero multiplier the emptiest host wins again
    assert cloud(*hosts, weighers={"RAMWeigher": 1.0})[1].select_destinations(
        spec(server_group_policy="soft-affinity", server_group_hosts=frozenset({"h0"})))[0] == "h3"


def test_availability_zones_and_aggregates_steer_the_choice() -> None:
    _, scheduler = cloud(host("a", ram_mb=65536), host("b"), host("c"),
                         aggregates=[aggregate(1, {"b", "c"}, zone="fast", ssd="true")],
                         enabled_filters=("AvailabilityZoneFilter", "AggregateInstanceExtraSpecsFilter",
                                          "ResourcesFilter"))
    assert scheduler.select_destinations(spec(availability_zone="fast"))[0] in {"b", "c"}
    assert scheduler.select_destinations(spec(flavor(ssd="true")))[0] in {"b", "c"}
    assert scheduler.select_destinations(spec())[0] == "a"


def test_over_another_placement_the_state_comes_from_the_host_store_and_records_its_claims() -> None:
    clock = ManualClock(start=1000.0)
    store, placement = MemoryHostStore(), MemoryPlacement()
    for h in [host("a", vcpus=2, heartbeat=1000.0), host("b", vcpus=1, heartbeat=1000.0)]:
        store.upsert(h)
        placement.register_host(h)
    make = scheduler_factory(SchedulerSettings(host_refresh_seconds=30))
    scheduler = make(placement, HostSources(store, clock=clock))
    assert scheduler.select_destinations(spec(alternates=1)) == ["a", "b"]  # more vCPUs free
    assert scheduler.select_destinations(spec(alternates=1)) == ["b", "a"]  # one each now; b has more RAM
    assert scheduler.state.usage_of("a") == {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}
    assert placement.providers["b"].used["VCPU"] == 1
    assert scheduler.select_destinations(spec()) == ["a"]
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec())


def test_service_flags_and_heartbeats_are_re_read_every_refresh_interval() -> None:
    clock = ManualClock(start=1000.0)
    store = MemoryHostStore()
    placement = ColumnarPlacement()
    for h in [host("a", vcpus=32, ram_mb=65536, disk_gb=1000, heartbeat=1000.0), host("b", heartbeat=1000.0)]:
        store.upsert(h)
        placement.register_host(h)
    scheduler = FilterScheduler(placement, SchedulerSettings(host_refresh_seconds=10), clock=clock, hosts=store,
                                rng=random.Random(0))
    assert scheduler.select_destinations(spec())[0] == "a"
    store.hosts["a"].disabled = True
    clock.advance(5)
    assert scheduler.select_destinations(spec())[0] == "a"  # not re-read yet
    clock.advance(5)
    assert scheduler.select_destinations(spec())[0] == "b"
    store.hosts["a"].disabled = False
    store.heartbeat(["b"], clock.now())
    clock.advance(55)  # a, silent since 1000, is down now; b was heard at 1010
    assert scheduler.select_destinations(spec())[0] == "b"
    clock.advance(10)
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec())


def test_an_invalidated_view_is_re_read_at_the_next_decision_not_at_the_next_tick() -> None:
    clock = ManualClock(start=1000.0)
    store = MemoryHostStore()
    placement = ColumnarPlacement()
    for h in [host("a", vcpus=32, ram_mb=65536, disk_gb=1000, heartbeat=1000.0), host("b", heartbeat=1000.0)]:
        store.upsert(h)
        placement.register_host(h)
    scheduler = FilterScheduler(placement, SchedulerSettings(host_refresh_seconds=10), clock=clock, hosts=store,
                                rng=random.Random(0))
    assert scheduler.select_destinations(spec())[0] == "a"
    store.hosts["a"].disabled = True
    assert scheduler.select_destinations(spec())[0] == "a"  # cached: the tick is 10 s away
    scheduler.invalidate()
    assert scheduler.select_destinations(spec())[0] == "b"


def test_at_most_max_placement_results_fitting_hosts_reach_the_weighers_the_first_ones_by_default() -> None:
    """Nova weighs only what Placement returned; at Placement's defaults that is the first fitting providers,
    so a roomier host further down the list is never seen."""
    hosts = [host("full0", vcpus=1), *(host(f"h{i}", ram_mb=8192 + 1024 * i) for i in range(6))]
    _, scheduler = cloud(*hosts, max_placement_results=3, max_alternates=5)
    assert scheduler.select_destinations(spec(flavor(vcpus=2), alternates=5)) == ["h2", "h1", "h0"]
    _, unlimited = cloud(*hosts, max_placement_results=None)
    assert unlimited.select_destinations(spec(flavor(vcpus=2)))[0] == "h5"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_first_fitting_hosts_are_the_same_whatever_the_hint_of_where_they_end(data: st.DataObject) -> None:
    """Placement's cap reads its mask only up to where the last decision's hosts ended (with a margin) when that
    holds enough: the same hosts, in the same order, as reading the whole mask, for any hint at all."""
    size = data.draw(st.sampled_from([0, 1, 100, 4095, 4096, 10_007]))
    density = data.draw(st.sampled_from([0.0, 0.001, 0.05, 0.5, 1.0]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    mask = np.random.default_rng(seed).random(size) < density
    limit = data.draw(st.integers(1, 12_000))
    hint = data.draw(st.integers(0, size + 10))
    found = _first_set(mask, limit, hint)
    assert found.tolist() == np.flatnonzero(mask)[:limit].tolist()
    assert found.dtype == np.int64
    next_hint = _next_hint(found, limit, size)
    assert _first_set(mask, limit, next_hint).tolist() == found.tolist()
    assert next_hint >= size if found.size < limit else next_hint > found[-1]


def test_the_cap_comes_before_the_other_filters_so_it_can_leave_no_valid_host() -> None:
    """As in Nova: Placement's first candidates all fail a later filter (here, another zone) and the request
    fails although a host further down would have passed."""
    hosts = [*(host(f"west{i}", zone="west") for i in range(3)), host("east0", zone="east")]
    _, scheduler = cloud(*hosts, max_placement_results=3)
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec(availability_zone="east"))
    _, scheduler = cloud(*hosts, max_placement_results=4)
    assert scheduler.select_destinations(spec(availability_zone="east")) == ["east0"]


def test_randomized_candidates_sample_the_whole_cloud_reproducibly() -> None:
    hosts = [host(f"h{i:02d}") for i in range(40)]
    chosen: Counter[str] = Counter()
    for seed in range(2):
        _, scheduler = cloud(*hosts, seed=seed, max_placement_results=5, randomize_allocation_candidates=True)
        picks = [scheduler.select_destinations(spec())[0] for _ in range(30)]
        _, again = cloud(*hosts, seed=seed, max_placement_results=5, randomize_allocation_candidates=True)
        assert [again.select_destinations(spec())[0] for _ in range(30)] == picks
        chosen.update(picks)
    assert max(int(name[1:]) for name in chosen) >= 10  # far beyond the first five
