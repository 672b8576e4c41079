"""The catalog admin API (services, endpoints, regions) and credentials, in-process, on both databases."""

from __future__ import annotations

import hashlib
import json

from tests.api.test_identity_trusts_appcreds import cloud, ensure_project, make_user
from tests.conftest import Api
from twinstack.api.services import SERVICES

BASE = "http://127.0.0.1:8000/identity/v3"
__all__ = ["cloud"]  # the fixture, run on SQLite and PostgreSQL


def new_service(api: Api, type_: str = "example", name: str = "sample", **extra: object) -> dict[str, object]:
    response = api.post("/services", json={"service": {"type": type_, "name": name} | extra})
    assert response.status_code == 201, response.text
    service: dict[str, object] = response.json()["service"]
    return service


def new_endpoint(api: Api, service_id: object, interface: str = "public", **extra: object) -> dict[str, object]:
    response = api.post("/endpoints", json={"endpoint": {"service_id": service_id, "interface": interface,
                                                          "url": "http://sample.example/v1",
                                                          "region_id": "RegionOne"} | extra})
    assert response.status_code == 201, response.text
    endpoint: dict[str, object] = response.json()["endpoint"]
    return endpoint


# bootstrap


def test_bootstrap_catalog_is_visible_through_the_admin_api(api: Api) -> None:
    services = api.get("/services?type=identity").json()["services"]
    assert [(s["type"], s["name"], s["enabled"]) for s in services] == [("identity", "keystone", True)]
    endpoints = api.get(f"/endpoints?service_id={services[0]['id']}").json()["endpoints"]
    assert sorted(e["interface"] for e in endpoints) == ["admin", "internal", "public"]
    assert {(e["region"], e["region_id"]) for e in endpoints} == {("RegionOne", "RegionOne")}
    regions = api.get("/regions").json()["regions"]
    assert regions == [{"id": "RegionOne", "description": "", "parent_region_id": None,
                        "links": {"self": f"{BASE}/regions/RegionOne"}}]


SERVED_CATALOG = {
    "identity": ("keystone", "/identity/v3"),
    "compute": ("nova", "/compute/v2.1"),
    "image": ("glance", "/image"),
    "network": ("neutron", "/network"),
    "placement": ("placement", "/placement"),
    "block-storage": ("cinder", "/volume/v3"),
    "load-balancer": ("octavia", "/load-balancer"),
}
"""Every service one Twinstack server offers: its name and where it is mounted (block storage is listed as
``block-storage``, the type the service-types authority names; clients find it by its ``volumev3`` alias too)."""


def test_auth_catalog_lists_every_service_with_its_three_interfaces_in_the_region(api: Api) -> None:
    token = make_user(api, "catalog-reader", "catalog-readers", roles=("reader",)).token  # any project user

    answer = api.get("/auth/catalog", token=token)

    assert answer.status_code == 200, answer.text
    assert answer.json()["links"] == {"self": f"{BASE}/auth/catalog", "previous": None, "next": None}
    catalog = answer.json()["catalog"]
    assert sorted(e["type"] for e in catalog) == sorted(SERVED_CATALOG) == sorted(s.type for s in SERVICES)
    service_ids = {s["type"]: s["id"] for s in api.get("/services").json()["services"]}
    for entry in catalog:
        name, path = SERVED_CATALOG[entry["type"]]
        assert set(entry) == {"id", "type", "name", "endpoints"}
        assert (entry["id"], entry["name"]) == (service_ids[entry["type"]], name)
        assert sorted((e["interface"], e["region"], e["region_id"], e["url"]) for e in entry["endpoints"]) == [
            (interface, "RegionOne", "RegionOne", f"http://127.0.0.1:8000{path}")
            for interface in ("admin", "internal", "public")], entry["type"]
        assert all(set(e) == {"id", "interface", "region", "region_id", "url"} for e in entry["endpoints"])
    endpoint_ids = [e["id"] for entry in catalog for e in entry["endpoints"]]
    assert len(set(endpoint_ids)) == len(endpoint_ids) == 3 * len(SERVED_CATALOG)
    issued = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": token})
    assert issued.json()["token"]["catalog"] == catalog  # the token's catalog is the same one


