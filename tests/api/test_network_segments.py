"""Segments over HTTP with narrow configured ranges: tenant networks get VXLAN ids from ``vni_ranges``, admins'
VLANs without an id get one from ``network_vlan_ranges``; a used-up range answers Neutron's NoNetworkAvailable
(503), an id comes back to the pool only when its network is gone, and flat networks hold their whole physical
network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api, make_settings
from twinstack.cloud import Cloud, open_cloud
from twinstack.config import NetworkSettings
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap

VNIS = (4000, 4002)
VLANS = (300, 301)


@pytest.fixture
def cloud(tmp_path: Path, clock: ManualClock) -> Iterator[Cloud]:
    """A cloud whose tenant networks can have only three VNIs and whose physnet1 only two VLANs."""
    settings = make_settings(tmp_path)
    settings = settings.model_copy(update={"network": NetworkSettings(
        vni_ranges=[VNIS], network_vlan_ranges={"physnet1": VLANS}, flat_networks=["public", "physnet1", "physnet2"])})
    built = open_cloud(settings, clock=clock)
    bootstrap(built)
    yield built
    built.close()


@pytest.fixture
def admin(api: Api) -> Neutron:
    return Neutron(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def segment_of(admin: Neutron, network_id: str) -> tuple[str, str | None, int | None]:
    shown = admin.get(f"/networks/{network_id}").json()["network"]
    return shown["provider:network_type"], shown["provider:physical_network"], shown["provider:segmentation_id"]


def test_tenant_networks_take_vnis_from_the_range_until_it_is_used_up(admin: Neutron, alice: Member) -> None:
    as_alice = admin.as_user(alice.token)
    made = [as_alice.network(f"n{i}") for i in range(3)]
    vnis = [segment_of(admin, n["id"])[2] for n in made]
    assert sorted(vnis) == list(range(VNIS[0], VNIS[1] + 1))
    before = len(admin.get("/networks").json()["networks"])
    message = fault(as_alice.post("/networks", json={"network": {"name": "one-too-many"}}), 503,
                    "NoNetworkAvailable")
    assert message == "Unable to create the network. No tenant network is available for allocation."
    assert len(admin.get("/networks").json()["networks"]) == before


def test_a_vni_is_given_again_only_once_its_network_is_deleted(admin: Neutron, alice: Member) -> None:
    as_alice = admin.as_user(alice.token)
    made = {segment_of(admin, n["id"])[2]: n for n in (as_alice.network(f"n{i}") for i in range(3))}
    middle = made[VNIS[0] + 1]
    port = as_alice.port(middle["id"])
    fault(as_alice.delete(f"/networks/{middle['id']}"), 409, "NetworkInUse")
    fault(as_alice.post("/networks", json={"network": {"name": "waiting"}}), 503, "NoNetworkAvailable")
    assert as_alice.delete(f"/ports/{port['id']}").status_code == 204
    assert as_alice.delete(f"/networks/{middle['id']}").status_code == 204
    again = as_alice.network("again")
    assert segment_of(admin, again["id"])[2] == VNIS[0] + 1
    mine = [n for n in as_alice.get("/networks").json()["networks"] if not n["router:external"]]
    held = [segment_of(admin, n["id"])[2] for n in mine]
    assert sorted(held) == list(range(VNIS[0], VNIS[1] + 1))


def test_an_admin_chosen_vni_is_skipped_by_allocation_and_cannot_be_taken_twice(admin: Neutron,
                                                                                 alice: Member) -> None:
    chosen = admin.network("chosen", **{"provider:network_type": "vxlan", "provider:segmentation_id": VNIS[0]})
    assert segment_of(admin, chosen["id"]) == ("vxlan", None, VNIS[0])
    message = fault(admin.post("/networks", json={"network": {"provider:network_type": "vxlan",
                                                              "provider:segmentation_id": VNIS[0]}}),
                    409, "TunnelIdInUse")
    assert message == f"Unable to create the network. The tunnel ID {VNIS[0]} is in use."
    outside = admin.network("outside", **{"provider:network_type": "vxlan", "provider:segmentation_id": 9})
    assert segment_of(admin, outside["id"])[2] == 9
    as_alice = admin.as_user(alice.token)
    vnis = [segment_of(admin, as_alice.network(f"n{i}")["id"])[2] for i in range(2)]
    assert vnis == [VNIS[0] + 1, VNIS[0] + 2]
    fault(as_alice.post("/networks", json={"network": {}}), 503, "NoNetworkAvailable")


def test_vlans_without_an_id_come_from_the_physical_networks_range(admin: Neutron) -> None:
    vlan = {"provider:network_type": "vlan", "provider:physical_network": "physnet1"}
    first, second = admin.network("v1", **vlan), admin.network("v2", **vlan)
    assert {segment_of(admin, first["id"]), segment_of(admin, second["id"])} == {
        ("vlan", "physnet1", VLANS[0]), ("vlan", "physnet1", VLANS[1])}
    fault(admin.post("/networks", json={"network": vlan}), 503, "NoNetworkAvailable")
    message = fault(admin.post("/networks", json={"network": {**vlan, "provider:segmentation_id": VLANS[1]}}), 409,
                    "VlanIdInUse")
    assert message == f"Unable to create the network. The VLAN {VLANS[1]} on physical network physnet1 is in use."
    assert admin.delete(f"/networks/{first['id']}").status_code == 204
    third = admin.network("v3", **vlan)
    assert segment_of(admin, third["id"]) == ("vlan", "physnet1", VLANS[0])
    fault(admin.post("/networks", json={"network": vlan}), 503, "NoNetworkAvailable")


def test_a_flat_network_holds_its_physical_network_and_is_for_admins(admin: Neutron, alice: Member) -> None:
    flat = {"provider:network_type": "flat", "provider:physical_network": "physnet2"}
    made = admin.network("flat", **flat)
    assert (made["provider:network_type"], made["provider:physical_network"], made["provider:segmentation_id"],
            made["mtu"]) == ("flat", "physnet2", None, 1500)
    subnet = admin.subnet(made["id"], "192.168.50.0/24")
    assert admin.port(made["id"])["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "192.168.50.2"}]
    message = fault(admin.post("/networks", json={"network": {"name": "again", **flat}}), 409, "FlatNetworkInUse")
    assert message == "Unable to create the flat network. Physical network physnet2 is in use."
    fault(admin.post("/networks", json={"network": {"provider:network_type": "flat",
                                                    "provider:physical_network": "nowhere"}}), 400, "InvalidInput")
    fault(admin.post("/networks", json={"network": {"provider:network_type": "flat"}}), 400, "InvalidInput")
    fault(admin.post("/networks", json={"network": {**flat, "provider:segmentation_id": 5}}), 400, "InvalidInput")
    fault(admin.as_user(alice.token).post("/networks", json={"network": {"name": "mine", **flat}}), 403,
          "HTTPForbidden")
    assert {n["name"] for n in admin.get("/networks?provider:network_type=flat").json()["networks"]} == {
        "public", "flat"}
    other = admin.network("flat1", **{"provider:network_type": "flat", "provider:physical_network": "physnet1"})
    assert segment_of(admin, other["id"]) == ("flat", "physnet1", None)
