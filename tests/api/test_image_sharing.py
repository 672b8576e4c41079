"""Image sharing (members: pending, accepted, rejected; owner-only management) and property protections
from configuration, enforced on create, patch, show and list. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.image_helpers import Glance, image_cloud
from tests.conftest import Api, make_settings
from tests.databases import on_each_database as cloud  # noqa: F401 - runs this module on both databases
from twinstack.cloud import Cloud, open_cloud
from twinstack.config import ImageSettings, PropertyProtection
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap


@pytest.fixture
def glance(api: Api) -> Glance:
    return Glance(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def bob(api: Api) -> Member:
    return make_member(api, "bob", "other")


@pytest.fixture
def carol(api: Api) -> Member:
    return make_member(api, "carol", "third")


def test_members_share_an_image_once_they_accept(glance: Glance, alice: Member, bob: Member,
                                                 carol: Member) -> None:
    as_alice, as_bob, as_carol = glance.as_user(alice.token), glance.as_user(bob.token), glance.as_user(carol.token)
    image_id = as_alice.create(name="alices", visibility="shared")["id"]
    members = f"/v2/images/{image_id}/members"
    added = as_alice.request("POST", members, json={"member": bob.project_id})
    assert added.status_code == 200, added.text
    assert {k: added.json()[k] for k in ("image_id", "member_id", "status", "schema")} == {
        "image_id": image_id, "member_id": bob.project_id, "status": "pending", "schema": "/v2/schemas/member"}
    assert as_alice.request("POST", members, json={"member": bob.project_id}).status_code == 409
    assert "alices" not in as_bob.names(), "pending: not in the member's default list"
    assert as_bob.names(visibility="shared", member_status="pending") == ["alices"]
    assert as_bob.show(image_id)["name"] == "alices", "a member sees it by id whatever its status"
    assert as_carol.request("GET", f"/v2/images/{image_id}").status_code == 404
    assert as_bob.request("POST", members, json={"member": carol.project_id}).status_code == 403, "owner only"
    assert as_alice.request("PUT", f"{members}/{bob.project_id}", json={"status": "accepted"}).status_code == 403
    accepted = as_bob.request("PUT", f"{members}/{bob.project_id}", json={"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert "alices" in as_bob.names() and "alices" not in as_carol.names()
    assert as_bob.names(visibility="shared") == ["alices"]
    assert as_bob.request("PUT", f"{members}/{bob.project_id}", json={"status": "maybe"}).status_code == 400
    as_bob.request("PUT", f"{members}/{bob.project_id}", json={"status": "rejected"})
    assert "alices" not in as_bob.names() and as_bob.names(visibility="shared", member_status="rejected") == ["alices"]
    as_alice.request("POST", members, json={"member": carol.project_id})
    everyone = as_alice.request("GET", members).json()
    assert sorted(m["member_id"] for m in everyone["members"]) == sorted([bob.project_id, carol.project_id])
    assert everyone["schema"] == "/v2/schemas/members"
    mine = as_bob.request("GET", members).json()["members"]
    assert [m["member_id"] for m in mine] == [bob.project_id], "a member sees only its own membership"
    assert as_bob.request("GET", f"{members}/{carol.project_id}").status_code == 404
    assert as_bob.request("DELETE", f"{members}/{carol.project_id}").status_code == 403
    assert as_alice.request("DELETE", f"{members}/{bob.project_id}").status_code == 204
    assert as_bob.request("GET", f"/v2/images/{image_id}").status_code == 404, "no longer shared with bob"
    assert as_alice.request("DELETE", f"{members}/{bob.project_id}").status_code == 404


def test_a_member_downloads_a_shared_image_and_others_cannot(glance: Glance, alice: Member, bob: Member,
                                                             carol: Member) -> None:
    as_alice = glance.as_user(alice.token)
    image_id = as_alice.create(name="shared-data", visibility="shared")["id"]
    assert as_alice.upload(image_id, b"shared bytes").status_code == 204
    as_alice.request("POST", f"/v2/images/{image_id}/members", json={"member": bob.project_id})
    as_bob = glance.as_user(bob.token)
    as_bob.request("PUT", f"/v2/images/{image_id}/members/{bob.project_id}", json={"status": "accepted"})
    assert as_bob.request("GET", f"/v2/images/{image_id}/file").content == b"shared bytes"
    assert glance.as_user(carol.token).request("GET", f"/v2/images/{image_id}/file").status_code == 404
    assert as_bob.upload(image_id, b"x").status_code in (403, 409), "a member does not write the owner's image"
    as_alice.patch(image_id, {"op": "replace", "path": "/visibility", "value": "private"})
    assert as_bob.request("GET", f"/v2/images/{image_id}/file").status_code == 404, "private again: members gone"


def test_only_shared_images_have_members(glance: Glance, alice: Member, bob: Member) -> None:
    as_alice = glance.as_user(alice.token)
    private = as_alice.create(name="private", visibility="private")["id"]
    refused = as_alice.request("POST", f"/v2/images/{private}/members", json={"member": bob.project_id})
    assert refused.status_code == 403 and "Only shared images have members" in refused.json()["message"]
    assert as_alice.request("POST", f"/v2/images/{private}/members", json={}).status_code == 400


def test_community_images_are_listed_on_request(glance: Glance, alice: Member, bob: Member) -> None:
    glance.as_user(alice.token).create(name="community", visibility="community")
    as_bob = glance.as_user(bob.token)
    assert "community" not in as_bob.names()
    assert as_bob.names(visibility="community") == ["community"]


RULES = [
    PropertyProtection(pattern="^x_billing_", create=["admin"], read=["admin"], update=["admin"], delete=["admin"]),
    PropertyProtection(pattern="^x_readonly_", create=["admin"], read=["@"], update=["!"], delete=["admin"]),
    PropertyProtection(pattern=".*"),
]


@pytest.fixture
def protected_api(tmp_path: Path, clock: ManualClock, database_url: str) -> Iterator[Api]:
    settings = make_settings(tmp_path, database_url).model_copy(
        update={"image": ImageSettings(property_protections=RULES)})
    built: Cloud = open_cloud(settings, clock=clock)
    bootstrap(built)
    yield Api(built)
    built.close()


def test_property_protections_are_enforced_on_every_call(protected_api: Api) -> None:
    admin = Glance(protected_api)
    member = make_member(protected_api, "mia", "demo")
    as_member = admin.as_user(member.token)
    refused = as_member.request("POST", "/v2/images", json={"name": "m", "x_billing_code": "42"})
    assert refused.status_code == 403 and refused.json()["message"] == "Property 'x_billing_code' is protected"
    image_id = as_member.create(name="m", os_distro="cirros")["id"]
    added = as_member.patch(image_id, {"op": "add", "path": "/x_billing_code", "value": "42"})
    assert added.status_code == 403
    assert admin.patch(image_id, {"op": "add", "path": "/x_billing_code", "value": "42"}).status_code == 200
    assert admin.patch(image_id, {"op": "add", "path": "/x_readonly_sku", "value": "s"}).status_code == 200
    assert admin.show(image_id)["x_billing_code"] == "42"
    shown = as_member.show(image_id)
    assert "x_billing_code" not in shown and shown["x_readonly_sku"] == "s" and shown["os_distro"] == "cirros"
    listed = as_member.request("GET", "/v2/images", params={"name": "m"}).json()["images"][0]
    assert "x_billing_code" not in listed
    assert as_member.names(x_billing_code="42") == [], "an unreadable property cannot be probed by filtering"
    assert admin.names(x_billing_code="42") == ["m"]
    assert as_member.patch(image_id, {"op": "remove", "path": "/x_billing_code"}).status_code == 403
    assert as_member.patch(image_id, {"op": "replace", "path": "/x_readonly_sku", "value": "t"}).status_code == 403
    assert admin.patch(image_id, {"op": "replace", "path": "/x_readonly_sku", "value": "t"}).status_code == 403
    assert as_member.patch(image_id, {"op": "remove", "path": "/x_readonly_sku"}).status_code == 403
    assert admin.patch(image_id, {"op": "remove", "path": "/x_readonly_sku"}).status_code == 200
    assert as_member.patch(image_id, {"op": "replace", "path": "/os_distro", "value": "f"}).status_code == 200
    assert admin.show(image_id)["x_billing_code"] == "42", "the member's refused calls changed nothing"


def test_once_rules_exist_an_unmatched_property_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    built = image_cloud(tmp_path, clock, ImageSettings(property_protections=RULES[:1]))
    try:
        glance = Glance(Api(built))
        assert glance.request("POST", "/v2/images", json={"os_distro": "x"}).status_code == 403
        assert glance.request("POST", "/v2/images", json={"x_billing_a": "x"}).status_code == 201
    finally:
        built.close()
