"""Each weigher's raw numbers, the handler's normalisation and multipliers, and pack versus spread."""

from __future__ import annotations

import numpy as np
import pytest

from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.settings import DEFAULT_WEIGHERS, SchedulerSettings
from twinstack.core.scheduler.weighers import WEIGHERS, weigh

from .hosts import cloud, flavor, host, spec


def raw(name: str, placement: ColumnarPlacement, request: RequestSpec | None = None) -> list[float] | None:
    request = request or spec()
    state = placement.state
    decision = Decision(request, SchedulerSettings(), None, request.resources, state.usage_rows(request.resources),
                        placement.host_of)
    values = WEIGHERS[name]().weigh(state, decision, np.arange(state.n))
    return None if values is None else [float(v) for v in values]


def weights(placement: ColumnarPlacement, multipliers: dict[str, float], request: RequestSpec | None = None,
            ) -> dict[str, float]:
    request = request or spec()
    state = placement.state
    decision = Decision(request, SchedulerSettings(), None, request.resources, state.usage_rows(request.resources),
                        placement.host_of)
    chosen = [(WEIGHERS[name](), m) for name, m in multipliers.items()]
    values = weigh(chosen, state, decision, np.arange(state.n))
    return {name: round(float(v), 6) for name, v in zip(state.names, values, strict=True)}


def three_hosts() -> ColumnarPlacement:
    placement, _ = cloud(host("a", vcpus=8, ram_mb=8192, disk_gb=100), host("b", vcpus=8, ram_mb=16384, disk_gb=50),
                         host("c", vcpus=4, ram_mb=4096, disk_gb=400, cpu_ratio=4.0))
    return placement


def test_resource_weighers_give_free_capacity_after_allocation_ratio() -> None:
    placement = three_hosts()
    placement.claim("vm", "p", "u", "b", {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 10})
    assert raw("RAMWeigher", placement) == [8192, 12288, 4096]
    assert raw("CPUWeigher", placement) == [8, 6, 16]
    assert raw("DiskWeigher", placement) == [100, 40, 400]


def test_counting_weighers() -> None:
    placement = three_hosts()
    state = placement.state
    placement.claim("vm1", "p", "u", "a", {"VCPU": 1})
    placement.claim("vm2", "p", "u", "a", {"VCPU": 1})
    assert raw("NumInstancesWeigher", placement) == [2, 0, 0]
    assert raw("IoOpsWeigher", placement) is None  # nothing busy anywhere: no opinion
    state.task_started("c")
    assert raw("IoOpsWeigher", placement) == [0, 0, 1]
    state.task_finished("c")
    assert raw("IoOpsWeigher", placement) is None
    assert raw("BuildFailureWeigher", placement) is None
    state.build_finished("b", ok=False)
    state.build_finished("b", ok=False)
    assert raw("BuildFailureWeigher", placement) == [0, -2, 0]
    state.build_finished("b", ok=True)
    assert raw("BuildFailureWeigher", placement) is None


def test_soft_group_weighers_count_members_per_host() -> None:
    placement = three_hosts()
    members = {"server_group_hosts": frozenset({"a", "c"}), "server_group_host_counts": {"a": 2}}
    assert raw("ServerGroupSoftAffinityWeigher", placement,
               spec(server_group_policy="soft-affinity", **members)) == [2, 0, 1]
    assert raw("ServerGroupSoftAntiAffinityWeigher", placement,
               spec(server_group_policy="soft-anti-affinity", **members)) == [-2, 0, -1]
    assert raw("ServerGroupSoftAffinityWeigher", placement, spec(server_group_policy="affinity", **members)) is None
    assert raw("ServerGroupSoftAntiAffinityWeigher", placement, spec()) is None