# services


def test_service_crud_and_filters(api: Api) -> None:
    service = new_service(api, description="Sample Service")
    assert service["enabled"] is True and service["description"] == "Sample Service"
    assert service["links"] == {"self": f"{BASE}/services/{service['id']}"}
    new_service(api, "other-example", "other")

    assert [s["name"] for s in api.get("/services?type=example").json()["services"]] == ["sample"]
    assert [s["type"] for s in api.get("/services?name=other").json()["services"]] == ["other-example"]
    assert api.get(f"/services/{service['id']}").json()["service"]["name"] == "sample"
    assert len(api.get("/services").json()["services"]) >= 3

    patched = api.patch(f"/services/{service['id']}", json={"service": {"enabled": False, "name": "sample2"}})
    assert patched.status_code == 200
    assert patched.json()["service"]["enabled"] is False and patched.json()["service"]["name"] == "sample2"
    assert api.patch(f"/services/{service['id']}", json={"service": {"id": "other"}}).status_code == 400

    assert api.delete(f"/services/{service['id']}").status_code == 204
    assert api.get(f"/services/{service['id']}").status_code == 404
    assert api.delete(f"/services/{service['id']}").status_code == 404


def test_service_needs_a_type(api: Api) -> None:
    response = api.post("/services", json={"service": {"name": "nameless"}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400
    assert api.post("/services", json={}).status_code == 400


def test_deleting_a_service_deletes_its_endpoints(api: Api) -> None:
    service = new_service(api)
    endpoint = new_endpoint(api, service["id"])
    assert api.delete(f"/services/{service['id']}").status_code == 204
    assert api.get(f"/endpoints/{endpoint['id']}").status_code == 404


# endpoints


def test_endpoint_crud_filters_and_the_token_catalog(api: Api) -> None:
    service = new_service(api)
    public = new_endpoint(api, service["id"])
    assert public == {"id": public["id"], "service_id": service["id"], "interface": "public",
                      "region": "RegionOne", "region_id": "RegionOne", "url": "http://sample.example/v1",
                      "enabled": True, "links": {"self": f"{BASE}/endpoints/{public['id']}"}}
    internal = new_endpoint(api, service["id"], "internal")

    listed = api.get(f"/endpoints?service_id={service['id']}&interface=internal").json()["endpoints"]
    assert [e["id"] for e in listed] == [internal["id"]]
    in_region = {e["id"] for e in api.get("/endpoints?region_id=RegionOne").json()["endpoints"]}
    assert {public["id"], internal["id"]} <= in_region
    assert api.get("/endpoints?region_id=elsewhere").json()["endpoints"] == []

    token = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token,
                                             "X-Subject-Token": api.login("admin", "admin-secret", "admin")})
    sample = [e for e in token.json()["token"]["catalog"] if e["type"] == "example"]
    assert {e["interface"] for e in sample[0]["endpoints"]} == {"public", "internal"}

    patched = api.patch(f"/endpoints/{internal['id']}", json={"endpoint": {"url": "http://10.0.0.1/v1",
                                                                          "enabled": False}})
    assert patched.status_code == 200
    assert patched.json()["endpoint"]["url"] == "http://10.0.0.1/v1"
    catalog = api.get("/auth/catalog").json()["catalog"]
    sample = [e for e in catalog if e["type"] == "example"]
    assert [e["interface"] for e in sample[0]["endpoints"]] == ["public"]

    assert api.delete(f"/endpoints/{internal['id']}").status_code == 204
    assert api.get(f"/endpoints/{internal['id']}").status_code == 404


