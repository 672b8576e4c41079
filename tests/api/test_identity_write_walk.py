"""Every write route of the identity API, walked from its route table: admin-only ones are refused to a project
reader and to a project member, the ones Keystone lets a user do on their own things are allowed on their own
and refused on another's.

The walk is derived from the FastAPI application, so a new POST, PUT, PATCH or DELETE route fails
:func:`test_every_identity_write_route_is_in_the_walk` until it is placed in one of the tables below, with a
request that would work for the admin (replayed by the admin at the end, so each 403 is known to be policy, not
a broken call). Keystone's default policies: create/update/delete of domains, projects (and project tags: admin
of the project or above), users, groups and membership, roles and implied roles, grants, services, endpoints and
regions need the admin role; trusts are created by their trustor and deleted by it (or an admin); application
credentials and access rules are their user's; credentials are their owner's (or an admin's); a token may be
revoked by its own user; a password is changed by its user, proving the old one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount

from tests.api.identity_people import PASSWORD, grant, login, make_domain, make_group, make_project, make_user
from tests.api.test_identity_personas import assert_forbidden
from tests.conftest import Api, make_settings
from twinstack.api.openapi_doc import api_routes
from twinstack.cloud import Cloud, open_cloud
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN = ("POST", "/v3/auth/tokens")
"""Logging in: no token asked, so no persona to refuse."""

FLAVORS_RULE = {"service": "compute", "method": "GET", "path": "/v2.1/flavors/detail"}

Call = tuple[str, str, dict[str, Any] | None]
"""(method, path under /identity with ``{scene}`` names, JSON body)."""

ADMIN_ONLY: dict[tuple[str, str], list[Call]] = {
    # domains (victim: acme, disabled first as Keystone requires before a delete)
    ("POST", "/v3/domains"): [("POST", "/v3/domains", {"domain": {"name": "rogue-domain"}})],
    ("PATCH", "/v3/domains/{domain_id}"): [("PATCH", "/v3/domains/{acme}", {"domain": {"enabled": False}})],
    ("DELETE", "/v3/domains/{domain_id}"): [("DELETE", "/v3/domains/{acme}", None)],
    # projects and their tags (a member of demo is no admin of demo)
    ("POST", "/v3/projects"): [("POST", "/v3/projects", {"project": {"name": "rogue-project"}})],
    ("PATCH", "/v3/projects/{project_id}"): [("PATCH", "/v3/projects/{demo}", {"project": {"description": "x"}})],
    ("PUT", "/v3/projects/{project_id}/tags"): [("PUT", "/v3/projects/{demo}/tags", {"tags": ["a", "b"]})],
    ("PUT", "/v3/projects/{project_id}/tags/{tag}"): [("PUT", "/v3/projects/{demo}/tags/c", None)],
    ("DELETE", "/v3/projects/{project_id}/tags/{tag}"): [("DELETE", "/v3/projects/{demo}/tags/a", None)],
    ("DELETE", "/v3/projects/{project_id}/tags"): [("DELETE", "/v3/projects/{demo}/tags", None)],
    ("DELETE", "/v3/projects/{project_id}"): [("DELETE", "/v3/projects/{spare}", None)],
    # users
    ("POST", "/v3/users"): [("POST", "/v3/users", {"user": {"name": "rogue-user", "password": "pw-rogue-1"}})],
    ("PATCH", "/v3/users/{user_id}"): [("PATCH", "/v3/users/{carol}", {"user": {"email": "carol@example.org"}})],
    # groups and membership
    ("POST", "/v3/groups"): [("POST", "/v3/groups", {"group": {"name": "rogue-group"}})],
    ("PUT", "/v3/groups/{group_id}/users/{user_id}"): [("PUT", "/v3/groups/{devs}/users/{self}", None)],
    ("DELETE", "/v3/groups/{group_id}/users/{user_id}"): [("DELETE", "/v3/groups/{devs}/users/{self}", None)],
    ("PATCH", "/v3/groups/{group_id}"): [("PATCH", "/v3/groups/{devs}", {"group": {"description": "x"}})],
    # roles and implied roles
    ("POST", "/v3/roles"): [("POST", "/v3/roles", {"role": {"name": "rogue-role"}})],
    ("PUT", "/v3/roles/{prior_id}/implies/{implied_id}"): [
        ("PUT", "/v3/roles/{auditor_role}/implies/{reader_role}", None)],
    ("DELETE", "/v3/roles/{prior_id}/implies/{implied_id}"): [
        ("DELETE", "/v3/roles/{auditor_role}/implies/{reader_role}", None)],
    ("PATCH", "/v3/roles/{role_id}"): [("PATCH", "/v3/roles/{auditor_role}", {"role": {"description": "x"}})],
    # grants: the admin role to oneself (or one's group), on every kind of target
    **{
        (method, template): [(method, path, None)]
        for template, path in [
            ("/v3/projects/{target_id}/users/{actor_id}/roles/{role_id}",
             "/v3/projects/{demo}/users/{self}/roles/{admin_role}"),
            ("/v3/OS-INHERIT/projects/{target_id}/users/{actor_id}/roles/{role_id}/inherited_to_projects",
             "/v3/OS-INHERIT/projects/{demo}/users/{self}/roles/{admin_role}/inherited_to_projects"),
            ("/v3/domains/{target_id}/users/{actor_id}/roles/{role_id}",
             "/v3/domains/default/users/{self}/roles/{admin_role}"),
            ("/v3/OS-INHERIT/domains/{target_id}/users/{actor_id}/roles/{role_id}/inherited_to_projects",
             "/v3/OS-INHERIT/domains/default/users/{self}/roles/{admin_role}/inherited_to_projects"),
            ("/v3/system/users/{actor_id}/roles/{role_id}", "/v3/system/users/{self}/roles/{admin_role}"),
            ("/v3/projects/{target_id}/groups/{actor_id}/roles/{role_id}",
             "/v3/projects/{demo}/groups/{devs}/roles/{admin_role}"),
            ("/v3/OS-INHERIT/projects/{target_id}/groups/{actor_id}/roles/{role_id}/inherited_to_projects",
             "/v3/OS-INHERIT/projects/{demo}/groups/{devs}/roles/{admin_role}/inherited_to_projects"),
            ("/v3/domains/{target_id}/groups/{actor_id}/roles/{role_id}",
             "/v3/domains/default/groups/{devs}/roles/{admin_role}"),
            ("/v3/OS-INHERIT/domains/{target_id}/groups/{actor_id}/roles/{role_id}/inherited_to_projects",
             "/v3/OS-INHERIT/domains/default/groups/{devs}/roles/{admin_role}/inherited_to_projects"),
            ("/v3/system/groups/{actor_id}/roles/{role_id}", "/v3/system/groups/{devs}/roles/{admin_role}"),
        ]
        for method in ("PUT", "DELETE")
    },
    # the catalog
    ("POST", "/v3/services"): [("POST", "/v3/services", {"service": {"type": "rogue", "name": "rogue"}})],
    ("PATCH", "/v3/services/{service_id}"): [("PATCH", "/v3/services/{sample_service}", {"service": {"name": "x"}})],
    ("POST", "/v3/endpoints"): [("POST", "/v3/endpoints", {"endpoint": {
        "service_id": "{sample_service}", "interface": "public", "url": "http://rogue.example/v1",
        "region_id": "RegionOne"}})],
    ("PATCH", "/v3/endpoints/{endpoint_id}"): [
        ("PATCH", "/v3/endpoints/{sample_endpoint}", {"endpoint": {"url": "http://rogue.example/v2"}})],
    ("DELETE", "/v3/endpoints/{endpoint_id}"): [("DELETE", "/v3/endpoints/{sample_endpoint}", None)],
    ("DELETE", "/v3/services/{service_id}"): [("DELETE", "/v3/services/{sample_service}", None)],
    ("POST", "/v3/regions"): [("POST", "/v3/regions", {"region": {"id": "RogueRegion"}})],
    ("PUT", "/v3/regions/{region_id}"): [("PUT", "/v3/regions/RoguePut", {"region": {"description": "x"}})],
    ("PATCH", "/v3/regions/{region_id}"): [("PATCH", "/v3/regions/RegionTwo", {"region": {"description": "x"}})],
    ("DELETE", "/v3/regions/{region_id}"): [("DELETE", "/v3/regions/RegionTwo", None)],
    # last, what the rest needed
    ("DELETE", "/v3/groups/{group_id}"): [("DELETE", "/v3/groups/{devs}", None)],
    ("DELETE", "/v3/roles/{role_id}"): [("DELETE", "/v3/roles/{auditor_role}", None)],
    ("DELETE", "/v3/users/{user_id}"): [("DELETE", "/v3/users/{carol}", None)],
}
"""Each admin-only write route, and the calls a persona tries on it (in an order the admin can replay)."""

SELF_SERVICE = {
    ("DELETE", "/v3/auth/tokens"),
    ("POST", "/v3/users/{user_id}/password"),
    ("POST", "/v3/OS-TRUST/trusts"),
    ("DELETE", "/v3/OS-TRUST/trusts/{trust_id}"),
    ("POST", "/v3/users/{user_id}/application_credentials"),
    ("DELETE", "/v3/users/{user_id}/application_credentials/{cred_id}"),
    ("DELETE", "/v3/users/{user_id}/access_rules/{rule_id}"),
    ("POST", "/v3/credentials"),
    ("PATCH", "/v3/credentials/{credential_id}"),
    ("DELETE", "/v3/credentials/{credential_id}"),
}
"""Write routes a user may call on their own things (see the self-service tests)."""


@pytest.fixture
def cloud(tmp_path: Path, clock: ManualClock) -> Iterator[Cloud]:
    """On SQLite only: policy does not depend on the database, and the walk is long."""
    built = open_cloud(make_settings(tmp_path), clock=clock)
    bootstrap(built)
    yield built
    built.close()


def identity_write_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path template) of every write route the served identity application answers."""
    identity = next(route.app for route in api.http.app.routes if isinstance(route, Mount)
                    and route.path == "/identity")
    return {(method, route.path_format) for route in api_routes(identity)
            for method in route.methods or () if method in WRITE_METHODS}