def test_each_weigher_is_normalised_to_0_1_then_multiplied_and_summed() -> None:
    placement = three_hosts()  # RAM 8192, 16384, 4096; CPU 8, 8, 16
    assert weights(placement, {"RAMWeigher": 1.0}) == {"a": pytest.approx(1 / 3), "b": 1.0, "c": 0.0}
    assert weights(placement, {"RAMWeigher": 2.0, "CPUWeigher": 1.0}) == {
        "a": pytest.approx(2 / 3), "b": 2.0, "c": 1.0}
    assert weights(placement, {"RAMWeigher": -1.0}) == {"a": pytest.approx(-1 / 3), "b": -1.0, "c": 0.0}
    # all equal: every host gets 0 from that weigher (Nova's normalize)
    assert weights(placement, {"NumInstancesWeigher": 5.0}) == {"a": 0.0, "b": 0.0, "c": 0.0}


def test_a_failing_host_loses_to_every_healthy_one() -> None:
    placement = three_hosts()
    placement.state.build_finished("b", ok=False)
    got = weights(placement, {"RAMWeigher": 1.0, "BuildFailureWeigher": DEFAULT_WEIGHERS["BuildFailureWeigher"]})
    assert max(got, key=lambda h: got[h]) == "a" and got["b"] < min(got["a"], got["c"])


def test_spread_takes_the_emptiest_host_and_pack_the_fullest() -> None:
    hosts = [host(f"h{i}", vcpus=8, ram_mb=8192, disk_gb=100) for i in range(3)]
    spread_placement, spread = cloud(*hosts)
    pack_placement, pack = cloud(*hosts, weighers={"RAMWeigher": -1.0, "CPUWeigher": -1.0, "DiskWeigher": -1.0})
    small = flavor(vcpus=1, ram_mb=1024, disk_gb=10)
    spread_hosts = [spread.select_destinations(spec(small))[0] for _ in range(6)]
    pack_hosts = [pack.select_destinations(spec(small))[0] for _ in range(6)]
    assert spread_hosts == ["h0", "h1", "h2", "h0", "h1", "h2"]
    assert pack_hosts == ["h0"] * 6
    assert sorted(pack_placement.state.instances.tolist()) == [0, 0, 6]
    assert spread_placement.state.instances.tolist() == [2, 2, 2]


def test_pack_fills_a_host_before_moving_on() -> None:
    _, pack = cloud(*[host(f"h{i}", vcpus=4, ram_mb=4096, disk_gb=40) for i in range(3)],
                    weighers={"RAMWeigher": -1.0})
    chosen = [pack.select_destinations(spec(flavor(vcpus=1, ram_mb=1024, disk_gb=10)))[0] for _ in range(12)]
    assert chosen == ["h0"] * 4 + ["h1"] * 4 + ["h2"] * 4


def test_normalised_sum_keeps_the_bits_of_its_reference_formula() -> None:
    """A simulation's results are bit for bit the same from one version to the next unless the behaviour changes:
    the weights must keep the exact arithmetic (one matrix product, then minus the offset summed left to right), not
    only the value to a rounding, or a near-tie between two hosts flips and every later decision differs."""
    from twinstack.core.scheduler.weighing import normalised_sum

    rng = np.random.default_rng(7)
    for _ in range(200):  # large lows of different magnitudes: any other order of the sums rounds differently
        rows: list[tuple[np.ndarray | None, float]] = [
            (rng.random(300) * 1e5 + 3e9, 1.0), (None, 1.0), (rng.integers(0, 7, 300) + 1e6, -1.0),
            (rng.random(300) * 3e3 + 7.7e7, 2.5), (np.full(300, 4.0), 1.0), (rng.random(300) + 1e12, 1.3),
            (-rng.integers(0, 3, 300) - 5.0, 1e6)]
        kept = [(raw, m) for raw, m in rows if raw is not None]
        matrix = np.array([raw for raw, _ in kept], dtype=np.float64)
        lows, highs = matrix.min(axis=1).tolist(), matrix.max(axis=1).tolist()
        scale = [m / (h - lo) if h > lo else 0.0 for (_, m), lo, h in zip(kept, lows, highs, strict=True)]
        expected = np.asarray(scale) @ matrix
        expected -= sum(s * lo for s, lo in zip(scale, lows, strict=True))
        assert normalised_sum(rows, 300).tobytes() == expected.tobytes()
