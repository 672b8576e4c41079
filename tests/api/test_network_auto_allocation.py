"""Get-me-a-network through the in-process API: Neutron's ``/v2.0/auto-allocated-topology/{project_id}`` builds
a project's network, subnet(s) from the default pools and router to the default external network once, answers
the same network after, checks its requirements on ``?fields=dry-run`` and takes it down on DELETE; Nova's
``networks: "auto"`` uses it, and answers Nova's 400 when the deployment cannot give one. One default external
network at a time."""

from __future__ import annotations

from typing import Any

from tests.api.compute_helpers import TEST_IMAGE_ID, Member, Nova, make_member
from tests.api.network_fixtures import alice, nova, plane  # noqa: F401
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api


def topology(client: Neutron, project_id: str, **params: str) -> Any:
    return client.get(f"/auto-allocated-topology/{project_id}", params=params)


def names(client: Neutron, collection: str) -> list[str]:
    return sorted(item["name"] for item in client.get(f"/{collection}").json()[collection.replace("-", "_")])


def default_pool(admin: Neutron) -> dict[str, Any]:
    [pool] = admin.get("/subnetpools?is_default=true&ip_version=4").json()["subnetpools"]
    return pool  # type: ignore[no-any-return]


def test_the_topology_is_built_once_answered_again_and_deleted_whole(api: Api, alice: Member) -> None:  # noqa: F811
    admin = Neutron(api)
    demo = admin.as_user(alice.token)
    aliases = {e["alias"] for e in demo.get("/extensions").json()["extensions"]}
    assert "auto-allocated-topology" in aliases
    assert topology(demo, alice.project_id, fields="dry-run").json() == {
        "auto_allocated_topology": {"id": "dry-run=pass", "tenant_id": alice.project_id, "project_id": alice.project_id}
    }
    assert names(demo, "networks") == ["public"]  # a dry run builds nothing

    made = topology(demo, alice.project_id)
    assert made.status_code == 200, made.text
    network_id = made.json()["auto_allocated_topology"]["id"]
    assert made.json()["auto_allocated_topology"]["project_id"] == alice.project_id
    network = demo.get(f"/networks/{network_id}").json()["network"]
    assert (network["name"], network["project_id"], network["admin_state_up"]) == (
        "auto_allocated_network",
        alice.project_id,
        True,
    )
    [subnet] = demo.get(f"/subnets?network_id={network_id}").json()["subnets"]
    assert (subnet["name"], subnet["cidr"], subnet["subnetpool_id"]) == (
        "auto_allocated_subnet_v4",
        "10.0.0.0/26",
        default_pool(admin)["id"],
    )
    [router] = demo.get("/routers").json()["routers"]
    assert router["name"] == "auto_allocated_router"
    assert router["external_gateway_info"]["network_id"] == demo.public()["id"]
    assert router["external_gateway_info"]["enable_snat"] is True
    [leg] = demo.get(f"/ports?device_id={router['id']}&device_owner=network:router_interface").json()["ports"]
    assert leg["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.1"}]

    # asked again, by the project (its id or "None", what clients send for their own) or by an admin: the same
    assert topology(demo, alice.project_id).json()["auto_allocated_topology"]["id"] == network_id
    assert topology(demo, "None").json()["auto_allocated_topology"]["id"] == network_id
    assert topology(admin, alice.project_id).json()["auto_allocated_topology"]["id"] == network_id
    assert names(demo, "networks") == ["auto_allocated_network", "public"]
    assert names(demo, "routers") == ["auto_allocated_router"]

    # another project's is not a member's to get or delete; unknown fields are refused
    bob = make_member(api, "bob", "other")
    fault(topology(admin.as_user(bob.token), alice.project_id), 403)
    fault(admin.as_user(bob.token).delete(f"/auto-allocated-topology/{alice.project_id}"), 403)
    fault(topology(demo, alice.project_id, fields="id"), 400)

    # a port in use on its network: the deletion is refused and changes nothing
    port = demo.port(network_id)
    fault(demo.delete(f"/auto-allocated-topology/{alice.project_id}"), 409, "NetworkInUse")
    assert names(demo, "routers") == ["auto_allocated_router"]
    assert demo.get(f"/ports?device_id={router['id']}").json()["ports"] != []
    assert demo.delete(f"/ports/{port['id']}").status_code == 204

    deleted = demo.delete(f"/auto-allocated-topology/{alice.project_id}")
    assert deleted.status_code == 204, deleted.text
    assert names(demo, "networks") == ["public"] and names(demo, "routers") == []
    assert demo.get(f"/subnets?subnetpool_id={default_pool(admin)['id']}").json()["subnets"] == []
    assert demo.delete(f"/auto-allocated-topology/{alice.project_id}").status_code == 204  # none: nothing to do
    again = topology(demo, alice.project_id).json()["auto_allocated_topology"]["id"]
    assert again != network_id and names(demo, "networks") == ["auto_allocated_network", "public"]


