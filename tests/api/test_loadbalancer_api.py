"""Load balancing (Octavia v2) through the in-process API: a load balancer with its VIP port on a
tenant subnet, a listener, a pool with members and a health monitor, statuses as the simulated data
plane sets them, Octavia's refusals and fault body, and the cascade delete that frees the VIP."""

# ruff: noqa: F811  (the fixtures imported from loadbalancer_fixtures are the tests' parameters)

from __future__ import annotations

from typing import Any

from tests.api.compute_helpers import Member
from tests.api.loadbalancer_fixtures import alice, amphorae, octavia, plane, subnet  # noqa: F401  (fixtures)
from tests.api.loadbalancer_helpers import Octavia, fault
from tests.api.network_helpers import Neutron
from tests.conftest import Api


def test_the_catalog_and_version_discovery(api: Api) -> None:
    root = api.http.get("/load-balancer/").json()
    current = [v for v in root["versions"] if v["status"] == "CURRENT"]
    assert current[0]["links"][0]["href"] == "http://127.0.0.1:8000/load-balancer/v2"


def test_a_load_balancer_tree_goes_active_and_deletes_by_cascade(api: Api, alice: Member, octavia: Octavia,
                                                                 subnet: dict[str, Any]) -> None:
    lb = octavia.create("/loadbalancers", "loadbalancer", name="web-lb", vip_subnet_id=subnet["id"])
    assert (lb["provisioning_status"], lb["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert octavia.wait_active(lb["id"])["operating_status"] == "ONLINE"
    assert lb["vip_address"] == "10.40.0.2" and lb["vip_network_id"] == subnet["network_id"]
    neutron = Neutron(api, alice.token)
    vip = neutron.get(f"/ports/{lb['vip_port_id']}").json()["port"]
    assert vip["device_owner"] == "Octavia" and vip["fixed_ips"][0]["ip_address"] == "10.40.0.2"
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                              name="http")
    assert listener["loadbalancers"] == [{"id": lb["id"]}] and listener["connection_limit"] == -1
    octavia.wait_active(lb["id"])
    assert "already using protocol" in fault(octavia.request("POST", "/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}}), 409)
    pool = octavia.create("/pools", "pool", listener_id=listener["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    assert pool["listeners"] == [{"id": listener["id"]}] and pool["loadbalancers"] == [{"id": lb["id"]}]
    octavia.wait_active(lb["id"])
    shown = octavia.request("GET", f"/listeners/{listener['id']}").json()["listener"]
    assert shown["default_pool_id"] == pool["id"]
    members = []
    for n in (10, 11):
        members.append(octavia.create(f"/pools/{pool['id']}/members", "member", address=f"10.40.0.{n}",
                                      protocol_port=8080, subnet_id=subnet["id"]))
        octavia.wait_active(lb["id"])
    assert [m["operating_status"] for m in members] == ["NO_MONITOR", "NO_MONITOR"]
    assert "already using ip 10.40.0.10" in fault(octavia.request("POST", f"/pools/{pool['id']}/members", json={
        "member": {"address": "10.40.0.10", "protocol_port": 8080}}), 409)
    monitor = octavia.create("/healthmonitors", "healthmonitor", pool_id=pool["id"], type="HTTP", delay=5, timeout=3,
                             max_retries=3)
    assert monitor["url_path"] == "/" and monitor["expected_codes"] == "200"
    octavia.wait_active(lb["id"])
    assert fault(octavia.request("POST", "/healthmonitors", json={"healthmonitor": {
        "pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}), 409) == (
        "This pool already has a health monitor")
    listed = octavia.request("GET", f"/pools/{pool['id']}/members").json()["members"]
    assert {m["operating_status"] for m in listed} == {"ONLINE"}
    tree = octavia.request("GET", f"/loadbalancers/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    [pool_status] = tree["listeners"][0]["pools"]
    assert pool_status["health_monitor"]["operating_status"] == "ONLINE" and len(pool_status["members"]) == 2
    assert "it has children" in fault(octavia.request("DELETE", f"/loadbalancers/{lb['id']}"), 400)
    assert octavia.request("DELETE", f"/loadbalancers/{lb['id']}?cascade=true").status_code == 204
    octavia.wait_gone(f"/loadbalancers/{lb['id']}")
    assert "Load Balancer" in fault(octavia.request("GET", f"/loadbalancers/{lb['id']}"), 404)
    assert octavia.request("GET", "/pools").json()["pools"] == []
    assert neutron.get(f"/ports/{lb['vip_port_id']}").status_code == 404


def test_bad_requests_are_octavia_400s(octavia: Octavia, subnet: dict[str, Any]) -> None:
    fault(octavia.request("POST", "/loadbalancers", json={"loadbalancer": {"name": "no-vip"}}), 400)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"], vip_address="10.40.0.99")
    assert lb["vip_address"] == "10.40.0.99" and lb["name"] == ""
    octavia.wait_active(lb["id"])
    fault(octavia.request("POST", "/listeners", json={"listener": {"loadbalancer_id": lb["id"], "protocol": "FTP",
                                                                   "protocol_port": 21}}), 400)
    fault(octavia.request("POST", "/pools", json={"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                           "lb_algorithm": "RANDOM"}}), 400)
    pool = octavia.create("/pools", "pool", loadbalancer_id=lb["id"], protocol="TCP", lb_algorithm="SOURCE_IP")
    octavia.wait_active(lb["id"])
    fault(octavia.request("POST", "/healthmonitors", json={"healthmonitor": {
        "pool_id": pool["id"], "type": "TCP", "delay": 1, "timeout": 5, "max_retries": 3}}), 400)
    fault(octavia.request("POST", "/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                                           "colour": "red"}}), 400)
