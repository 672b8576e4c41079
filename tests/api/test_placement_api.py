"""The Placement API in-process: shapes, status codes, faults and microversion differences as
OpenStack Placement answers them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import FAST_KDF, Api
from twinstack.core.clock import utcnow
from twinstack.core.identity.passwords import hash_password
from twinstack.db.models.identity import Project, Role, RoleAssignment, User

LATEST = "1.39"


class Placement:
    """Requests to /placement as the admin, at a given microversion."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def __call__(self, method: str, path: str, version: str | None = LATEST, token: str | None = None,
                 **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        headers.setdefault("X-Auth-Token", token or self.api.admin_token)
        if version is not None:
            headers["OpenStack-API-Version"] = f"placement {version}"
        return self.api.http.request(method, f"/placement{path}", headers=headers, **kw)

    def provider(self, name: str, parent: str | None = None, **inventories: int) -> dict[str, Any]:
        body = {"name": name, **({"parent_provider_uuid": parent} if parent else {})}
        created = self("POST", "/resource_providers", json=body)
        assert created.status_code == 200, created.text
        rp: dict[str, Any] = created.json()
        if inventories:
            answer = self("PUT", f"/resource_providers/{rp['uuid']}/inventories", json={
                "resource_provider_generation": rp["generation"],
                "inventories": {rc: {"total": total} for rc, total in inventories.items()}})
            assert answer.status_code == 200, answer.text
            rp["generation"] = answer.json()["resource_provider_generation"]
        return rp

    def allocate(self, consumer: str, allocations: dict[str, dict[str, int]], generation: int | None = None,
                 project: str = "p1", consumer_type: str = "INSTANCE") -> httpx.Response:
        return self("PUT", f"/allocations/{consumer}", json={
            "allocations": {rp: {"resources": res} for rp, res in allocations.items()},
            "project_id": project, "user_id": "u1", "consumer_generation": generation,
            "consumer_type": consumer_type})


@pytest.fixture
def placement(api: Api) -> Placement:
    return Placement(api)


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["errors"][0]
    return body


def new_id() -> str:
    return str(uuid.uuid4())


# Version discovery and negotiation ----------------------------------------------------------------