def test_endpoint_validation(api: Api) -> None:
    service = new_service(api)

    def create(**fields: object) -> int:
        body = {"service_id": service["id"], "interface": "public", "url": "http://x.example/"} | fields
        return api.post("/endpoints", json={"endpoint": body}).status_code

    assert create(interface="private") == 400
    assert create(service_id="nope") == 400
    assert create(region_id="Atlantis") == 400
    assert create(url="not a url") == 400
    assert create(url=None) == 400
    endpoint = new_endpoint(api, service["id"])
    assert api.patch(f"/endpoints/{endpoint['id']}", json={"endpoint": {"interface": "sideways"}}).status_code == 400


def test_legacy_region_field_makes_the_region(api: Api) -> None:
    service = new_service(api)
    response = api.post("/endpoints", json={"endpoint": {"service_id": service["id"], "interface": "admin",
                                                          "url": "http://x.example/", "region": "RegionTwo"}})
    assert response.status_code == 201
    assert response.json()["endpoint"]["region_id"] == "RegionTwo"
    assert api.get("/regions/RegionTwo").status_code == 200


# regions


def test_region_create_by_post_and_put(api: Api) -> None:
    posted = api.post("/regions", json={"region": {"id": "RegionTwo", "description": "second"}})
    assert posted.status_code == 201
    assert posted.json()["region"] == {"id": "RegionTwo", "description": "second", "parent_region_id": None,
                                       "links": {"self": f"{BASE}/regions/RegionTwo"}}
    generated = api.post("/regions", json={"region": {}})
    assert generated.status_code == 201 and len(generated.json()["region"]["id"]) == 32

    put = api.put("/regions/RegionTwoA", json={"region": {"parent_region_id": "RegionTwo"}})
    assert put.status_code == 201
    assert put.json()["region"]["parent_region_id"] == "RegionTwo"
    assert api.put("/regions/X", json={"region": {"id": "Y"}}).status_code == 400
    assert api.put("/regions/RegionTwo", json={"region": {}}).status_code == 409
    assert api.post("/regions", json={"region": {"id": "Orphan", "parent_region_id": "nowhere"}}).status_code == 404

    children = api.get("/regions?parent_region_id=RegionTwo").json()["regions"]
    assert [r["id"] for r in children] == ["RegionTwoA"]


def test_region_update_refuses_cycles(api: Api) -> None:
    api.put("/regions/A", json={"region": {}})
    api.put("/regions/B", json={"region": {"parent_region_id": "A"}})
    assert api.patch("/regions/A", json={"region": {"parent_region_id": "B"}}).status_code == 400
    assert api.patch("/regions/A", json={"region": {"parent_region_id": "A"}}).status_code == 400
    moved = api.patch("/regions/B", json={"region": {"parent_region_id": None, "description": "free"}})
    assert moved.status_code == 200
    assert moved.json()["region"] == {"id": "B", "description": "free", "parent_region_id": None,
                                      "links": {"self": f"{BASE}/regions/B"}}


def test_region_delete_takes_the_subtree_unless_endpoints_use_it(api: Api) -> None:
    api.put("/regions/A", json={"region": {}})
    api.put("/regions/B", json={"region": {"parent_region_id": "A"}})
    api.put("/regions/C", json={"region": {"parent_region_id": "B"}})
    service = new_service(api)
    endpoint = new_endpoint(api, service["id"], region_id="C")
    assert api.delete("/regions/A").status_code == 403
    assert api.delete(f"/endpoints/{endpoint['id']}").status_code == 204
    assert api.delete("/regions/A").status_code == 204
    assert {r["id"] for r in api.get("/regions").json()["regions"]} == {"RegionOne"}
    assert api.delete("/regions/A").status_code == 404


def test_catalog_admin_is_for_admins_but_regions_are_readable(api: Api) -> None:
    alice = make_user(api, "alice")
    assert api.post("/services", token=alice.token, json={"service": {"type": "x"}}).status_code == 403
    assert api.get("/services", token=alice.token).status_code == 403
    assert api.get("/endpoints", token=alice.token).status_code == 403
    assert api.put("/regions/Mine", token=alice.token, json={"region": {}}).status_code == 403
    assert api.get("/regions", token=alice.token).status_code == 200
    assert api.get("/regions/RegionOne", token=alice.token).status_code == 200


# credentials