def test_every_identity_write_route_is_in_the_walk(api: Api) -> None:
    routes = identity_write_routes(api)
    assert len(routes) > 50  # the walk really read the route table
    assert not set(ADMIN_ONLY) & SELF_SERVICE
    unplaced = routes - set(ADMIN_ONLY) - SELF_SERVICE - {LOGIN}
    assert not unplaced, f"new identity write routes, place them in ADMIN_ONLY or SELF_SERVICE: {sorted(unplaced)}"
    assert set(ADMIN_ONLY) | SELF_SERVICE | {LOGIN} == routes  # and no table names a route that is gone


@dataclass
class Scene:
    api: Api
    ids: dict[str, str]
    tokens: dict[str, str]
    """Project-scoped tokens of the personas: ``reader`` (rita) and ``member`` (alice), both on demo; and
    ``other`` (bob, a member of another project)."""

    def fill(self, value: Any, persona: str) -> Any:
        """``value`` (a path or a body) with ``{name}`` replaced by the scene's ids; ``{self}`` is the persona."""
        names = self.ids | {"self": self.ids[PERSONA_USERS[persona]]}
        if isinstance(value, str):
            return re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), value)
        if isinstance(value, dict):
            return {k: self.fill(v, persona) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v, persona) for v in value]
        return value

    def call(self, persona: str, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None) -> Any:
        """``persona``'s call (or, with ``token``, the same call made with another's token)."""
        return self.api.http.request(method, "/identity" + self.fill(path, persona), json=self.fill(body, persona),
                                     headers={"X-Auth-Token": token or self.tokens[persona]})