def test_the_root_is_the_version_document_and_needs_no_token(api: Api) -> None:
    answer = api.http.get("/placement/")
    assert answer.status_code == 200
    assert answer.json() == {"versions": [{"id": "v1.0", "max_version": LATEST, "min_version": "1.0",
                                           "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]}
    assert answer.headers["openstack-api-version"] == "placement 1.0"
    assert answer.headers["vary"] == "openstack-api-version"
    assert api.http.get("/placement").status_code == 200


def test_the_catalog_lists_placement_unversioned(api: Api) -> None:
    token = api.http.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": api.admin_token,
                                                                "X-Subject-Token": api.admin_token})
    entries = {e["type"]: e for e in token.json()["token"]["catalog"]}
    urls = {ep["url"] for ep in entries["placement"]["endpoints"]}
    assert urls == {"http://127.0.0.1:8000/placement"}


def test_microversion_negotiation(placement: Placement) -> None:
    assert placement("GET", "/", version=None).headers["openstack-api-version"] == "placement 1.0"
    assert placement("GET", "/", version="latest").headers["openstack-api-version"] == f"placement {LATEST}"
    assert placement("GET", "/", version="1.15").headers["cache-control"] == "no-cache"
    assert "last-modified" in placement("GET", "/resource_providers", version="1.15").headers
    assert "last-modified" not in placement("GET", "/resource_providers", version="1.14").headers
    too_new = placement("GET", "/", version="1.99")
    assert too_new.status_code == 406
    assert error(too_new)["max_version"] == LATEST and error(too_new)["min_version"] == "1.0"
    assert placement("GET", "/", version="one.two").status_code == 400


def test_faults_carry_a_code_from_1_23_and_the_request_id(placement: Placement) -> None:
    missing = placement("GET", f"/resource_providers/{new_id()}", version="1.23")
    assert missing.status_code == 404
    fault = error(missing)
    assert fault["status"] == 404 and fault["title"] == "Not Found"
    assert fault["code"] == "placement.resource_provider.not_found"
    assert fault["request_id"].startswith("req-")
    assert fault["detail"].split("\n")[-1].strip().startswith("No resource provider with uuid")
    assert "code" not in error(placement("GET", f"/resource_providers/{new_id()}", version="1.22"))


def test_a_token_is_required_and_only_the_admin_may_use_placement(api: Api, placement: Placement) -> None:
    anonymous = api.http.get("/placement/resource_providers")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Keystone uri=")
    with api.cloud.transaction() as session:
        project = session.scalar(select(Project).where(Project.name == "admin"))
        member = session.scalar(select(Role).where(Role.name == "member"))
        assert project is not None and member is not None
        user = User(name="alice", domain_id=project.domain_id, enabled=True, options={}, extra={},
                    password_hash=hash_password("alice-pw", FAST_KDF), created_at=utcnow(api.cloud.clock))
        session.add(user)
        session.flush()
        session.add(RoleAssignment(kind="UserProject", actor_id=user.id, target_id=project.id, role_id=member.id,
                                   inherited=False))
    token = api.login("alice", "alice-pw", project="admin")
    refused = placement("GET", "/resource_providers", token=token)
    assert refused.status_code == 403
    assert "placement:resource_providers:list" in error(refused)["detail"]


def test_validation_errors_are_400_never_422(placement: Placement) -> None:
    assert placement("POST", "/resource_providers", json={"nom": "x"}).status_code == 400
    assert placement("POST", "/resource_providers", content=b"{", headers={"Content-Type": "application/json"}
                     ).status_code == 400
    assert placement("POST", "/resource_providers", content=b"name=x",
                     headers={"Content-Type": "text/plain"}).status_code == 415
    assert placement("GET", "/resource_providers?colour=red").status_code == 400


# Resource providers -------------------------------------------------------------------------------


def test_create_answers_201_without_body_before_1_20_and_the_provider_after(placement: Placement) -> None:
    old = placement("POST", "/resource_providers", version="1.19", json={"name": "cn-old"})
    assert old.status_code == 201 and old.content == b""
    assert old.headers["location"].startswith("http://127.0.0.1:8000/placement/resource_providers/")
    new = placement("POST", "/resource_providers", json={"name": "cn-new", "uuid": new_id()})
    assert new.status_code == 200
    body = new.json()
    assert body["generation"] == 0 and body["parent_provider_uuid"] is None
    assert body["root_provider_uuid"] == body["uuid"]
    assert [link["rel"] for link in body["links"]] == ["self", "inventories", "usages", "aggregates", "traits",
                                                       "allocations"]
    assert body["links"][0]["href"] == f"/placement/resource_providers/{body['uuid']}"
    shown = placement("GET", f"/resource_providers/{body['uuid']}", version="1.0").json()
    assert set(shown) == {"uuid", "name", "generation", "links"}
    assert [link["rel"] for link in shown["links"]] == ["self", "inventories", "usages"]


def test_duplicate_names_conflict(placement: Placement) -> None:
    placement.provider("cn1")
    clash = placement("POST", "/resource_providers", json={"name": "cn1"})
    assert clash.status_code == 409 and error(clash)["code"] == "placement.duplicate_name"


def test_list_filters(placement: Placement) -> None:
    agg = new_id()
    big = placement.provider("big", VCPU=64, MEMORY_MB=262144)
    small = placement.provider("small", VCPU=2, MEMORY_MB=2048)
    child = placement.provider("big-numa0", parent=big["uuid"])
    placement("PUT", f"/resource_providers/{big['uuid']}/aggregates",
              json={"aggregates": [agg], "resource_provider_generation": big["generation"]})
    placement("PUT", f"/resource_providers/{small['uuid']}/traits",
              json={"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": small["generation"]})

    def names(query: str, version: str = LATEST) -> list[str]:
        answer = placement("GET", f"/resource_providers?{query}", version=version)
        assert answer.status_code == 200, answer.text
        return sorted(rp["name"] for rp in answer.json()["resource_providers"])

    assert names("") == ["big", "big-numa0", "small"]
    assert names("name=small") == ["small"]
    assert names(f"uuid={big['uuid']}") == ["big"]
    assert names(f"member_of={agg}") == ["big"]
    assert names(f"member_of=!{agg}") == ["big-numa0", "small"]
    assert names("resources=VCPU:4,MEMORY_MB:4096") == ["big"]
    assert names("required=HW_CPU_X86_AVX2") == ["small"]
    assert names("required=!HW_CPU_X86_AVX2") == ["big", "big-numa0"]
    assert names(f"in_tree={child['uuid']}") == ["big", "big-numa0"]
    assert placement("GET", "/resource_providers?resources=CUSTOM_NOPE:1").status_code == 400
    assert placement("GET", "/resource_providers?required=CUSTOM_NOPE").status_code == 400
    assert placement("GET", "/resource_providers?required=HW_CPU_X86_AVX2", version="1.17").status_code == 400


def test_update_and_delete(placement: Placement) -> None:
    parent = placement.provider("parent")
    rp = placement.provider("rp")
    renamed = placement("PUT", f"/resource_providers/{rp['uuid']}",
                        json={"name": "rp2", "parent_provider_uuid": parent["uuid"]})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "rp2" and renamed.json()["root_provider_uuid"] == parent["uuid"]
    unparent = placement("PUT", f"/resource_providers/{rp['uuid']}", version="1.36",
                         json={"name": "rp2", "parent_provider_uuid": None})
    assert unparent.status_code == 400
    cannot = placement("DELETE", f"/resource_providers/{parent['uuid']}")
    assert cannot.status_code == 409 and error(cannot)["code"] == "placement.resource_provider.cannot_delete_parent"
    moved = placement("PUT", f"/resource_providers/{rp['uuid']}", json={"name": "rp2", "parent_provider_uuid": None})
    assert moved.json()["root_provider_uuid"] == rp["uuid"]
    assert placement("DELETE", f"/resource_providers/{parent['uuid']}").status_code == 204
    assert placement("GET", f"/resource_providers/{parent['uuid']}").status_code == 404


# Inventories ------------------------------------------------------------------------------------------


def test_inventories_all_at_once_and_one_class_at_a_time(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=8)
    base = f"/resource_providers/{rp['uuid']}/inventories"
    listed = placement("GET", base).json()
    assert listed == {"resource_provider_generation": 1, "inventories": {"VCPU": {
        "total": 8, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
        "allocation_ratio": 1.0}}}
    added = placement("POST", base, json={"resource_class": "DISK_GB", "total": 100, "reserved": 10})
    assert added.status_code == 201
    assert added.json()["resource_provider_generation"] == 2
    assert added.headers["location"].endswith(f"{base}/DISK_GB")
    assert placement("POST", base, json={"resource_class": "DISK_GB", "total": 1}).status_code == 409
    one = placement("GET", f"{base}/DISK_GB").json()
    assert one["reserved"] == 10 and one["resource_provider_generation"] == 2
    updated = placement("PUT", f"{base}/DISK_GB", json={"resource_provider_generation": 2, "total": 200})
    assert updated.status_code == 200 and updated.json()["total"] == 200
    assert placement("PUT", f"{base}/MEMORY_MB", json={"resource_provider_generation": 3, "total": 1}
                     ).status_code == 400
    stale = placement("PUT", base, json={"resource_provider_generation": 0, "inventories": {}})
    assert stale.status_code == 409 and error(stale)["code"] == "placement.concurrent_update"
    assert placement("DELETE", f"{base}/DISK_GB").status_code == 204
    assert placement("GET", f"{base}/DISK_GB").status_code == 404
    assert placement("DELETE", base, version="1.4").status_code == 405
    assert placement("DELETE", base).status_code == 204
    assert placement("GET", base).json()["inventories"] == {}


def test_inventory_validation(placement: Placement) -> None:
    rp = placement.provider("cn")
    base = f"/resource_providers/{rp['uuid']}/inventories"

    def put(inventories: dict[str, Any], version: str = LATEST) -> httpx.Response:
        generation = placement("GET", base).json()["resource_provider_generation"]
        return placement("PUT", base, version=version,
                         json={"resource_provider_generation": generation, "inventories": inventories})

    assert put({"VCPU": {"total": 4, "reserved": 4}}, version="1.25").status_code == 400
    assert put({"VCPU": {"total": 4, "reserved": 4}}, version="1.26").status_code == 200
    assert put({"VCPU": {"total": 0}}).status_code == 400
    assert put({"CUSTOM_GOLD": {"total": 1}}).status_code == 400
    assert put({"VCPU": {"total": 4, "colour": "red"}}).status_code == 400


def test_inventory_in_use_cannot_shrink_below_usage_or_go(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=8, MEMORY_MB=1024)
    assert placement.allocate(new_id(), {rp["uuid"]: {"VCPU": 6}}).status_code == 204
    base = f"/resource_providers/{rp['uuid']}/inventories"
    generation = placement("GET", base).json()["resource_provider_generation"]
    shrink = placement("PUT", base, json={"resource_provider_generation": generation,
                                          "inventories": {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 1024}}})
    assert shrink.status_code == 409 and error(shrink)["code"] == "placement.inventory.inuse"
    drop = placement("DELETE", f"{base}/VCPU")
    assert drop.status_code == 409
    grow = placement("PUT", base, json={"resource_provider_generation": generation,
                                        "inventories": {"VCPU": {"total": 4, "allocation_ratio": 2.0}}})
    assert grow.status_code == 200


