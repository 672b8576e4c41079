"""The volume scheduler through the unmodified ``openstack`` CLI against ``twinstack serve``, configured as an
operator would (``TWINSTACK_VOLUME__*``): back ends in two availability zones, volumes packed onto the fullest
pool (``capacity_weight_multiplier = -1``), and a retype that migrates a volume between back ends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.api.test_cli_volumes import VOLUME_ENV, wait_status
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

BACKENDS = [
    {"name": "ssd", "volume_backend_name": "ssd", "pools": 2, "capacity_gb": 100},
    {"name": "hdd", "volume_backend_name": "hdd", "capacity_gb": 500, "thin_provisioning": True,
     "max_over_subscription_ratio": 2.0},
    {"name": "cold", "volume_backend_name": "cold", "capacity_gb": 500, "availability_zone": "az-cold"},
]
ENV = {**VOLUME_ENV, "TWINSTACK_VOLUME__BACKENDS": json.dumps(BACKENDS),
       "TWINSTACK_VOLUME__CAPACITY_WEIGHT_MULTIPLIER": "-1.0"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-volume-scheduling", DATACENTER, env=ENV)


def host_of(cli: OpenStackCLI, volume: str) -> str:
    host: str = cli.json("volume", "show", volume)["os-vol-host-attr:host"]
    return host


def test_the_volume_zones_are_listed(openstack: OpenStackCLI) -> None:
    zones = openstack.json("availability", "zone", "list", "--volume")
    assert sorted(z["Zone Name"] for z in zones) == ["az-cold", "nova"]
    assert all(z["Zone Status"] == "available" for z in zones)


def test_a_volume_lands_in_a_back_end_of_its_zone_and_an_unknown_zone_is_refused(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--size", "1", "--availability-zone", "az-cold", "in-cold")
    shown = wait_status(openstack, "in-cold", "available")
    assert shown["availability_zone"] == "az-cold" and shown["os-vol-host-attr:host"] == "twinstack@cold#cold"
    refused = openstack.run("volume", "create", "--size", "1", "--availability-zone", "nowhere", "lost",
                            check=False)
    assert refused.returncode != 0 and "Availability zone 'nowhere' is invalid." in refused.stderr
    assert not [v for v in openstack.json("volume", "list") if v["Name"] == "lost"]


def test_the_configured_multiplier_packs_volumes_onto_one_pool(openstack: OpenStackCLI) -> None:
    for name in ("packed-1", "packed-2"):
        openstack.json("volume", "create", "--size", "10", "--type", "ssd", name)
        wait_status(openstack, name, "available")
    first, second = host_of(openstack, "packed-1"), host_of(openstack, "packed-2")
    assert first.startswith("twinstack@ssd#pool") and first == second


def test_retype_on_demand_migrates_and_never_refuses(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--size", "2", "--type", "ssd", "mover")
    wait_status(openstack, "mover", "available")
    refused = openstack.run("volume", "set", "--type", "hdd", "--retype-policy", "never", "mover", check=False)
    assert refused.returncode != 0 and "Retype requires migration but is not allowed" in refused.stderr
    openstack.run("volume", "set", "--type", "hdd", "--retype-policy", "on-demand", "mover")
    moved = wait_status(openstack, "mover", "available")
    assert moved["type"] == "hdd" and moved["os-vol-host-attr:host"] == "twinstack@hdd#hdd"
    assert moved["os-vol-mig-status-attr:migstat"] == "success", sorted(moved)
    elsewhere = openstack.run("volume", "set", "--type", "cold", "--retype-policy", "on-demand", "mover",
                              check=False)  # the only cold back end is in another zone
    assert elsewhere.returncode != 0 and "No valid backend was found" in elsewhere.stderr
    assert openstack.json("volume", "show", "mover")["type"] == "hdd"
