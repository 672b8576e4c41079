"""The volume scheduler: Cinder's filters (capacity, capabilities, zone, a clone's back end) and weighers, as a pure
decision over pool snapshots."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from twinstack.core.scheduler.pipeline import UnknownPlugins
from twinstack.core.volume.scheduler.filters import CapacityFilter
from twinstack.core.volume.scheduler.pools import PoolSnapshot
from twinstack.core.volume.scheduler.request import VolumeRequest
from twinstack.core.volume.scheduler.scheduler import NoValidBackend, VolumeScheduler
from twinstack.core.volume.scheduler.settings import VolumeSchedulerSettings


def pool(name: str, backend_name: str = "ssd", total: int = 100, allocated: int = 0, free: int | None = None,
         thin: bool = False, ratio: float = 1.0, zone: str = "nova", reserved: int = 0, volumes: int = 0,
         **capabilities: str) -> PoolSnapshot:
    return PoolSnapshot(name=name, volume_backend_name=backend_name, availability_zone=zone, total_gb=total,
                        free_gb=total - allocated if free is None else free, allocated_gb=allocated, thin=thin,
                        max_over_subscription_ratio=ratio, reserved_percentage=reserved, capabilities=capabilities,
                        volumes=volumes)


SSD_A = pool("h@ssd#a", allocated=60)
SSD_B = pool("h@ssd#b", allocated=10)
HDD = pool("h@hdd#hdd", "hdd", total=500, thin=True, ratio=2.0, zone="az2", free=500)


def test_spreads_onto_the_pool_with_most_virtual_free_space() -> None:
    assert VolumeScheduler().select([SSD_A, SSD_B], VolumeRequest(10)).name == "h@ssd#b"


def test_a_negative_capacity_multiplier_stacks_onto_the_fullest_pool() -> None:
    stacking = VolumeScheduler(VolumeSchedulerSettings(capacity_weight_multiplier=-1.0))
    assert stacking.select([SSD_A, SSD_B], VolumeRequest(10)).name == "h@ssd#a"


def test_thick_pools_refuse_what_they_cannot_hold_and_thin_pools_oversubscribe() -> None:
    with pytest.raises(NoValidBackend, match=r"No valid backend was found\. No weighed backends available"):
        VolumeScheduler().select([SSD_A, SSD_B], VolumeRequest(95))
    assert VolumeScheduler().select([SSD_A, SSD_B, HDD], VolumeRequest(900)).name == "h@hdd#hdd"
    with pytest.raises(NoValidBackend):
        VolumeScheduler().select([HDD], VolumeRequest(1001))


def test_reserved_percentage_is_kept_back() -> None:
    reserved = pool("h@ssd#r", total=100, reserved=20)
    assert VolumeScheduler().select([reserved], VolumeRequest(80)).name == "h@ssd#r"
    with pytest.raises(NoValidBackend):
        VolumeScheduler().select([reserved], VolumeRequest(81))


def test_type_extra_specs_match_capabilities() -> None:
    pools = [SSD_A, SSD_B, HDD, pool("h@gold#g", "gold", tier="gold", replicated="True")]
    assert VolumeScheduler().select(pools, VolumeRequest(1, {"volume_backend_name": "hdd"})).name == "h@hdd#hdd"
    gold = VolumeRequest(1, {"capabilities:tier": "<in> gold", "replicated": "<is> True", "qos:iops": "100"})
    assert VolumeScheduler().select(pools, gold).name == "h@gold#g"
    with pytest.raises(NoValidBackend):
        VolumeScheduler().select(pools, VolumeRequest(1, {"volume_backend_name": "nvme"}))


def test_availability_zone_and_a_clones_back_end() -> None:
    assert VolumeScheduler().select([SSD_A, SSD_B, HDD], VolumeRequest(1, availability_zone="az2")).name == (
        "h@hdd#hdd")
    with pytest.raises(NoValidBackend):
        VolumeScheduler().select([SSD_A, SSD_B, HDD], VolumeRequest(1, availability_zone="elsewhere"))
    clone = VolumeRequest(1, only_backend="h@ssd")
    assert VolumeScheduler().select([HDD, SSD_A], clone).name == "h@ssd#a"


def test_the_allocated_capacity_weigher_prefers_the_pool_promised_least_when_enabled() -> None:
    roomy_but_promised = pool("h@ssd#big", total=1000, allocated=300)
    small_and_empty = pool("h@ssd#small", total=200, allocated=0)
    assert VolumeScheduler().select([roomy_but_promised, small_and_empty], VolumeRequest(1)).name == "h@ssd#big"
    by_allocation = VolumeSchedulerSettings(scheduler_default_weighers=("AllocatedCapacityWeigher",))
    assert VolumeScheduler(by_allocation).select([roomy_but_promised, small_and_empty],
                                                 VolumeRequest(1)).name == "h@ssd#small"


def test_the_volume_number_weigher_spreads_by_count_not_size() -> None:
    one_big = pool("h@ssd#one", total=1000, allocated=500, volumes=1)
    many_small = pool("h@ssd#many", total=1000, allocated=30, volumes=3)
    by_count = VolumeSchedulerSettings(scheduler_default_weighers=("VolumeNumberWeigher",))
    assert VolumeScheduler(by_count).select([one_big, many_small], VolumeRequest(1)).name == "h@ssd#one"
    assert VolumeScheduler().select([one_big, many_small], VolumeRequest(1)).name == "h@ssd#many"


def test_only_the_configured_filters_run_but_a_clone_always_stays_in_its_back_end() -> None:
    no_capabilities = VolumeScheduler(VolumeSchedulerSettings(
        scheduler_default_filters=("AvailabilityZoneFilter", "CapacityFilter")))
    nvme = VolumeRequest(1, {"volume_backend_name": "nvme"})
    assert no_capabilities.select([SSD_A, SSD_B], nvme).name == "h@ssd#b"
    nothing = VolumeScheduler(VolumeSchedulerSettings(scheduler_default_filters=()))
    assert nothing.select([HDD, SSD_A], VolumeRequest(1, only_backend="h@ssd")).name == "h@ssd#a"


def test_unknown_filter_or_weigher_names_are_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValidationError, match=r"unknown volume scheduler filters: RamFilter \(known: "):
        VolumeSchedulerSettings(scheduler_default_filters=("CapacityFilter", "RamFilter"))
    with pytest.raises(ValidationError, match="unknown volume scheduler weighers: GoodnessWeigher"):
        VolumeSchedulerSettings(scheduler_default_weighers=("GoodnessWeigher",))


def test_a_deployment_registry_is_checked_as_compute_s_is() -> None:
    with pytest.raises(UnknownPlugins, match="CapabilitiesFilter"):
        VolumeScheduler(filters={"CapacityFilter": CapacityFilter})
