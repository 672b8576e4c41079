"""ColumnarPlacement keeps Placement's contract: all-or-nothing claims within every inventory rule, and the
same answers as MemoryPlacement, its simple executable spec, for any sequence of claims and releases."""

from __future__ import annotations

import random

import pytest

from twinstack.core.compute.memory import MemoryPlacement
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement

from .hosts import host


def placement_of(*hosts: object) -> ColumnarPlacement:
    placement = ColumnarPlacement()
    for h in hosts:
        placement.register_host(h)  # type: ignore[arg-type]
    return placement


def test_capacity_is_total_less_reserved_times_ratio_rounded_down() -> None:
    placement = placement_of(host("a", vcpus=3, cpu_ratio=1.5, MEMORY_MB={"total": 2048, "reserved": 512}))
    assert placement.claim("c1", "p", "u", "a", {"VCPU": 4, "MEMORY_MB": 1536})  # 3 * 1.5 = 4.5 -> 4
    assert not placement.claim("c2", "p", "u", "a", {"VCPU": 1})
    assert not placement.claim("c3", "p", "u", "a", {"MEMORY_MB": 1})
    assert placement.usage("a") == {"VCPU": 4, "MEMORY_MB": 1536, "DISK_GB": 0}


def test_a_claim_is_all_or_nothing() -> None:
    placement = placement_of(host("a", vcpus=4, ram_mb=4096))
    assert not placement.claim("c1", "p", "u", "a", {"VCPU": 2, "MEMORY_MB": 8192})
    assert placement.usage("a") == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    assert placement.allocations("c1") == {}
    assert not placement.claim("c1", "p", "u", "a", {"VCPU": 1, "CUSTOM_NOWHERE": 1})
    assert not placement.claim("c1", "p", "u", "nowhere", {"VCPU": 1})
    assert placement.consumers() == {}


def test_units_and_steps_are_enforced() -> None:
    placement = placement_of(host("a", CUSTOM_FPGA={"total": 8, "min_unit": 2, "max_unit": 4, "step_size": 2}))
    assert not placement.claim("c1", "p", "u", "a", {"CUSTOM_FPGA": 1})
    assert not placement.claim("c1", "p", "u", "a", {"CUSTOM_FPGA": 3})
    assert not placement.claim("c1", "p", "u", "a", {"CUSTOM_FPGA": 6})
    assert placement.claim("c1", "p", "u", "a", {"CUSTOM_FPGA": 4})
    assert placement.claim("c2", "p", "u", "a", {"CUSTOM_FPGA": 4})
    assert not placement.claim("c3", "p", "u", "a", {"CUSTOM_FPGA": 2})
    assert placement.fits("a", {"VCPU": 1}) and not placement.fits("a", {"CUSTOM_FPGA": 2})


def test_release_is_idempotent_and_a_consumer_claims_once() -> None:
    placement = placement_of(host("a"))
    assert placement.claim("c1", "p", "u", "a", {"VCPU": 2})
    assert not placement.claim("c1", "p", "u", "a", {"VCPU": 1})
    assert placement.allocations("c1") == {"a": {"VCPU": 2}}
    assert placement.host_of("c1") == "a"
    placement.release("c1")
    placement.release("c1")
    placement.release("never")
    assert placement.usage("a")["VCPU"] == 0
    assert placement.state.instances.tolist() == [0]


def test_re_registering_a_host_keeps_its_allocations() -> None:
    placement = placement_of(host("a", vcpus=4))
    assert placement.claim("c1", "p", "u", "a", {"VCPU": 3})
    placement.register_host(host("a", vcpus=2, traits=["CUSTOM_NEW"]))  # shrunk below its usage
    assert placement.usage("a")["VCPU"] == 3
    assert not placement.claim("c2", "p", "u", "a", {"VCPU": 1})
    placement.release("c1")
    assert placement.claim("c2", "p", "u", "a", {"VCPU": 2})


def test_hosts_and_resource_classes_can_keep_arriving() -> None:
    placement = ColumnarPlacement()
    for i in range(300):  # past every initial buffer size
        extra = {f"CUSTOM_R{i % 7}": {"total": 10}} if i % 5 == 0 else {}
        placement.register_host(host(f"h{i}", traits=[f"CUSTOM_T{i % 40}"], **extra))
        assert placement.claim(f"c{i}", "p", "u", f"h{i}", {"VCPU": 1 + i % 4})
    assert placement.state.n == 300
    assert all(placement.usage(f"h{i}")["VCPU"] == 1 + i % 4 for i in range(300))
    assert placement.claim("x", "p", "u", "h5", {"CUSTOM_R5": 10})
    assert not placement.claim("y", "p", "u", "h6", {"CUSTOM_R5": 1})


@pytest.mark.parametrize("seed", range(8))
def test_same_random_claims_and_releases_as_memory_placement(seed: int) -> None:
    rng = random.Random(seed)
    hosts = [host(f"h{i}", vcpus=rng.choice([2, 4, 7]), ram_mb=rng.choice([4096, 6000, 8192]),
                  disk_gb=rng.choice([20, 50]), cpu_ratio=rng.choice([1.0, 1.5, 4.0]),
                  MEMORY_MB={"total": 8192, "reserved": rng.choice([0, 512]), "allocation_ratio": 1.3},
                  CUSTOM_GPU={"total": rng.choice([0, 1, 2])})
             for i in range(5)]
    spec_, columnar = MemoryPlacement(), ColumnarPlacement()
    for h in hosts:
        spec_.register_host(h)
        columnar.register_host(h)
    held: list[str] = []
    for step in range(600):
        if held and rng.random() < 0.4:
            victim = held.pop(rng.randrange(len(held)))
            spec_.release(victim)
            columnar.release(victim)
        else:
            consumer = f"c{step}" if rng.random() < 0.95 or not held else rng.choice(held)
            target = rng.choice([*[h.host for h in hosts], "ghost"])
            resources = {rc: rng.randint(1, high) for rc, high in
                         [("VCPU", 4), ("MEMORY_MB", 3000), ("DISK_GB", 30), ("CUSTOM_GPU", 1)]
                         if rng.random() < 0.8}
            expected = spec_.claim(consumer, "p", "u", target, resources)
            assert columnar.claim(consumer, "p", "u", target, resources) == expected, (step, target, resources)
            if expected:
                held.append(consumer)
        for consumer in held:
            assert columnar.allocations(consumer) == spec_.allocations(consumer)
        for h in hosts:
            used = columnar.usage(h.host)
            assert {rc: v for rc, v in spec_.providers[h.host].used.items() if v} == {
                rc: v for rc, v in used.items() if v}


def test_a_host_not_registered_yet_has_no_usage_rather_than_an_error() -> None:
    """The API may list a host from the host store a moment before its provider is registered here."""
    assert ColumnarPlacement().usage("not-yet") == {}