PERSONA_USERS = {"reader": "rita", "member": "alice", "other": "bob"}


@pytest.fixture
def scene(api: Api) -> Scene:
    """Everything the walk touches, made by the admin through the API."""
    ids = {
        "acme": make_domain(api, "acme"),
        "demo": make_project(api, "demo"),
        "other": make_project(api, "other"),
        "spare": make_project(api, "spare"),
        "alice": make_user(api, "alice"),
        "rita": make_user(api, "rita"),
        "bob": make_user(api, "bob"),
        "carol": make_user(api, "carol"),
        "devs": make_group(api, "devs"),
        "auditor_role": api.post("/roles", json={"role": {"name": "auditor"}}).json()["role"]["id"],
        "sample_service": api.post("/services", json={"service": {"type": "sample", "name": "sample"}}
                                   ).json()["service"]["id"],
    }
    ids |= {f"{r['name']}_role": r["id"] for r in api.get("/roles").json()["roles"]}
    ids["sample_endpoint"] = api.post("/endpoints", json={"endpoint": {
        "service_id": ids["sample_service"], "interface": "public", "url": "http://sample.example/v1",
        "region_id": "RegionOne"}}).json()["endpoint"]["id"]
    assert api.post("/regions", json={"region": {"id": "RegionTwo"}}).status_code == 201
    assert api.put(f"/projects/{ids['demo']}/tags/a").status_code == 201
    grant(api, "member", user=ids["alice"], project=ids["demo"])
    grant(api, "reader", user=ids["rita"], project=ids["demo"])
    grant(api, "member", user=ids["bob"], project=ids["other"])
    tokens = {persona: login(api, ids[user], scope={"project": {"id": ids["demo" if persona != "other" else
                                                                           "other"]}})
              for persona, user in PERSONA_USERS.items()}
    return Scene(api, ids, tokens)


