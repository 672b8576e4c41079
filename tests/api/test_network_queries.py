"""Networking v2.0 lists as Neutron answers them (filters, tags, sorting, pages with links, ``fields``),
quotas per project, tags on resources, and subnet pools, through the in-process API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api
from twinstack.core.clock import ManualClock


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def admin(api: Api) -> Neutron:
    return Neutron(api)


def test_filters_match_any_given_value_and_fields_trim(admin: Neutron) -> None:
    for name in ("a", "b", "c"):
        admin.network(name, admin_state_up=name != "c")
    names = [n["name"] for n in admin.get("/networks?name=a&name=c").json()["networks"]]
    assert sorted(names) == ["a", "c"]
    down = admin.get("/networks?admin_state_up=false").json()["networks"]
    assert [n["name"] for n in down] == ["c"]
    trimmed = admin.get("/networks?name=b&fields=id&fields=name").json()["networks"]
    assert len(trimmed) == 1 and set(trimmed[0]) == {"id", "name"}
    net_id = trimmed[0]["id"]
    assert set(admin.get(f"/networks/{net_id}?fields=mtu").json()["network"]) == {"mtu"}
    external = admin.get("/networks?router:external=true").json()["networks"]
    assert [n["name"] for n in external] == ["public"]


def test_changed_since_keeps_what_was_updated_since_then(admin: Neutron, clock: ManualClock) -> None:
    extension = admin.get("/extensions/standard-attr-timestamp").json()["extension"]
    assert extension["alias"] == "standard-attr-timestamp"
    old = admin.network("old")
    clock.advance(60)
    new = admin.network("new")
    since = new["created_at"].removesuffix("Z")
    assert [n["name"] for n in admin.get(f"/networks?changed_since={since}").json()["networks"]] == ["new"]
    clock.advance(60)
    assert admin.put(f"/networks/{old['id']}", json={"network": {"description": "touched"}}).status_code == 200
    later = admin.get(f"/networks/{old['id']}").json()["network"]["updated_at"].removesuffix("Z")
    assert [n["name"] for n in admin.get(f"/networks?changed_since={later}").json()["networks"]] == ["old"]
    assert sorted(n["name"] for n in admin.get(f"/networks?changed_since={since}").json()["networks"]) == [
        "new", "old"]
    message = fault(admin.get("/networks?changed_since=yesterday"), 400, "InvalidInput")
    assert "The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SS" in message


def test_sorting_and_pages_with_next_and_previous_links(admin: Neutron) -> None:
    for name in ("n3", "n1", "n2", "n4"):
        admin.network(name)
    ordered = admin.get("/networks?sort_key=name&sort_dir=asc&name=n1&name=n2&name=n3&name=n4").json()["networks"]
    assert [n["name"] for n in ordered] == ["n1", "n2", "n3", "n4"]
    backwards = admin.get("/networks?sort_key=name&sort_dir=desc").json()["networks"]
    assert [n["name"] for n in backwards][:2] == ["public", "n4"]
    page = admin.get("/networks?sort_key=name&sort_dir=asc&limit=2").json()
    assert [n["name"] for n in page["networks"]] == ["n1", "n2"]
    link = next(li["href"] for li in page["networks_links"] if li["rel"] == "next")
    query = parse_qs(urlparse(link).query)
    assert query["marker"] == [page["networks"][-1]["id"]] and query["limit"] == ["2"]
    assert link.startswith("http://127.0.0.1:8000/network/v2.0/networks?")
    second = admin.get(f"/networks?{urlparse(link).query}").json()
    assert [n["name"] for n in second["networks"]] == ["n3", "n4"]
    assert any(li["rel"] == "previous" for li in second["networks_links"])
    last = admin.get(f"/networks?sort_key=name&sort_dir=asc&limit=2&marker={second['networks'][-1]['id']}").json()
    assert [n["name"] for n in last["networks"]] == ["public"]
    assert not any(li["rel"] == "next" for li in last.get("networks_links", []))
    fault(admin.get("/networks?sort_key=colour"), 400, "HTTPBadRequest")
    fault(admin.get("/networks?sort_key=name&sort_dir=sideways"), 400)
    fault(admin.get("/networks?limit=-1"), 400)


def test_tags_on_resources_and_the_tag_filters(admin: Neutron) -> None:
    red = admin.network("red", tags=["colour", "warm"])
    blue = admin.network("blue")
    assert red["tags"] == ["colour", "warm"]
    assert admin.put(f"/networks/{blue['id']}/tags/colour").status_code == 201
    assert admin.put(f"/networks/{blue['id']}/tags", json={"tags": ["colour", "cold"]}).json() == {
        "tags": ["cold", "colour"]}
    assert admin.get(f"/networks/{blue['id']}/tags/cold").status_code == 204
    fault(admin.get(f"/networks/{blue['id']}/tags/warm"), 404, "TagNotFound")

    def names(query: str) -> list[str]:
        return sorted(n["name"] for n in admin.get(f"/networks?{query}").json()["networks"])

    assert names("tags=colour") == ["blue", "red"]
    assert names("tags=colour,warm") == ["red"]
    assert names("tags-any=warm,cold") == ["blue", "red"]
    assert names("not-tags=cold") == ["public", "red"]
    assert names("not-tags-any=warm,cold") == ["public"]
    assert admin.get(f"/networks/{blue['id']}").json()["network"]["revision_number"] == 2
    assert admin.delete(f"/networks/{blue['id']}/tags").status_code == 204
    assert admin.get(f"/networks/{blue['id']}/tags").json() == {"tags": []}
    fault(admin.put(f"/networks/{blue['id']}/tags", json={"tags": ["a,b"]}), 400)


def test_quotas_limit_creation_with_neutrons_409(api: Api, admin: Neutron, alice: Member) -> None:
    demo = admin.as_user(alice.token)
    demo.network("first")
    fault(demo.put(f"/quotas/{alice.project_id}", json={"quota": {"network": 1}}), 403)
    quota = admin.put(f"/quotas/{alice.project_id}", json={"quota": {"network": 1, "port": 2}}).json()["quota"]
    assert quota["network"] == 1 and quota["subnet"] == 100
    message = fault(demo.post("/networks", json={"network": {"name": "second"}}), 409, "OverQuota")
    assert message == "Quota exceeded for resources: ['network']."
    assert [n["name"] for n in demo.get("/networks?name=second").json()["networks"]] == []
    public = demo.get("/networks?name=public").json()["networks"][0]
    demo.create("floatingips", "floatingip", floating_network_id=public["id"])
    details = demo.get(f"/quotas/{alice.project_id}/details").json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert details["floatingip"]["used"] == 1 and details["port"]["used"] == 0
    assert demo.get(f"/quotas/{alice.project_id}").json()["quota"]["port"] == 2
    fault(demo.get(f"/quotas/{admin.get('/networks?name=public').json()['networks'][0]['project_id']}"), 403)
    assert alice.project_id in [q["project_id"] for q in admin.get("/quotas").json()["quotas"]]
    assert admin.delete(f"/quotas/{alice.project_id}").status_code == 204
    assert demo.get(f"/quotas/{alice.project_id}").json()["quota"]["network"] == 100
    fault(admin.put(f"/quotas/{alice.project_id}", json={"quota": {"widgets": 1}}), 400)


def test_subnets_carved_from_a_pool(admin: Neutron, alice: Member) -> None:
    pool = admin.create("subnetpools", "subnetpool", name="pool", prefixes=["10.100.0.0/16"], default_prefixlen=24,
                        shared=True)
    assert (pool["ip_version"], pool["min_prefixlen"], pool["max_prefixlen"]) == (4, 16, 32)
    demo = admin.as_user(alice.token)
    net = demo.network()
    first = demo.create("subnets", "subnet", network_id=net["id"], ip_version=4, subnetpool_id=pool["id"])
    second = demo.create("subnets", "subnet", network_id=net["id"], ip_version=4, subnetpool_id=pool["id"],
                         prefixlen=26)
    assert (first["cidr"], second["cidr"]) == ("10.100.0.0/24", "10.100.1.0/26")
    assert first["subnetpool_id"] == pool["id"] and first["gateway_ip"] == "10.100.0.1"
    fault(demo.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "subnetpool_id": pool["id"], "prefixlen": 8}}), 400)
    fault(admin.delete(f"/subnetpools/{pool['id']}"), 409)
    fault(demo.post("/subnetpools", json={"subnetpool": {"name": "s", "prefixes": ["10.0.0.0/8"], "shared": True}}),
          403)