def test_with_a_default_ipv6_pool_the_network_gets_a_subnet_of_each_family(api: Api, alice: Member) -> None:  # noqa: F811
    admin = Neutron(api)
    v6 = admin.create(
        "subnetpools",
        "subnetpool",
        name="default-v6",
        prefixes=["2001:db8:8000::/48"],
        default_prefixlen=64,
        shared=True,
        is_default=True,
    )
    demo = admin.as_user(alice.token)
    network_id = topology(demo, alice.project_id).json()["auto_allocated_topology"]["id"]
    subnets = {s["ip_version"]: s for s in demo.get(f"/subnets?network_id={network_id}").json()["subnets"]}
    assert (subnets[4]["cidr"], subnets[6]["cidr"], subnets[6]["subnetpool_id"]) == (
        "10.0.0.0/26",
        "2001:db8:8000::/64",
        v6["id"],
    )
    assert subnets[6]["name"] == "auto_allocated_subnet_v6"
    [router] = demo.get("/routers").json()["routers"]
    legs = demo.get(f"/ports?device_id={router['id']}&device_owner=network:router_interface").json()["ports"]
    assert sorted(ip["subnet_id"] for leg in legs for ip in leg["fixed_ips"]) == sorted(
        [subnets[4]["id"], subnets[6]["id"]]
    )


def test_without_a_default_external_network_or_pool_nothing_is_built(
    api: Api,
    alice: Member,  # noqa: F811
    nova: Nova,  # noqa: F811
) -> None:
    admin = Neutron(api)
    demo = admin.as_user(alice.token)
    public = admin.public()
    assert admin.put(f"/networks/{public['id']}", json={"network": {"is_default": False}}).status_code == 200
    for params in ({"fields": "dry-run"}, {}):
        message = fault(topology(demo, alice.project_id, **params), 409, "AutoAllocationFailure")
        assert message == "Deployment error: No default router:external network."
    refused = nova.post(
        "/servers", json={"server": {"name": "vm", "flavorRef": "1", "imageRef": TEST_IMAGE_ID, "networks": "auto"}}
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["badRequest"]["message"] == (
        f"Unable to automatically allocate a network for project {alice.project_id}"
    )
    assert nova.get("/servers").json()["servers"] == []

    assert admin.put(f"/networks/{public['id']}", json={"network": {"is_default": True}}).status_code == 200
    pool = default_pool(admin)
    assert admin.put(f"/subnetpools/{pool['id']}", json={"subnetpool": {"is_default": False}}).status_code == 200
    message = fault(topology(demo, alice.project_id, fields="dry-run"), 409, "AutoAllocationFailure")
    assert message == "Deployment error: No default subnetpools defined."
    message = fault(topology(demo, alice.project_id), 409, "AutoAllocationFailure")
    assert message == "Deployment error: Unable to provide tenant private network."
    assert names(demo, "networks") == ["public"] and names(demo, "routers") == []

    assert admin.put(f"/subnetpools/{pool['id']}", json={"subnetpool": {"is_default": True}}).status_code == 200
    server = nova.boot("auto-vm", networks="auto")
    made = topology(demo, alice.project_id).json()["auto_allocated_topology"]["id"]
    [port] = demo.get(f"/ports?device_id={server['id']}").json()["ports"]
    assert port["network_id"] == made


def test_one_default_external_network_at_a_time(api: Api) -> None:
    admin = Neutron(api)
    public = admin.public()
    message = fault(
        admin.post("/networks", json={"network": {"name": "ext2", "router:external": True, "is_default": True}}),
        409,
        "DefaultExternalNetworkExists",
    )
    assert message == f"A default external network already exists: {public['id']}."
    assert names(admin, "networks") == ["public"]
    other = admin.network("ext2", **{"router:external": True})
    fault(
        admin.put(f"/networks/{other['id']}", json={"network": {"is_default": True}}),
        409,
        "DefaultExternalNetworkExists",
    )
    assert admin.get(f"/networks/{other['id']}").json()["network"]["is_default"] is False
    assert admin.put(f"/networks/{public['id']}", json={"network": {"is_default": False}}).status_code == 200
    moved = admin.put(f"/networks/{other['id']}", json={"network": {"is_default": True}})
    assert moved.status_code == 200 and moved.json()["network"]["is_default"] is True


def test_a_default_pool_with_no_room_left_builds_nothing_more(api: Api, alice: Member) -> None:  # noqa: F811
    admin = Neutron(api)
    bootstrapped = default_pool(admin)
    assert (
        admin.put(f"/subnetpools/{bootstrapped['id']}", json={"subnetpool": {"is_default": False}}).status_code == 200
    )
    admin.create(
        "subnetpools",
        "subnetpool",
        name="tiny",
        prefixes=["10.9.0.0/26"],
        default_prefixlen=26,
        shared=True,
        is_default=True,
    )
    demo = admin.as_user(alice.token)
    assert topology(demo, alice.project_id).status_code == 200
    bob = make_member(api, "bob", "other")
    other = admin.as_user(bob.token)
    message = fault(topology(other, bob.project_id), 409, "AutoAllocationFailure")
    assert message == "Deployment error: Unable to provide tenant private network."
    assert names(other, "networks") == ["public"] and names(other, "routers") == []
