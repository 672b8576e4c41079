"""Each filter on a small hand-made host set: which hosts pass, in Nova's terms."""

from __future__ import annotations

import random

import numpy as np
import pytest

from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.filters import FILTERS, per_host
from twinstack.core.scheduler.filters.extra_specs_ops import match
from twinstack.core.scheduler.host_state import HostView
from twinstack.core.scheduler.settings import SchedulerSettings

from .hosts import aggregate, cloud, flavor, host, image, spec


def passing(name: str, placement: ColumnarPlacement, request: RequestSpec, now: float | None = None) -> set[str]:
    state = placement.state
    decision = Decision(request, SchedulerSettings(), now, request.resources, state.usage_rows(request.resources),
                        placement.host_of)
    mask = FILTERS[name]().mask(state, decision)
    return set(state.names) if mask is None else {state.names[i] for i in np.flatnonzero(mask)}


def test_the_registry_names_every_filter_explicitly() -> None:
    assert sorted(FILTERS) == sorted([
        "ComputeFilter", "AvailabilityZoneFilter", "AggregateInstanceExtraSpecsFilter",
        "AggregateMultiTenancyIsolation", "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
        "ServerGroupAffinityFilter", "SameHostFilter", "DifferentHostFilter", "TraitsFilter", "ResourcesFilter"])


def test_compute_filter_drops_disabled_forced_down_and_silent_hosts() -> None:
    placement, _ = cloud(host("ok", heartbeat=100), host("off", disabled=True, heartbeat=100),
                         host("forced", forced_down=True, heartbeat=100), host("silent", heartbeat=30))
    assert passing("ComputeFilter", placement, spec(), now=90) == {"ok", "silent"}  # silent for 60 s: still up
    assert passing("ComputeFilter", placement, spec(), now=160) == {"ok"}
    assert passing("ComputeFilter", placement, spec(), now=None) == {"ok", "silent"}


def test_compute_filter_judging_some_candidates_answers_as_its_mask_read_at_them() -> None:
    """The pipeline asks ComputeFilter about Placement's capped candidates only (mask_at): the survivors must be
    the very ones its whole-fleet mask lets through, heartbeats, flags and the clockless case alike."""
    placement, _ = cloud(host("ok", heartbeat=100), host("off", disabled=True, heartbeat=100),
                         host("forced", forced_down=True, heartbeat=100), host("silent", heartbeat=30),
                         host("late", heartbeat=95), host("old", heartbeat=10))
    state, compute = placement.state, FILTERS["ComputeFilter"]()
    for now in (None, 0.0, 90.0, 155.0, 160.0, 1000.0):
        decision = Decision(spec(), SchedulerSettings(), now, {}, (), placement.host_of)
        whole = compute.mask(state, decision)
        assert whole is not None
        for candidates in (np.arange(state.n), np.array([1, 3, 4]), np.array([5]), np.array([], dtype=np.int64)):
            judged = compute.mask_at(state, decision, candidates)  # type: ignore[attr-defined]
            assert judged.tolist() == whole[candidates].tolist(), (now, candidates)


def test_availability_zone_filter_uses_the_aggregate_zone_over_the_reported_one() -> None:
    placement, _ = cloud(host("a", zone="nova"), host("b", zone="nova"), host("c", zone="az2"),
                         aggregates=[aggregate(1, {"b"}, zone="az1")])
    assert passing("AvailabilityZoneFilter", placement, spec(availability_zone="az1")) == {"b"}
    assert passing("AvailabilityZoneFilter", placement, spec(availability_zone="nova")) == {"a"}
    assert passing("AvailabilityZoneFilter", placement, spec(availability_zone="az2")) == {"c"}
    assert passing("AvailabilityZoneFilter", placement, spec(availability_zone="nowhere")) == set()
    assert passing("AvailabilityZoneFilter", placement, spec()) == {"a", "b", "c"}


