"""HostState: columns built from the hosts, aggregates and usage, and kept current without rebuilding."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.core.scheduler.host_state import HostState

from .hosts import aggregate, host


def test_hosts_become_columns_with_codes_and_traits() -> None:
    state = HostState()
    state.upsert_host(host("a", zone="az1", cell="c1", rack="r1", traits=["HW_ARCH_AARCH64", "CUSTOM_X"]))
    state.upsert_host(host("b", zone="az2", cell="c2", rack=None, hypervisor="KVM"))
    assert state.names == ["a", "b"] and state.index == {"a": 0, "b": 1}
    assert [state.zones.names[z] for z in state.zone] == ["az1", "az2"]
    assert [state.cells.names[c] for c in state.cell] == ["c1", "c2"]
    assert state.rack.tolist() == [0, -1]
    assert state.architectures.names == ["aarch64"] and state.architecture.tolist() == [0, -1]
    assert state.trait_rows[state.traits.code("CUSTOM_X")].tolist() == [True, False]
    view = state.view(0)
    assert view.traits == {"HW_ARCH_AARCH64", "CUSTOM_X"} and view.hypervisor_type == "qemu"
    assert view.capacity == {"VCPU": 8, "MEMORY_MB": 16384, "DISK_GB": 100} and view.rack == "r1"


def test_an_aggregate_zone_overrides_the_reported_one_until_the_host_leaves_it() -> None:
    state = HostState()
    for name in "abc":
        state.upsert_host(host(name, zone="nova"))
    state.set_aggregates([aggregate(2, {"b"}, zone="az2"), aggregate(1, {"a", "b"}, zone="az1"),
                          aggregate(3, {"c"}, ssd="true")])
    assert [state.zones.names[z] for z in state.zone] == ["az1", "az1", "nova"]  # lowest id wins
    assert state.view(2).aggregates[0].metadata == {"ssd": "true"}
    state.upsert_host(host("d", zone="az9"))
    state.set_aggregates([aggregate(1, {"a", "d"}, zone="az1")])
    assert [state.zones.names[z] for z in state.zone] == ["az1", "nova", "nova", "az1"]
    state.upsert_host(host("e"))
    assert state.member.shape == (1, 5) and not state.member[0, 4]


def test_memoised_masks_are_dropped_when_the_structure_changes() -> None:
    state = HostState()
    state.upsert_host(host("a"))
    calls = []
    first = state.memo("k", lambda: calls.append(1) or state.enabled.copy())
    assert state.memo("k", lambda: calls.append(1) or state.enabled.copy()) is first and calls == [1]
    assert not first.flags.writeable
    state.upsert_host(host("b"))
    assert state.memo("k", lambda: calls.append(1) or state.enabled.copy()).shape == (2,) and calls == [1, 1]


def test_service_flags_heartbeats_and_sync() -> None:
    state = HostState()
    hosts = [host("a", heartbeat=5.0), host("b", heartbeat=5.0)]
    for h in hosts:
        state.upsert_host(h)
    state.set_service("a", disabled=True)
    state.set_service("b", forced_down=True)
    assert state.eligible.tolist() == [False, False]
    state.heartbeat(["b", "ghost"], 42.0)
    assert state.last_heartbeat.tolist() == [5.0, 42.0]
    hosts[1].forced_down = False
    state.sync_hosts([*hosts, host("c", heartbeat=7.0)])
    assert state.names == ["a", "b", "c"]
    assert state.eligible.tolist() == [True, True, True] and state.last_heartbeat.tolist() == [5.0, 5.0, 7.0]


def test_usage_changes_touch_one_host() -> None:
    state = HostState()
    state.upsert_host(host("a"))
    state.upsert_host(host("b"))
    usage = state.usage_rows({"VCPU": 2, "MEMORY_MB": 0})
    assert usage == ((state.resource_classes.code("VCPU"), 2),)
    assert state.usage_rows({"VCPU": -1}) is None and state.usage_rows({"CUSTOM_NO": 1}) is None
    state.add_usage(1, usage)
    assert state.usage_of("b") == {"VCPU": 2, "MEMORY_MB": 0, "DISK_GB": 0} and state.instances.tolist() == [0, 1]
    state.add_usage(1, usage, sign=-1)
    assert state.used.sum() == 0 and state.instances.tolist() == [0, 0]


_USAGES = st.lists(st.tuples(st.sampled_from(["VCPU", "MEMORY_MB", "DISK_GB"]), st.integers(0, 20_000)),
                   min_size=1, max_size=3).map(dict)
_STEPS = st.lists(st.one_of(
    st.tuples(st.just("claim"), st.integers(0, 5), _USAGES),
    st.tuples(st.just("release"), st.integers(0, 5), _USAGES),
    st.tuples(st.just("ask"), st.just(0), _USAGES),
    st.tuples(st.just("inventory"), st.integers(0, 5), st.integers(0, 40_000)),
    st.tuples(st.just("register"), st.just(0), st.integers(0, 40_000)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(_STEPS)
def test_cached_room_masks_always_equal_a_fresh_comparison(steps: list[tuple[str, int, Any]]) -> None:
    """``room_for`` answers from masks kept across claims, releases, inventory changes and new hosts: whatever
    happened, each equals comparing every host's free amounts now."""
    state = HostState()
    for k in range(3):
        state.upsert_host(host(f"h{k}"))
    for kind, at, arg in steps:
        i = at % state.n
        if kind in ("claim", "release"):
            usage = state.usage_rows(arg)
            if usage is not None:
                state.add_usage(i, usage, sign=1 if kind == "claim" else -1)
        elif kind == "ask":
            usage = state.usage_rows(arg)
            if usage is not None:
                state.room_for(usage)
        elif kind == "inventory":
            state.upsert_host(host(state.names[i], ram_mb=arg))
        else:
            state.upsert_host(host(f"h{state.n}", ram_mb=arg))
        for usage, mask in list(state._room.items()):
            fresh = np.ones(state.n, dtype=np.bool_)
            for r, amount in usage:
                fresh &= state.free[r] >= amount
            assert mask.tolist() == fresh.tolist(), (kind, usage)
            assert state.room_for(usage) is mask