# Traits, aggregates, resource classes -------------------------------------------------------------------


def test_traits(placement: Placement) -> None:
    assert placement("GET", "/traits", version="1.5").status_code == 404
    listed = placement("GET", "/traits").json()["traits"]
    assert "COMPUTE_VOLUME_ATTACH" in listed and "HW_CPU_X86_AVX2" in listed
    assert placement("PUT", "/traits/CUSTOM_FAST").status_code == 201
    assert placement("PUT", "/traits/CUSTOM_FAST").status_code == 204
    assert placement("PUT", "/traits/FAST").status_code == 400
    assert placement("GET", "/traits/CUSTOM_FAST").status_code == 204
    assert placement("GET", "/traits/CUSTOM_SLOW").status_code == 404
    assert placement("GET", "/traits?name=startswith:CUSTOM_").json() == {"traits": ["CUSTOM_FAST"]}
    assert placement("GET", "/traits?name=in:CUSTOM_FAST,STORAGE_DISK_SSD").json() == {
        "traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"]}
    rp = placement.provider("cn")
    put = placement("PUT", f"/resource_providers/{rp['uuid']}/traits",
                    json={"traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"], "resource_provider_generation": 0})
    assert put.json() == {"traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"], "resource_provider_generation": 1}
    assert placement("GET", "/traits?associated=true").json() == {"traits": ["CUSTOM_FAST", "STORAGE_DISK_SSD"]}
    assert placement("DELETE", "/traits/CUSTOM_FAST").status_code == 409
    assert placement("DELETE", "/traits/STORAGE_DISK_SSD").status_code == 400
    assert placement("PUT", f"/resource_providers/{rp['uuid']}/traits",
                     json={"traits": ["CUSTOM_NOPE"], "resource_provider_generation": 1}).status_code == 400
    assert placement("DELETE", f"/resource_providers/{rp['uuid']}/traits").status_code == 204
    assert placement("GET", f"/resource_providers/{rp['uuid']}/traits").json() == {
        "traits": [], "resource_provider_generation": 2}
    assert placement("DELETE", "/traits/CUSTOM_FAST").status_code == 204