def test_aggregate_instance_extra_specs_match_aggregate_metadata() -> None:
    placement, _ = cloud(host("ssd1"), host("ssd2"), host("hdd"), host("loose"),
                         aggregates=[aggregate(1, {"ssd1", "ssd2"}, disk="ssd", gen="3"),
                                     aggregate(2, {"hdd"}, disk="hdd, spinning", gen="1"),
                                     aggregate(3, {"ssd2"}, gpu="true")])
    scoped = "aggregate_instance_extra_specs:"
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{scoped + "disk": "ssd"}))) == {"ssd1", "ssd2"}
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{scoped + "disk": "spinning"}))) == {"hdd"}  # comma-separated values
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{scoped + "disk": "ssd", scoped + "gpu": "true"}))) == {"ssd2"}
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{scoped + "gen": ">= 2"}))) == {"ssd1", "ssd2"}
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(gpu="true"))) == {"ssd2"}  # unscoped keys count too, as in Nova
    # other scopes are not this filter's business
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{"hw:cpu_policy": "dedicated", "trait:HW_CPU_X86_AVX2": "required"}))) == {
        "ssd1", "ssd2", "hdd", "loose"}
    assert passing("AggregateInstanceExtraSpecsFilter", placement,
                   spec(flavor(**{scoped + "nope": "x"}))) == set()


@pytest.mark.parametrize(("value", "requirement", "expected"), [
    ("ssd", "ssd", True), ("ssd", "hdd", False), ("4", "= 2", True), ("1", "= 2", False),
    ("2", "== 2", True), ("3", "!= 2", True), ("3", ">= 3", True), ("3", "<= 2", False),
    ("abc", "s== abc", True), ("abc", "s!= abc", False), ("abc", "s< abd", True), ("abc", "s> abd", False),
    ("abc", "s<= abc", True), ("abc", "s>= abd", False),
    ("avx avx2", "<in> avx2", True), ("avx", "<in> sse", False),
    ("avx avx2 sse", "<all-in> avx sse", True), ("avx", "<all-in> avx sse", False),
    ("b", "<or> a <or> b <or> c", True), ("d", "<or> a <or> b", False),
    ("x", ">= 2", False), (None, "ssd", False),
])
def test_extra_spec_operators_are_novas(value: str | None, requirement: str, expected: bool) -> None:
    assert match(value, requirement) is expected


def test_multitenancy_isolation_reserves_tagged_aggregates() -> None:
    placement, _ = cloud(host("mine"), host("shared"), host("theirs"), host("free"),
                         aggregates=[aggregate(1, {"mine", "shared"}, filter_tenant_id="p1"),
                                     aggregate(2, {"shared", "theirs"}, filter_tenant_id_2="p2, p3")])
    assert passing("AggregateMultiTenancyIsolation", placement, spec(project_id="p1")) == {"mine", "shared", "free"}
    assert passing("AggregateMultiTenancyIsolation", placement, spec(project_id="p3")) == {"shared", "theirs",
                                                                                            "free"}
    assert passing("AggregateMultiTenancyIsolation", placement, spec(project_id="p9")) == {"free"}


def test_multitenancy_isolation_is_idle_without_tagged_aggregates() -> None:
    placement, _ = cloud(host("a"), aggregates=[aggregate(1, {"a"}, ssd="true")])
    assert passing("AggregateMultiTenancyIsolation", placement, spec(project_id="anyone")) == {"a"}


