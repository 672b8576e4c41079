"""The volume scheduler as an operator configures it, over HTTP: Cinder's filter and weigher options change where
volumes land, and availability zones confine them. Small fast simulated back ends (tests/api/volume_helpers)."""

from __future__ import annotations

from collections.abc import Iterator

from tests.api.volume_helpers import FAST, SMALL_BACKENDS, Cinder, Planes, running_planes
from tests.conftest import Api
from twinstack.config import VolumeSettings


def _planes(api: Api, settings: VolumeSettings) -> Iterator[Cinder]:
    planes: Iterator[Planes] = running_planes(api, settings)
    next(planes)
    try:
        yield Cinder(api)
    finally:
        planes.close()


def second_ssd_volume_pool(api: Api, settings: VolumeSettings) -> tuple[str, str]:
    """Where two 10 GiB ssd volumes land, one after the other, under ``settings``."""
    for cinder in _planes(api, settings):
        first = cinder.wait_for(cinder.create(size=10, volume_type="ssd")["id"], "available")
        second = cinder.wait_for(cinder.create(size=10, volume_type="ssd")["id"], "available")
        return first["os-vol-host-attr:host"], second["os-vol-host-attr:host"]
    raise AssertionError("no plane")


def test_by_default_volumes_spread_over_the_pools_with_most_free_space(api: Api) -> None:
    first, second = second_ssd_volume_pool(api, FAST)
    assert first.startswith("twinstack@ssd#pool") and second.startswith("twinstack@ssd#pool")
    assert first != second


def test_a_negative_capacity_weight_multiplier_packs_volumes_onto_the_fullest_pool(api: Api) -> None:
    packing = VolumeSettings(**{**FAST.model_dump(), "capacity_weight_multiplier": -1.0})
    first, second = second_ssd_volume_pool(api, packing)
    assert first.startswith("twinstack@ssd#pool") and first == second


def test_the_allocated_capacity_weigher_when_configured_alone(api: Api) -> None:
    """With only AllocatedCapacityWeigher at a positive multiplier (prefer the pool promised most), the second
    volume follows the first even though the default CapacityWeigher would have spread it."""
    settings = VolumeSettings(**{**FAST.model_dump(), "scheduler_default_weighers": ["AllocatedCapacityWeigher"],
                                 "allocated_capacity_weight_multiplier": 1.0})
    first, second = second_ssd_volume_pool(api, settings)
    assert first == second


ZONED = [b.model_copy(update={"availability_zone": "az-fast" if b.name == "ssd" else "az-bulk"})
         for b in SMALL_BACKENDS]


def test_availability_zones_confine_volumes_and_an_unknown_zone_is_refused(api: Api) -> None:
    """One plane for every zone check (a plane per test would take most of this module's time)."""
    zoned = VolumeSettings(**{**FAST.model_dump(), "backends": [b.model_dump() for b in ZONED]})
    for cinder in _planes(api, zoned):
        listed = cinder.get("/os-availability-zone").json()["availabilityZoneInfo"]
        assert sorted(z["zoneName"] for z in listed) == ["az-bulk", "az-fast"]
        assert all(z["zoneState"] == {"available": True} for z in listed)

        bulk = cinder.wait_for(cinder.create(size=1, availability_zone="az-bulk")["id"], "available")
        assert bulk["availability_zone"] == "az-bulk" and bulk["os-vol-host-attr:host"] == "twinstack@hdd#hdd"
        fast = cinder.wait_for(cinder.create(size=1, availability_zone="az-fast")["id"], "available")
        assert fast["availability_zone"] == "az-fast" and fast["os-vol-host-attr:host"].startswith("twinstack@ssd#")

        apart = cinder.wait_for(cinder.create(size=1, availability_zone="az-bulk", volume_type="ssd")["id"],
                                "error", "available")
        assert apart["status"] == "error" and apart["os-vol-host-attr:host"] is None  # no ssd pool in az-bulk

        refused = cinder.post("/volumes", json={"volume": {"size": 1, "availability_zone": "nowhere"}})
        assert refused.status_code == 400
        assert refused.json()["badRequest"]["message"] == "Availability zone 'nowhere' is invalid."