def test_aggregates_gain_the_generation_in_1_19(placement: Placement) -> None:
    rp = placement.provider("cn")
    path = f"/resource_providers/{rp['uuid']}/aggregates"
    agg1, agg2 = sorted([new_id(), new_id()])
    old = placement("PUT", path, version="1.1", json=[agg1])
    assert old.status_code == 200 and old.json() == {"aggregates": [agg1]}
    assert placement("GET", path, version="1.0").status_code == 404
    current = placement("GET", path).json()
    assert current == {"aggregates": [agg1], "resource_provider_generation": 1}
    stale = placement("PUT", path, json={"aggregates": [agg1, agg2], "resource_provider_generation": 0})
    assert stale.status_code == 409 and error(stale)["code"] == "placement.concurrent_update"
    new = placement("PUT", path, json={"aggregates": [agg1, agg2], "resource_provider_generation": 1})
    assert new.json() == {"aggregates": [agg1, agg2], "resource_provider_generation": 2}


def test_resource_classes(placement: Placement) -> None:
    listed = [rc["name"] for rc in placement("GET", "/resource_classes").json()["resource_classes"]]
    assert listed[:3] == ["VCPU", "MEMORY_MB", "DISK_GB"]
    created = placement("POST", "/resource_classes", json={"name": "CUSTOM_GPU_A100"})
    assert created.status_code == 201 and created.headers["location"].endswith("/resource_classes/CUSTOM_GPU_A100")
    assert placement("POST", "/resource_classes", json={"name": "CUSTOM_GPU_A100"}).status_code == 409
    assert placement("POST", "/resource_classes", json={"name": "GPU"}).status_code == 400
    assert placement("PUT", "/resource_classes/CUSTOM_FPGA").status_code == 201
    assert placement("PUT", "/resource_classes/CUSTOM_FPGA").status_code == 204
    assert placement("PUT", "/resource_classes/VCPU").status_code == 204
    assert placement("GET", "/resource_classes/CUSTOM_FPGA").json() == {
        "name": "CUSTOM_FPGA", "links": [{"rel": "self", "href": "/placement/resource_classes/CUSTOM_FPGA"}]}
    renamed = placement("PUT", "/resource_classes/CUSTOM_FPGA", version="1.2", json={"name": "CUSTOM_FPGA2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "CUSTOM_FPGA2"
    placement.provider("gpu-host", CUSTOM_GPU_A100=4)
    assert placement("DELETE", "/resource_classes/CUSTOM_GPU_A100").status_code == 409
    assert placement("DELETE", "/resource_classes/VCPU").status_code == 400
    assert placement("DELETE", "/resource_classes/CUSTOM_FPGA2").status_code == 204
    assert placement("GET", "/resource_classes", version="1.1").status_code == 404


# Allocations and usages ------------------------------------------------------------------------------------


def test_allocations_round_trip_at_the_latest_version(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=8, MEMORY_MB=4096)
    vm = new_id()
    assert placement.allocate(vm, {rp["uuid"]: {"VCPU": 2, "MEMORY_MB": 1024}}).status_code == 204
    shown = placement("GET", f"/allocations/{vm}").json()
    assert shown == {"allocations": {rp["uuid"]: {"generation": 2, "resources": {"MEMORY_MB": 1024, "VCPU": 2}}},
                     "project_id": "p1", "user_id": "u1", "consumer_generation": 1, "consumer_type": "INSTANCE"}
    again = placement.allocate(vm, {rp["uuid"]: {"VCPU": 4}}, generation=None)
    assert again.status_code == 409 and error(again)["code"] == "placement.concurrent_update"
    assert "consumer generation conflict" in error(again)["detail"]
    assert placement.allocate(vm, {rp["uuid"]: {"VCPU": 4}}, generation=1).status_code == 204
    on_provider = placement("GET", f"/resource_providers/{rp['uuid']}/allocations").json()
    assert on_provider == {"allocations": {vm: {"resources": {"VCPU": 4}, "consumer_generation": 2}},
                           "resource_provider_generation": 3}
    assert placement("GET", f"/resource_providers/{rp['uuid']}/usages").json() == {
        "resource_provider_generation": 3, "usages": {"MEMORY_MB": 0, "VCPU": 4}}
    over = placement.allocate(new_id(), {rp["uuid"]: {"VCPU": 5}})
    assert over.status_code == 409 and "exceed the capacity" in error(over)["detail"]
    assert placement.allocate(new_id(), {new_id(): {"VCPU": 1}}).status_code == 400
    assert placement.allocate(new_id(), {rp["uuid"]: {"CUSTOM_NOPE": 1}}).status_code == 400
    assert placement.allocate("not-a-uuid", {rp["uuid"]: {"VCPU": 1}}).status_code == 400
    released = placement("PUT", f"/allocations/{vm}", json={
        "allocations": {}, "project_id": "p1", "user_id": "u1", "consumer_generation": 2, "consumer_type": "INSTANCE"})
    assert released.status_code == 204
    assert placement("GET", f"/allocations/{vm}").json() == {"allocations": {}}


def test_allocation_bodies_follow_the_microversion(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=8)
    vm = new_id()
    listed = {"allocations": [{"resource_provider": {"uuid": rp["uuid"]}, "resources": {"VCPU": 1}}]}
    assert placement("PUT", f"/allocations/{vm}", version="1.0", json=listed).status_code == 204
    assert placement("GET", f"/allocations/{vm}", version="1.0").json() == {
        "allocations": {rp["uuid"]: {"generation": 2, "resources": {"VCPU": 1}}}}
    assert placement("PUT", f"/allocations/{vm}", version="1.8", json=listed).status_code == 400
    with_owner = {**listed, "project_id": "p2", "user_id": "u2"}
    assert placement("PUT", f"/allocations/{vm}", version="1.8", json=with_owner).status_code == 204
    as_dict = {"allocations": {rp["uuid"]: {"resources": {"VCPU": 2}}}, "project_id": "p2", "user_id": "u2"}
    assert placement("PUT", f"/allocations/{vm}", version="1.11", json=as_dict).status_code == 400
    assert placement("PUT", f"/allocations/{vm}", version="1.12", json=as_dict).status_code == 204
    assert placement("GET", f"/allocations/{vm}", version="1.12").json()["project_id"] == "p2"
    assert placement("PUT", f"/allocations/{vm}", version="1.28", json=as_dict).status_code == 400
    assert placement("PUT", f"/allocations/{vm}", version="1.37",
                     json={**as_dict, "consumer_generation": 3, "mappings": {"": [rp["uuid"]]}}).status_code == 204
    assert placement("PUT", f"/allocations/{vm}", version="1.38", json={**as_dict, "consumer_generation": 4}
                     ).status_code == 400
    shown = placement("GET", f"/allocations/{vm}", version="1.38").json()
    assert shown["consumer_type"] == "unknown" and shown["consumer_generation"] == 4


def test_post_allocations_writes_several_consumers_or_none(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=4)
    a, b = new_id(), new_id()

    def part(vcpu: int) -> dict[str, Any]:
        return {"allocations": {rp["uuid"]: {"resources": {"VCPU": vcpu}}} if vcpu else {},
                "project_id": "p1", "user_id": "u1", "consumer_generation": None, "consumer_type": "INSTANCE"}

    assert placement("POST", "/allocations", version="1.12", json={a: part(1)}).status_code == 404
    assert placement("POST", "/allocations", json={a: part(3), b: part(2)}).status_code == 409
    assert placement("GET", f"/resource_providers/{rp['uuid']}/usages").json()["usages"] == {"VCPU": 0}
    assert placement("POST", "/allocations", json={a: part(3), b: part(1)}).status_code == 204
    assert placement("GET", f"/resource_providers/{rp['uuid']}/usages").json()["usages"] == {"VCPU": 4}
    assert placement("DELETE", f"/allocations/{a}").status_code == 204
    assert placement("DELETE", f"/allocations/{a}").status_code == 404


def test_project_usages(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=16, MEMORY_MB=8192)
    placement.allocate(new_id(), {rp["uuid"]: {"VCPU": 2, "MEMORY_MB": 512}}, project="proj")
    placement.allocate(new_id(), {rp["uuid"]: {"VCPU": 1}}, project="proj", consumer_type="MIGRATION")
    assert placement("GET", "/usages?project_id=proj", version="1.8").status_code == 404
    assert placement("GET", "/usages?project_id=proj", version="1.9").json() == {
        "usages": {"VCPU": 3, "MEMORY_MB": 512}}
    assert placement("GET", "/usages?project_id=proj").json() == {"usages": {
        "INSTANCE": {"consumer_count": 1, "VCPU": 2, "MEMORY_MB": 512},
        "MIGRATION": {"consumer_count": 1, "VCPU": 1}}}
    assert placement("GET", "/usages?project_id=proj&consumer_type=all").json() == {"usages": {
        "all": {"consumer_count": 2, "VCPU": 3, "MEMORY_MB": 512}}}
    assert placement("GET", "/usages").status_code == 400


def test_reshaper_moves_inventory_with_its_allocations(placement: Placement) -> None:
    host = placement.provider("host", VCPU=8, VGPU=4)
    gpu = placement.provider("gpu0", parent=host["uuid"])
    vm = new_id()
    placement.allocate(vm, {host["uuid"]: {"VCPU": 1, "VGPU": 1}})
    host_gen = placement("GET", f"/resource_providers/{host['uuid']}").json()["generation"]
    reshaped = placement("POST", "/reshaper", json={
        "inventories": {
            host["uuid"]: {"resource_provider_generation": host_gen, "inventories": {"VCPU": {"total": 8}}},
            gpu["uuid"]: {"resource_provider_generation": 0, "inventories": {"VGPU": {"total": 4}}},
        },
        "allocations": {vm: {"allocations": {host["uuid"]: {"resources": {"VCPU": 1}},
                                             gpu["uuid"]: {"resources": {"VGPU": 1}}},
                             "project_id": "p1", "user_id": "u1", "consumer_generation": 1,
                             "consumer_type": "INSTANCE"}},
    })
    assert reshaped.status_code == 204, reshaped.text
    assert placement("GET", f"/resource_providers/{gpu['uuid']}/usages").json()["usages"] == {"VGPU": 1}
    assert placement("POST", "/reshaper", version="1.29", json={}).status_code == 404


# Allocation candidates --------------------------------------------------------------------------------------


def test_allocation_candidates_shapes_per_microversion(placement: Placement) -> None:
    rp = placement.provider("cn", VCPU=8, MEMORY_MB=4096, DISK_GB=100)
    placement.allocate(new_id(), {rp["uuid"]: {"VCPU": 2}})
    query = "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512"
    assert placement("GET", query, version="1.9").status_code == 404
    v10 = placement("GET", query, version="1.10").json()
    assert v10 == {
        "allocation_requests": [{"allocations": [{"resource_provider": {"uuid": rp["uuid"]},
                                                  "resources": {"MEMORY_MB": 512, "VCPU": 1}}]}],
        "provider_summaries": {rp["uuid"]: {"resources": {"MEMORY_MB": {"capacity": 4096, "used": 0},
                                                          "VCPU": {"capacity": 8, "used": 2}}}},
    }
    latest = placement("GET", query).json()
    assert latest["allocation_requests"] == [{
        "allocations": {rp["uuid"]: {"resources": {"MEMORY_MB": 512, "VCPU": 1}}}, "mappings": {"": [rp["uuid"]]}}]
    assert latest["provider_summaries"][rp["uuid"]] == {
        "resources": {"DISK_GB": {"capacity": 100, "used": 0}, "MEMORY_MB": {"capacity": 4096, "used": 0},
                      "VCPU": {"capacity": 8, "used": 2}},
        "traits": [], "parent_provider_uuid": None, "root_provider_uuid": rp["uuid"]}


def test_allocation_candidates_filter_by_capacity_traits_aggregates_and_limit(placement: Placement) -> None:
    agg = new_id()
    rps = [placement.provider(f"cn{i}", VCPU=4, MEMORY_MB=2048) for i in range(4)]
    placement.allocate(new_id(), {rps[0]["uuid"]: {"VCPU": 4}})
    placement("PUT", f"/resource_providers/{rps[1]['uuid']}/traits",
              json={"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": rps[1]["generation"]})
    placement("PUT", f"/resource_providers/{rps[2]['uuid']}/aggregates",
              json={"aggregates": [agg], "resource_provider_generation": rps[2]["generation"]})

    def hosts(query: str, version: str = LATEST) -> list[str]:
        answer = placement("GET", f"/allocation_candidates?{query}", version=version)
        assert answer.status_code == 200, answer.text
        by_name = {rp["uuid"]: rp["name"] for rp in rps}
        return sorted(by_name[p] for r in answer.json()["allocation_requests"] for p in r["allocations"])

    assert hosts("resources=VCPU:1") == ["cn1", "cn2", "cn3"]
    assert hosts("resources=VCPU:1&required=HW_CPU_X86_AVX2") == ["cn1"]
    assert hosts("resources=VCPU:1&required=!HW_CPU_X86_AVX2") == ["cn2", "cn3"]
    assert hosts("resources=VCPU:1&required=in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE") == ["cn1"]
    assert hosts(f"resources=VCPU:1&member_of={agg}") == ["cn2"]
    assert hosts(f"resources=VCPU:1&member_of=!{agg}") == ["cn1", "cn3"]
    assert len(hosts("resources=VCPU:1&limit=2")) == 2
    assert hosts("resources=VCPU:5") == []
    assert placement("GET", "/allocation_candidates?resources=VCPU:1&limit=2", version="1.15").status_code == 400
    assert placement("GET", "/allocation_candidates?resources=CUSTOM_X:1").status_code == 400
    assert placement("GET", "/allocation_candidates?resources=VCPU:0").status_code == 400
    assert placement("GET", "/allocation_candidates?required=HW_CPU_X86_AVX2").status_code == 400


def test_granular_groups_need_a_group_policy_and_isolate_spreads_them(placement: Placement) -> None:
    host = placement.provider("host")
    numa = [placement.provider(f"numa{i}", parent=host["uuid"], VCPU=4) for i in range(2)]
    query = "/allocation_candidates?resources1=VCPU:3&resources2=VCPU:3"
    missing = placement("GET", query)
    assert missing.status_code == 400 and "group_policy" in error(missing)["detail"]
    isolated = placement("GET", f"{query}&group_policy=isolate").json()
    assert len(isolated["allocation_requests"]) == 1
    mappings = isolated["allocation_requests"][0]["mappings"]
    assert {mappings["1"][0], mappings["2"][0]} == {numa[0]["uuid"], numa[1]["uuid"]}
    assert set(isolated["provider_summaries"]) == {host["uuid"], numa[0]["uuid"], numa[1]["uuid"]}
    assert placement("GET", f"{query}&group_policy=isolate", version="1.24").status_code == 400
    # One class's amount is never split between providers.
    assert placement("GET", "/allocation_candidates?resources=VCPU:6").json()["allocation_requests"] == []


def test_the_unsuffixed_group_spreads_over_a_tree_from_1_29(placement: Placement) -> None:
    host = placement.provider("host", MEMORY_MB=4096)
    numa = placement.provider("numa0", parent=host["uuid"], VCPU=4)
    query = "/allocation_candidates?resources=VCPU:2,MEMORY_MB:512"
    spread = placement("GET", query).json()
    assert spread["allocation_requests"] == [{
        "allocations": {numa["uuid"]: {"resources": {"VCPU": 2}}, host["uuid"]: {"resources": {"MEMORY_MB": 512}}},
        "mappings": {"": [host["uuid"], numa["uuid"]]}}]
    assert spread["provider_summaries"][numa["uuid"]]["parent_provider_uuid"] == host["uuid"]
    assert placement("GET", query, version="1.28").json() == {"allocation_requests": [], "provider_summaries": {}}