def everything(api: Api, ids: dict[str, str]) -> dict[str, Any]:
    """What the admin sees of every collection an identity write could change."""
    paths = ["/domains", "/projects", "/users", "/groups", "/roles", "/role_assignments", "/role_inferences",
             "/services", "/endpoints", "/regions", "/credentials", "/OS-TRUST/trusts",
             f"/projects/{ids['demo']}/tags", f"/groups/{ids['devs']}/users",
             f"/system/users/{ids['rita']}/roles", f"/system/users/{ids['alice']}/roles"]
    seen = {path: api.get(path).json() for path in paths}
    for user in ("alice", "rita", "bob"):
        seen[user] = [api.get(f"/users/{ids[user]}/application_credentials").json(),
                      api.get(f"/users/{ids[user]}/access_rules").json()]
    return seen


@pytest.mark.parametrize("persona", ["reader", "member"])
def test_admin_only_writes_are_forbidden_to_project_personas(scene: Scene, persona: str) -> None:
    before = everything(scene.api, scene.ids)

    answers = [(f"{method} {path}", scene.call(persona, method, path, body))
               for calls in ADMIN_ONLY.values() for method, path, body in calls]

    wrong = [f"{what}: {response.status_code} {response.text[:160]}" for what, response in answers
             if response.status_code != 403 or not response.json()["error"]["message"].startswith(
                 "You are not authorized to perform the requested action")]
    assert not wrong, "\n".join(wrong)
    assert everything(scene.api, scene.ids) == before
    # the refusals were policy, not broken calls: the admin's same calls, in the same order, all succeed
    replayed = [(f"{method} {path}", scene.call(persona, method, path, body, token=scene.api.admin_token))
                for calls in ADMIN_ONLY.values() for method, path, body in calls]
    failed = [f"{what}: {r.status_code} {r.text[:160]}" for what, r in replayed if not r.is_success]
    assert not failed, "\n".join(failed)


# --- what a user may do on their own things, and not on another's ----------------------------------------------


@pytest.fixture
def bobs_things(scene: Scene) -> dict[str, str]:
    """A trust (bob trusting carol), an application credential with an access rule and a credential, all bob's."""
    bob = scene.ids["bob"]
    trust = scene.call("other", "POST", "/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": bob, "trustee_user_id": scene.ids["carol"], "impersonation": False,
        "project_id": scene.ids["other"], "roles": [{"name": "member"}]}})
    app_cred = scene.call("other", "POST", f"/v3/users/{bob}/application_credentials", {
        "application_credential": {"name": "bobs", "access_rules": [FLAVORS_RULE]}})
    credential = scene.call("other", "POST", "/v3/credentials", {"credential": {
        "user_id": bob, "type": "ec2", "project_id": scene.ids["other"],
        "blob": json.dumps({"access": "bobs-key", "secret": "s"})}})
    for made in (trust, app_cred, credential):
        assert made.status_code == 201, made.text
    return {"trust": trust.json()["trust"]["id"], "app_cred": app_cred.json()["application_credential"]["id"],
            "rule": app_cred.json()["application_credential"]["access_rules"][0]["id"],
            "credential": credential.json()["credential"]["id"],
            "token": login(scene.api, bob, scope={"project": {"id": scene.ids["other"]}})}


