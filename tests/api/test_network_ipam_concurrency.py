"""IPAM under concurrent requests over real HTTP: ``twinstack serve`` (on SQLite, and on PostgreSQL in a second
run) takes port creations from many client threads at once. Every port gets its own address; on a full subnet
the creations past the pool fail with Neutron's IpAddressGenerationFailure (409) and leave nothing behind; and
networks made at once never share a segmentation id."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import POSTGRES_URL, Served, drop_postgres_database, postgres_database, serve

THREADS = 24


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cloud_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served cloud per database, for the whole module."""
    extra: tuple[str, ...] = ()
    database = None
    if request.param == "postgresql":
        database = postgres_database()
        extra = ("--database-url", POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}")
    running = serve(tmp_path_factory.mktemp(f"ipam-{request.param}"), "--hosts", "1", *extra)
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(10)
        if database is not None:
            drop_postgres_database(database)


@pytest.fixture(scope="module")
def neutron(cloud_url: Served) -> Iterator[httpx.Client]:
    """An admin's HTTP client for ``/network/v2.0``; httpx clients are safe to share between threads."""
    auth = cloud_url.admin_auth()
    scope = {"project": {"name": auth["project_name"], "domain": {"name": auth.get("project_domain_name", "Default")}}}
    user = {"name": auth["username"], "password": auth["password"],
            "domain": {"name": auth.get("user_domain_name", "Default")}}
    login = httpx.post(f"{cloud_url.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": user}}, "scope": scope}})
    assert login.status_code == 201, login.text
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
    with httpx.Client(base_url=f"{cloud_url.url}/network/v2.0", timeout=60, limits=limits,
                      headers={"X-Auth-Token": login.headers["X-Subject-Token"]}) as client:
        yield client


def create(client: httpx.Client, collection: str, key: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()[key]
    return made


def at_once(client: httpx.Client, network_id: str, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda n: client.post("/ports", json={"port": {"network_id": network_id,
                                                                             "name": f"p{n}"}}), range(count)))


def ports_on(client: httpx.Client, network_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/ports?network_id={network_id}").json()["ports"]
    return found


def test_two_hundred_ports_at_once_on_a_slash_24_get_two_hundred_addresses_and_the_254th_fails(
        neutron: httpx.Client) -> None:
    """The issue's figure: 200 creations in parallel on one /24, then more at once than the 253 addresses of its
    pool (.2 to .254) hold: exactly those are made, the rest refused, nothing leaked."""
    net = create(neutron, "networks", "network", name="busy")
    subnet = create(neutron, "subnets", "subnet", network_id=net["id"], cidr="10.60.0.0/24", ip_version=4)
    answers = at_once(neutron, net["id"], 200)
    assert [r.status_code for r in answers] == [201] * 200, next(r.text for r in answers if r.status_code != 201)
    addresses = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in answers]
    assert len(set(addresses)) == 200
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(subnet["cidr"]) and a != subnet["gateway_ip"]
               for a in addresses)
    assert len({r.json()["port"]["mac_address"] for r in answers}) == 200
    more = at_once(neutron, net["id"], 80)
    made = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in more if r.status_code == 201]
    assert len(made) == 253 - 200
    assert {(r.status_code, r.json()["NeutronError"]["type"]) for r in more if r.status_code != 201} == {
        (409, "IpAddressGenerationFailure")}
    listed = ports_on(neutron, net["id"])
    assert sorted(p["fixed_ips"][0]["ip_address"] for p in listed) == sorted(addresses + made)
    assert {p["fixed_ips"][0]["ip_address"] for p in listed} == {f"10.60.0.{n}" for n in range(2, 255)}


def test_past_a_full_pool_creations_fail_cleanly_and_leak_nothing(neutron: httpx.Client) -> None:
    net = create(neutron, "networks", "network", name="small")
    create(neutron, "subnets", "subnet", network_id=net["id"], cidr="10.61.0.0/28", ip_version=4)
    pool_size = 13  # .2 to .14: .0 is the network, .1 the gateway, .15 broadcast
    answers = at_once(neutron, net["id"], 40)
    made = [r.json()["port"] for r in answers if r.status_code == 201]
    refused = [r.json()["NeutronError"] for r in answers if r.status_code != 201]
    assert len(made) == pool_size
    assert {(r.status_code, r.json()["NeutronError"]["type"]) for r in answers if r.status_code != 201} == {
        (409, "IpAddressGenerationFailure")}
    assert {e["message"] for e in refused} == {f"No more IP addresses available on network {net['id']}."}
    addresses = {p["fixed_ips"][0]["ip_address"] for p in made}
    assert addresses == {f"10.61.0.{n}" for n in range(2, 15)}
    listed = ports_on(neutron, net["id"])
    assert len(listed) == pool_size and {p["fixed_ips"][0]["ip_address"] for p in listed} == addresses
    with ThreadPoolExecutor(THREADS) as pool:
        assert set(pool.map(lambda p: neutron.delete(f"/ports/{p['id']}").status_code, made)) == {204}
    again = at_once(neutron, net["id"], pool_size)
    assert [r.status_code for r in again] == [201] * pool_size
    assert {r.json()["port"]["fixed_ips"][0]["ip_address"] for r in again} == addresses


def test_networks_made_at_once_never_share_a_segment(neutron: httpx.Client) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda n: neutron.post("/networks", json={"network": {"name": f"seg{n}"}}),
                                range(30)))
    assert [r.status_code for r in answers] == [201] * 30
    vnis = [r.json()["network"]["provider:segmentation_id"] for r in answers]
    assert len(set(vnis)) == 30 and all(isinstance(v, int) for v in vnis)