def test_image_properties_filter_checks_architecture_hypervisor_and_mode() -> None:
    placement, _ = cloud(host("x86", traits=["HW_ARCH_X86_64"]), host("arm", traits=["HW_ARCH_AARCH64"]),
                         host("unknown"), host("kvm", hypervisor="KVM", traits=["HW_ARCH_X86_64"]),
                         host("xen", hypervisor="Xen", traits=["HW_ARCH_X86_64"]))
    def hosts_for(**props: str) -> set[str]:
        return passing("ImagePropertiesFilter", placement, spec(image=image(**props)))
    assert hosts_for(hw_architecture="aarch64") == {"arm"}
    assert hosts_for(architecture="amd64") == {"x86", "unknown", "kvm", "xen"}  # the default architecture
    assert hosts_for(img_hv_type="qemu") == {"x86", "arm", "unknown", "kvm"}  # KVM hosts run qemu guests
    assert hosts_for(img_hv_type="kvm") == {"kvm"}
    assert hosts_for(hypervisor_type="xapi") == {"xen"}
    assert hosts_for(hw_vm_mode="hvm", hw_architecture="x86_64", img_hv_type="xen") == {"xen"}
    assert hosts_for(hw_vm_mode="exe") == set()
    assert hosts_for(hw_disk_bus="virtio") == {"x86", "arm", "unknown", "kvm", "xen"}
    assert passing("ImagePropertiesFilter", placement, spec()) == {"x86", "arm", "unknown", "kvm", "xen"}


def test_anti_affinity_keeps_members_apart_up_to_max_server_per_host() -> None:
    placement, _ = cloud(host("a"), host("b"), host("c"))
    group = {"server_group_policy": "anti-affinity", "server_group_hosts": frozenset({"a", "b"}),
             "server_group_host_counts": {"a": 2, "b": 1}}
    assert passing("ServerGroupAntiAffinityFilter", placement, spec(**group)) == {"c"}
    assert passing("ServerGroupAntiAffinityFilter", placement,
                   spec(**group, server_group_rules={"max_server_per_host": 2})) == {"b", "c"}
    assert passing("ServerGroupAntiAffinityFilter", placement,
                   spec(server_group_policy="soft-anti-affinity", server_group_hosts=frozenset({"a"}))) == {
        "a", "b", "c"}


def test_affinity_keeps_members_together_once_one_is_placed() -> None:
    placement, _ = cloud(host("a"), host("b"), host("c"))
    assert passing("ServerGroupAffinityFilter", placement,
                   spec(server_group_policy="affinity", server_group_hosts=frozenset({"b"}))) == {"b"}
    assert passing("ServerGroupAffinityFilter", placement, spec(server_group_policy="affinity")) == {"a", "b", "c"}
    assert passing("ServerGroupAffinityFilter", placement,
                   spec(server_group_policy="anti-affinity", server_group_hosts=frozenset({"b"}))) == {
        "a", "b", "c"}


def test_same_and_different_host_hints_follow_where_instances_are() -> None:
    placement, _ = cloud(host("a"), host("b"), host("c"))
    placement.claim("vm1", "p", "u", "a", {"VCPU": 1})
    placement.claim("vm2", "p", "u", "b", {"VCPU": 1})
    assert passing("SameHostFilter", placement, spec(hints={"same_host": "vm1"})) == {"a"}
    assert passing("SameHostFilter", placement, spec(hints={"same_host": ["vm1", "vm2"]})) == {"a", "b"}
    assert passing("SameHostFilter", placement, spec(hints={"same_host": ["ghost"]})) == set()
    assert passing("DifferentHostFilter", placement, spec(hints={"different_host": ["vm1", "vm2"]})) == {"c"}
    assert passing("DifferentHostFilter", placement, spec(hints={"different_host": "ghost"})) == {"a", "b", "c"}
    assert passing("SameHostFilter", placement, spec()) == {"a", "b", "c"}


def test_required_and_forbidden_traits_from_flavor_and_image() -> None:
    placement, _ = cloud(host("avx", traits=["HW_CPU_X86_AVX2"]),
                         host("avx-ssd", traits=["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"]), host("plain"))
    assert passing("TraitsFilter", placement,
                   spec(flavor(**{"trait:HW_CPU_X86_AVX2": "required"}))) == {"avx", "avx-ssd"}
    assert passing("TraitsFilter", placement, spec(flavor(**{"trait:HW_CPU_X86_AVX2": "required",
                                                             "trait:STORAGE_DISK_SSD": "forbidden"}))) == {"avx"}
    assert passing("TraitsFilter", placement,
                   spec(image=image(**{"trait:STORAGE_DISK_SSD": "required"}))) == {"avx-ssd"}
    assert passing("TraitsFilter", placement, spec(flavor(**{"trait:CUSTOM_NOBODY": "required"}))) == set()
    assert passing("TraitsFilter", placement, spec(flavor(**{"trait:CUSTOM_NOBODY": "forbidden"}))) == {
        "avx", "avx-ssd", "plain"}