def test_a_user_manages_their_own_credentials(api: Api) -> None:
    alice = make_user(api, "alice")
    created = api.post("/credentials", token=alice.token, json={"credential": {
        "user_id": alice.id, "type": "totp", "blob": "JBSWY3DPEHPK3PXP"}})
    assert created.status_code == 201, created.text
    cred = created.json()["credential"]
    assert cred == {"id": cred["id"], "user_id": alice.id, "project_id": None, "type": "totp",
                    "blob": "JBSWY3DPEHPK3PXP", "links": {"self": f"{BASE}/credentials/{cred['id']}"}}
    assert api.get(f"/credentials/{cred['id']}", token=alice.token).json()["credential"] == cred

    patched = api.patch(f"/credentials/{cred['id']}", token=alice.token,
                        json={"credential": {"blob": "NEWSECRET"}})
    assert patched.status_code == 200
    assert patched.json()["credential"]["blob"] == "NEWSECRET"
    assert api.delete(f"/credentials/{cred['id']}", token=alice.token).status_code == 204
    assert api.get(f"/credentials/{cred['id']}", token=alice.token).status_code == 403  # missing looks forbidden
    assert api.get(f"/credentials/{cred['id']}").status_code == 404


def test_ec2_credentials_need_a_project_and_an_access_key(api: Api) -> None:
    alice = make_user(api, "alice")
    project_id = ensure_project(api, "demo")
    blob = json.dumps({"access": "AKIA123", "secret": "s"})

    def create(**fields: object) -> int:
        body = {"user_id": alice.id, "type": "ec2", "blob": blob} | fields
        return api.post("/credentials", token=alice.token, json={"credential": body}).status_code

    assert create() == 400
    assert create(project_id=project_id, blob="not json") == 400
    assert create(project_id=project_id, blob=json.dumps({"secret": "s"})) == 400
    response = api.post("/credentials", token=alice.token, json={"credential": {
        "user_id": alice.id, "type": "ec2", "blob": blob, "project_id": project_id}})
    assert response.status_code == 201
    assert response.json()["credential"]["id"] == hashlib.sha256(b"AKIA123").hexdigest()
    assert create(project_id=project_id) == 409


def test_others_credentials_are_hidden_from_non_admins(api: Api) -> None:
    alice = make_user(api, "alice")
    carol = make_user(api, "carol")
    mine = api.post("/credentials", token=alice.token, json={"credential": {
        "user_id": alice.id, "type": "cert", "blob": "a"}}).json()["credential"]
    theirs = api.post("/credentials", token=carol.token, json={"credential": {
        "user_id": carol.id, "type": "totp", "blob": "c"}}).json()["credential"]
    assert api.post("/credentials", token=carol.token, json={"credential": {
        "user_id": alice.id, "type": "cert", "blob": "x"}}).status_code == 403

    assert [c["id"] for c in api.get("/credentials", token=alice.token).json()["credentials"]] == [mine["id"]]
    assert api.get(f"/credentials?user_id={carol.id}", token=alice.token).json()["credentials"] == []
    assert api.get(f"/credentials/{theirs['id']}", token=alice.token).status_code == 403
    assert api.patch(f"/credentials/{theirs['id']}", token=alice.token,
                     json={"credential": {"blob": "mine now"}}).status_code == 403
    assert api.patch(f"/credentials/{mine['id']}", token=alice.token,
                     json={"credential": {"user_id": carol.id}}).status_code == 403
    assert api.delete(f"/credentials/{theirs['id']}", token=alice.token).status_code == 403

    every = api.get("/credentials").json()["credentials"]
    assert {c["id"] for c in every} == {mine["id"], theirs["id"]}
    assert [c["id"] for c in api.get("/credentials?type=totp").json()["credentials"]] == [theirs["id"]]
    assert [c["id"] for c in api.get(f"/credentials?user_id={alice.id}").json()["credentials"]] == [mine["id"]]
    assert api.post("/credentials", json={"credential": {"user_id": "ghost", "type": "x", "blob": "y"}}
                    ).status_code == 404