def others_things_calls(scene: Scene, persona: str, bobs: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Each self-service write, aimed at bob's things (or made in bob's name) by ``persona``."""
    bob, other = scene.ids["bob"], scene.ids["other"]
    yield "revoke bob's token", scene.api.http.delete(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": scene.tokens[persona], "X-Subject-Token": bobs["token"]})
    yield "change bob's password", scene.call(persona, "POST", f"/v3/users/{bob}/password", {
        "user": {"original_password": PASSWORD, "password": "taken-over-1"}})
    yield "a trust in bob's name", scene.call(persona, "POST", "/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": bob, "trustee_user_id": "{self}", "impersonation": True, "project_id": other,
        "roles": [{"name": "member"}]}})
    yield "delete bob's trust", scene.call(persona, "DELETE", f"/v3/OS-TRUST/trusts/{bobs['trust']}")
    yield "an application credential for bob", scene.call(
        persona, "POST", f"/v3/users/{bob}/application_credentials", {"application_credential": {"name": "mine"}})
    yield "delete bob's application credential", scene.call(
        persona, "DELETE", f"/v3/users/{bob}/application_credentials/{bobs['app_cred']}")
    yield "delete bob's access rule", scene.call(persona, "DELETE", f"/v3/users/{bob}/access_rules/{bobs['rule']}")
    yield "a credential for bob", scene.call(persona, "POST", "/v3/credentials", {"credential": {
        "user_id": bob, "type": "ec2", "project_id": other, "blob": json.dumps({"access": "x", "secret": "y"})}})
    yield "update bob's credential", scene.call(persona, "PATCH", f"/v3/credentials/{bobs['credential']}", {
        "credential": {"blob": json.dumps({"access": "bobs-key", "secret": "stolen"})}})
    yield "delete bob's credential", scene.call(persona, "DELETE", f"/v3/credentials/{bobs['credential']}")


@pytest.mark.parametrize("persona", ["reader", "member"])
def test_self_service_writes_are_forbidden_on_another_users_things(scene: Scene, bobs_things: dict[str, str],
                                                                   persona: str) -> None:
    before = everything(scene.api, scene.ids)
    for what, response in others_things_calls(scene, persona, bobs_things):
        assert response.status_code == 403, (what, response.text)
        assert_forbidden(response)
    assert everything(scene.api, scene.ids) == before
    assert scene.api.get("/auth/tokens", headers={"X-Subject-Token": bobs_things["token"]}).status_code == 200
    login(scene.api, scene.ids["bob"])  # bob's password is still his


@pytest.mark.parametrize("persona", ["reader", "member"])
def test_self_service_writes_are_allowed_on_ones_own_things(scene: Scene, persona: str) -> None:
    me, demo = scene.ids[PERSONA_USERS[persona]], scene.ids["demo"]
    trust = scene.call(persona, "POST", "/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": me, "trustee_user_id": scene.ids["carol"], "impersonation": False, "project_id": demo,
        "roles": [{"name": "reader"}]}})
    assert trust.status_code == 201, trust.text
    assert scene.call(persona, "DELETE", f"/v3/OS-TRUST/trusts/{trust.json()['trust']['id']}").status_code == 204

    app_cred = scene.call(persona, "POST", f"/v3/users/{me}/application_credentials", {
        "application_credential": {"name": "mine", "access_rules": [FLAVORS_RULE]}})
    assert app_cred.status_code == 201, app_cred.text
    made = app_cred.json()["application_credential"]
    assert scene.call(persona, "DELETE", f"/v3/users/{me}/application_credentials/{made['id']}").status_code == 204
    rule = made["access_rules"][0]["id"]
    assert scene.call(persona, "DELETE", f"/v3/users/{me}/access_rules/{rule}").status_code == 204

    credential = scene.call(persona, "POST", "/v3/credentials", {"credential": {
        "user_id": me, "type": "ec2", "project_id": demo, "blob": json.dumps({"access": "mine", "secret": "s"})}})
    assert credential.status_code == 201, credential.text
    path = f"/v3/credentials/{credential.json()['credential']['id']}"
    blob = json.dumps({"access": "mine", "secret": "t"})
    changed = scene.call(persona, "PATCH", path, {"credential": {"blob": blob}})
    assert changed.status_code == 200, changed.text
    assert scene.call(persona, "DELETE", path).status_code == 204

    spare_token = login(scene.api, me, scope={"project": {"id": demo}})
    revoked = scene.api.http.delete("/identity/v3/auth/tokens", headers={
        "X-Auth-Token": scene.tokens[persona], "X-Subject-Token": spare_token})
    assert revoked.status_code == 204
    assert scene.api.get("/auth/tokens", headers={"X-Subject-Token": spare_token}).status_code == 404

    changed_password = scene.call(persona, "POST", f"/v3/users/{me}/password", {
        "user": {"original_password": PASSWORD, "password": "my-new-pass-1"}})
    assert changed_password.status_code == 204, changed_password.text
    login(scene.api, me, password="my-new-pass-1")
    assert scene.api.get("/credentials").json()["credentials"] == []
    assert scene.api.get("/OS-TRUST/trusts").json()["trusts"] == []