def test_resources_filter_is_the_placement_fit() -> None:
    placement, _ = cloud(host("big", vcpus=16, ram_mb=32768), host("small", vcpus=2, ram_mb=4096),
                         host("ratio", vcpus=2, ram_mb=32768, cpu_ratio=4.0),
                         host("gpu", vcpus=2, CUSTOM_GPU={"total": 4}))
    assert passing("ResourcesFilter", placement, spec(flavor(vcpus=4, ram_mb=8192))) == {"big", "ratio"}
    assert passing("ResourcesFilter", placement, spec(flavor(vcpus=9, ram_mb=1024))) == {"big"}
    placement.claim("x", "p", "u", "big", {"VCPU": 10})
    assert passing("ResourcesFilter", placement, spec(flavor(vcpus=8, ram_mb=1024))) == {"ratio"}


def test_resources_filter_honours_min_max_unit_and_step_size() -> None:
    placement, _ = cloud(host("a", CUSTOM_GPU={"total": 8, "step_size": 2, "max_unit": 4}),
                         host("b", CUSTOM_GPU={"total": 8, "min_unit": 3}), host("none"))
    state = placement.state

    def fits(amount: int) -> set[str]:
        request = spec()
        resources = {"CUSTOM_GPU": amount}
        decision = Decision(request, SchedulerSettings(), None, resources, state.usage_rows(resources),
                            placement.host_of)
        mask = FILTERS["ResourcesFilter"]().mask(state, decision)
        assert mask is not None
        return {state.names[i] for i in np.flatnonzero(mask)}

    assert fits(2) == {"a"}
    assert fits(3) == {"b"}
    assert fits(4) == {"a", "b"}
    assert fits(6) == {"b"}
    assert fits(9) == set()
    assert placement.claim("c1", "p", "u", "a", {"CUSTOM_GPU": 4})
    assert not placement.claim("c2", "p", "u", "a", {"CUSTOM_GPU": 3})
    assert fits(4) == {"a", "b"}
    assert placement.claim("c3", "p", "u", "a", {"CUSTOM_GPU": 4})
    assert fits(2) == set()


class RackWhitelistFilter:
    """A plug-in written per host, Nova style."""

    calls = 0

    def host_passes(self, host: HostView, spec: RequestSpec) -> bool:
        RackWhitelistFilter.calls += 1
        return host.rack in spec.hints.get("racks", [])


def test_a_per_host_plugin_filter_works_through_the_adapter_on_the_survivors() -> None:
    hosts = [host(f"h{i}", rack=f"r{i % 3}", zone="az1" if i < 6 else "az2") for i in range(9)]
    placement = ColumnarPlacement()
    for h in hosts:
        placement.register_host(h)
    settings = SchedulerSettings(enabled_filters=("RackWhitelistFilter", "AvailabilityZoneFilter",
                                                  "ResourcesFilter"), host_refresh_seconds=None)
    scheduler = FilterScheduler(placement, settings, rng=random.Random(0),
                                filters={**FILTERS, "RackWhitelistFilter": per_host(RackWhitelistFilter)})
    RackWhitelistFilter.calls = 0
    chosen = scheduler.select_destinations(spec(availability_zone="az1", hints={"racks": ["r1"]}, alternates=5))
    assert sorted(chosen) == ["h1", "h4"]
    assert RackWhitelistFilter.calls == 6  # only the az1 hosts that survived the column-wise filters


def test_unknown_filter_or_weigher_names_are_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchFilter"):
        cloud(host("a"), enabled_filters=("ComputeFilter", "NoSuchFilter"))
    with pytest.raises(ValueError, match="NoSuchWeigher"):
        cloud(host("a"), weighers={"NoSuchWeigher": 1.0})
