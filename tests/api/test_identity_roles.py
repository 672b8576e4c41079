"""Roles, implied roles, grants and ``/v3/role_assignments`` over the identity API.

Shapes and statuses follow Keystone's API reference; the revocation tests pin the rule that a
token which carried a role taken away is refused afterwards, and that other tokens are left alone.
Every test runs on SQLite and on PostgreSQL (the ``cloud`` fixture is overridden here).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.identity_people import (
    is_valid,
    later,
    login,
    login_status,
    make_domain,
    make_group,
    make_project,
    make_user,
)
from tests.conftest import Api
from tests.databases import on_each_database as cloud  # noqa: F401  (runs every test on both databases)


def role_id(api: Api, name: str, domain_id: str | None = None) -> str:
    query = f"/roles?name={name}" + (f"&domain_id={domain_id}" if domain_id else "")
    found = api.get(query).json()["roles"]
    assert len(found) == 1, found
    return str(found[0]["id"])


def make_role(api: Api, name: str, **fields: Any) -> str:
    response = api.post("/roles", json={"role": {"name": name, **fields}})
    assert response.status_code == 201, response.text
    return str(response.json()["role"]["id"])


def put(api: Api, path: str, token: str | None = None) -> None:
    response = api.put(path, token=token)
    assert response.status_code == 204, response.text


def token_roles(api: Api, token: str) -> set[str]:
    shown = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": token})
    assert shown.status_code == 200, shown.text
    return {r["name"] for r in shown.json()["token"]["roles"]}


def assignments(api: Api, query: str = "", token: str | None = None) -> list[dict[str, Any]]:
    response = api.get(f"/role_assignments{query}", token=token)
    assert response.status_code == 200, response.text
    return list(response.json()["role_assignments"])


def summary(entries: list[dict[str, Any]]) -> set[tuple[str, str, str, bool]]:
    """(role id, actor id, target id, inherited) of each entry, for set comparisons."""
    found = set()
    for entry in entries:
        actor = (entry.get("user") or entry["group"])["id"]
        scope = entry["scope"]
        target = (scope.get("project") or scope.get("domain") or {"id": "system"})["id"]
        found.add((entry["role"]["id"], actor, target, scope.get("OS-INHERIT:inherited_to") == "projects"))
    return found


# --- roles ---------------------------------------------------------------------------------------


def test_a_role_is_created_shown_listed_renamed_and_deleted(api: Api) -> None:
    created = api.post("/roles", json={"role": {"name": "auditor", "description": "Reads logs"}})
    assert created.status_code == 201
    role = created.json()["role"]
    assert set(role) == {"id", "name", "domain_id", "description", "options", "links"}
    assert role["domain_id"] is None and role["options"] == {} and role["description"] == "Reads logs"
    assert role["links"]["self"].endswith(f"/identity/v3/roles/{role['id']}")
    assert api.get(f"/roles/{role['id']}").json()["role"] == role
    listed = api.get("/roles").json()
    assert {"admin", "member", "reader", "service", "auditor"} <= {r["name"] for r in listed["roles"]}
    assert listed["links"]["self"].endswith("/identity/v3/roles")
    assert [r["id"] for r in api.get("/roles?name=auditor").json()["roles"]] == [role["id"]]

    renamed = api.patch(f"/roles/{role['id']}", json={"role": {"name": "inspector", "description": None}})
    assert renamed.status_code == 200
    assert renamed.json()["role"]["name"] == "inspector" and renamed.json()["role"]["description"] is None
    assert api.delete(f"/roles/{role['id']}").status_code == 204
    gone = api.get(f"/roles/{role['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"Could not find role: {role['id']}."


def test_role_names_are_unique_globally_and_within_each_domain(api: Api) -> None:
    make_role(api, "auditor")
    clash = api.post("/roles", json={"role": {"name": "auditor"}})
    assert clash.status_code == 409
    assert "Duplicate entry" in clash.json()["error"]["message"]
    acme = make_domain(api, "acme")
    own = make_role(api, "auditor", domain_id=acme)
    assert api.post("/roles", json={"role": {"name": "auditor", "domain_id": acme}}).status_code == 409
    other = make_role(api, "other")
    assert api.patch(f"/roles/{other}", json={"role": {"name": "auditor"}}).status_code == 409
    # Without a domain filter only global roles are listed; with one, that domain's.
    assert own not in {r["id"] for r in api.get("/roles").json()["roles"]}
    domain_roles = api.get(f"/roles?domain_id={acme}").json()["roles"]
    assert [(r["id"], r["domain_id"]) for r in domain_roles] == [(own, acme)]


def test_bad_role_bodies_are_400_and_unknown_domains_404(api: Api) -> None:
    assert api.post("/roles", json={"role": {}}).status_code == 400
    assert api.post("/roles", json={"role": {"name": ""}}).status_code == 400
    assert api.post("/roles", json={"role": {"name": "x", "options": {"bogus": True}}}).status_code == 400
    assert api.post("/roles", json={"role": {"name": "x", "domain_id": "nope"}}).status_code == 404
    rid = make_role(api, "x")
    assert api.patch(f"/roles/{rid}", json={"role": {"domain_id": "default"}}).status_code == 400
    assert api.patch(f"/roles/{rid}", json={"role": {"id": "other"}}).status_code == 400
    assert api.patch("/roles/nope", json={"role": {"name": "y"}}).status_code == 404
    assert api.delete("/roles/nope").status_code == 404


def test_an_immutable_role_can_be_neither_changed_nor_deleted_until_the_flag_is_cleared(api: Api) -> None:
    rid = make_role(api, "fixed", options={"immutable": True})
    assert api.patch(f"/roles/{rid}", json={"role": {"name": "moved"}}).status_code == 403
    assert api.delete(f"/roles/{rid}").status_code == 403
    cleared = api.patch(f"/roles/{rid}", json={"role": {"options": {"immutable": False}}})
    assert cleared.status_code == 200 and cleared.json()["role"]["options"] == {"immutable": False}
    assert api.delete(f"/roles/{rid}").status_code == 204


def test_members_read_roles_but_only_admins_write_them(api: Api) -> None:
    project = make_project(api, "demo")
    user = make_user(api, "alice")
    put(api, f"/projects/{project}/users/{user}/roles/{role_id(api, 'member')}")
    token = login(api, user, scope={"project": {"id": project}})
    assert api.get("/roles", token=token).status_code == 200
    assert api.get(f"/roles/{role_id(api, 'admin')}", token=token).status_code == 200
    assert api.post("/roles", token=token, json={"role": {"name": "mine"}}).status_code == 403
    assert api.delete(f"/roles/{role_id(api, 'reader')}", token=token).status_code == 403
    assert api.get("/roles", token=login(api, user)).status_code == 403  # unscoped: no role at all


def test_deleting_a_role_removes_its_grants_and_rules_and_revokes_the_tokens_it_gave(api: Api) -> None:
    project = make_project(api, "demo")
    user, bystander = make_user(api, "alice"), make_user(api, "bob")
    operator = make_role(api, "operator")
    assert api.put(f"/roles/{operator}/implies/{role_id(api, 'member')}").status_code == 201
    put(api, f"/projects/{project}/users/{user}/roles/{operator}")
    put(api, f"/projects/{project}/users/{bystander}/roles/{role_id(api, 'reader')}")
    token = login(api, user, scope={"project": {"id": project}})
    other = login(api, bystander, scope={"project": {"id": project}})
    assert token_roles(api, token) == {"operator", "member", "reader"}

    assert api.delete(f"/roles/{operator}").status_code == 204
    assert not is_valid(api, token)
    assert is_valid(api, other)
    assert all(a["role"]["id"] != operator for a in assignments(api))
    assert all(r["prior_role"]["id"] != operator for r in api.get("/role_inferences").json()["role_inferences"])
    later(api)
    assert login_status(api, user, scope={"project": {"id": project}}) == 401


# --- implied roles -------------------------------------------------------------------------------


def test_bootstrap_lists_admin_implies_member_implies_reader(api: Api) -> None:
    body = api.get("/role_inferences").json()
    rules = {(r["prior_role"]["name"], i["name"]) for r in body["role_inferences"] for i in r["implies"]}
    assert {("admin", "member"), ("member", "reader")} <= rules
    assert body["links"]["self"].endswith("/identity/v3/role_inferences")
    rule = body["role_inferences"][0]
    assert set(rule["prior_role"]) == {"id", "name", "links"}


def test_an_implication_is_created_shown_checked_listed_and_deleted(api: Api) -> None:
    prior, implied = make_role(api, "operator"), make_role(api, "observer")
    created = api.put(f"/roles/{prior}/implies/{implied}")
    assert created.status_code == 201
    body = created.json()
    assert body["role_inference"]["prior_role"]["id"] == prior
    assert body["role_inference"]["prior_role"]["name"] == "operator"
    assert body["role_inference"]["implies"]["id"] == implied
    assert body["role_inference"]["implies"]["links"]["self"].endswith(f"/roles/{implied}")
    assert body["links"]["self"].endswith(f"/roles/{prior}/implies/{implied}")
    assert api.get(f"/roles/{prior}/implies/{implied}").json() == body
    assert api.head(f"/roles/{prior}/implies/{implied}").status_code == 204
    listed = api.get(f"/roles/{prior}/implies").json()
    assert [r["id"] for r in listed["role_inference"]["implies"]] == [implied]
    assert listed["links"]["self"].endswith(f"/roles/{prior}/implies")
    assert api.put(f"/roles/{prior}/implies/{implied}").status_code == 409

    assert api.delete(f"/roles/{prior}/implies/{implied}").status_code == 204
    missing = api.get(f"/roles/{prior}/implies/{implied}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"{prior} does not imply {implied}."
    assert api.head(f"/roles/{prior}/implies/{implied}").status_code == 404
    assert api.delete(f"/roles/{prior}/implies/{implied}").status_code == 404
    assert api.put(f"/roles/{prior}/implies/nope").status_code == 404
    assert api.get("/roles/nope/implies").status_code == 404


def test_admin_cannot_be_implied_nor_a_domain_role_by_a_global_one(api: Api) -> None:
    other = make_role(api, "operator")
    assert api.put(f"/roles/{other}/implies/{role_id(api, 'admin')}").status_code == 403
    acme = make_domain(api, "acme")
    local = make_role(api, "local", domain_id=acme)
    assert api.put(f"/roles/{other}/implies/{local}").status_code == 403
    assert api.put(f"/roles/{local}/implies/{other}").status_code == 201


def test_implied_roles_reach_tokens_and_cycles_are_harmless(api: Api) -> None:
    project = make_project(api, "demo")
    user = make_user(api, "alice")
    ping, pong = make_role(api, "ping"), make_role(api, "pong")
    assert api.put(f"/roles/{ping}/implies/{pong}").status_code == 201
    assert api.put(f"/roles/{pong}/implies/{ping}").status_code == 201
    assert api.put(f"/roles/{pong}/implies/{role_id(api, 'reader')}").status_code == 201
    put(api, f"/projects/{project}/users/{user}/roles/{ping}")
    token = login(api, user, scope={"project": {"id": project}})
    assert token_roles(api, token) == {"ping", "pong", "reader"}
    effective = assignments(api, f"?user.id={user}&effective")
    assert {a["role"]["id"] for a in effective} == {ping, pong, role_id(api, "reader")}


def test_deleting_an_implication_revokes_the_tokens_of_those_holding_the_prior_role(api: Api) -> None:
    project = make_project(api, "demo")
    user, bystander = make_user(api, "alice"), make_user(api, "bob")
    operator, observer = make_role(api, "operator"), make_role(api, "observer")
    assert api.put(f"/roles/{operator}/implies/{observer}").status_code == 201
    put(api, f"/projects/{project}/users/{user}/roles/{operator}")
    put(api, f"/projects/{project}/users/{bystander}/roles/{observer}")
    token = login(api, user, scope={"project": {"id": project}})
    other = login(api, bystander, scope={"project": {"id": project}})
    assert token_roles(api, token) == {"operator", "observer"}
    assert api.delete(f"/roles/{operator}/implies/{observer}").status_code == 204
    assert not is_valid(api, token)
    assert is_valid(api, other)
    later(api)
    assert token_roles(api, login(api, user, scope={"project": {"id": project}})) == {"operator"}


def test_only_admins_change_implications_and_readers_with_system_scope_see_them(api: Api) -> None:
    project = make_project(api, "demo")
    user = make_user(api, "alice")
    put(api, f"/projects/{project}/users/{user}/roles/{role_id(api, 'member')}")
    token = login(api, user, scope={"project": {"id": project}})
    assert api.get("/role_inferences", token=token).status_code == 403
    assert api.put(f"/roles/{role_id(api, 'member')}/implies/{role_id(api, 'service')}",
                   token=token).status_code == 403
    put(api, f"/system/users/{user}/roles/{role_id(api, 'reader')}")
    system = login(api, user, scope={"system": {"all": True}})
    assert api.get("/role_inferences", token=system).status_code == 200


# --- grants --------------------------------------------------------------------------------------

GRANT_FORMS = [
    ("projects", "users", ""), ("projects", "groups", ""), ("domains", "users", ""), ("domains", "groups", ""),
    ("OS-INHERIT/projects", "users", "/inherited_to_projects"),
    ("OS-INHERIT/projects", "groups", "/inherited_to_projects"),
    ("OS-INHERIT/domains", "users", "/inherited_to_projects"),
    ("OS-INHERIT/domains", "groups", "/inherited_to_projects"),
]


@pytest.mark.parametrize(("targets", "actors", "suffix"), GRANT_FORMS)
def test_every_grant_form_is_put_checked_listed_and_deleted(api: Api, targets: str, actors: str,
                                                            suffix: str) -> None:
    target = make_project(api, "demo") if targets.endswith("projects") else make_domain(api, "acme")
    actor = make_user(api, "alice") if actors == "users" else make_group(api, "staff")
    member = role_id(api, "member")
    base = f"/{targets}/{target}/{actors}/{actor}/roles"
    assert api.put(f"{base}/{member}{suffix}").status_code == 204
    assert api.put(f"{base}/{member}{suffix}").status_code == 204  # idempotent
    assert api.get(f"{base}/{member}{suffix}").status_code == 204
    assert api.head(f"{base}/{member}{suffix}").status_code == 204
    listed = api.get(f"{base}{suffix}").json()
    assert [r["id"] for r in listed["roles"]] == [member]
    assert set(listed["roles"][0]) == {"id", "name", "domain_id", "description", "options", "links"}
    # The inherited and the direct grant are different grants.
    other_form = (f"/{targets.removeprefix('OS-INHERIT/')}/{target}/{actors}/{actor}/roles/{member}" if suffix
                  else f"/OS-INHERIT{base}/{member}/inherited_to_projects")
    assert api.get(other_form).status_code == 404
    assert api.delete(f"{base}/{member}{suffix}").status_code == 204
    missing = api.get(f"{base}/{member}{suffix}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].startswith(f"Could not find role assignment with role: {member}")
    assert api.delete(f"{base}/{member}{suffix}").status_code == 404


@pytest.mark.parametrize("actors", ["users", "groups"])
def test_system_grants_are_put_checked_listed_and_deleted(api: Api, actors: str) -> None:
    actor = make_user(api, "alice") if actors == "users" else make_group(api, "staff")
    reader = role_id(api, "reader")
    assert api.put(f"/system/{actors}/{actor}/roles/{reader}").status_code == 204
    assert api.get(f"/system/{actors}/{actor}/roles/{reader}").status_code == 204
    assert api.head(f"/system/{actors}/{actor}/roles/{reader}").status_code == 204
    assert [r["name"] for r in api.get(f"/system/{actors}/{actor}/roles").json()["roles"]] == ["reader"]
    assert api.delete(f"/system/{actors}/{actor}/roles/{reader}").status_code == 204
    assert api.get(f"/system/{actors}/{actor}/roles/{reader}").status_code == 404
    assert api.get(f"/system/{actors}/{actor}/roles").json()["roles"] == []


def test_grants_naming_an_unknown_party_are_404(api: Api) -> None:
    project, domain = make_project(api, "demo"), make_domain(api, "acme")
    user, group = make_user(api, "alice"), make_group(api, "staff")
    member = role_id(api, "member")
    cases = {
        f"/projects/nope/users/{user}/roles/{member}": "project: nope",
        f"/projects/{project}/users/nope/roles/{member}": "user: nope",
        f"/projects/{project}/groups/nope/roles/{member}": "group: nope",
        f"/projects/{project}/users/{user}/roles/nope": "role: nope",
        f"/domains/nope/groups/{group}/roles/{member}": "domain: nope",
        f"/domains/{domain}/users/{user}/roles/nope": "role: nope",
        f"/system/users/nope/roles/{member}": "user: nope",
        f"/system/groups/{group}/roles/nope": "role: nope",
        f"/OS-INHERIT/domains/nope/users/{user}/roles/{member}/inherited_to_projects": "domain: nope",
    }
    for path, what in cases.items():
        for method in ("PUT", "GET", "DELETE"):
            response = api.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["message"] == f"Could not find {what}.", (method, path)
    assert api.get("/projects/nope/users/nope/roles").status_code == 404


def test_a_domain_specific_role_is_granted_only_in_its_domain_and_stays_out_of_tokens(api: Api) -> None:
    acme = make_domain(api, "acme")
    inside = make_project(api, "inside", domain_id=acme)
    outside = make_project(api, "outside")
    user = make_user(api, "alice")
    local = make_role(api, "local", domain_id=acme)
    assert api.put(f"/roles/{local}/implies/{role_id(api, 'member')}").status_code == 201
    assert api.put(f"/projects/{outside}/users/{user}/roles/{local}").status_code == 403
    assert api.put(f"/system/users/{user}/roles/{local}").status_code == 400
    put(api, f"/projects/{inside}/users/{user}/roles/{local}")
    token = login(api, user, scope={"project": {"id": inside}})
    assert token_roles(api, token) == {"member", "reader"}
    effective = assignments(api, f"?user.id={user}&effective")
    assert local not in {a["role"]["id"] for a in effective}
    assert local in {a["role"]["id"] for a in assignments(api, f"?user.id={user}")}
    # Taking the grant away revokes the token, though the token never showed the role.
    assert api.delete(f"/projects/{inside}/users/{user}/roles/{local}").status_code == 204
    assert not is_valid(api, token)


def test_a_group_grant_lets_a_member_without_a_role_of_their_own_log_in(api: Api) -> None:
    project = make_project(api, "demo")
    user, outsider = make_user(api, "alice"), make_user(api, "bob")
    group = make_group(api, "staff")
    put(api, f"/groups/{group}/users/{user}")
    assert login_status(api, user, scope={"project": {"id": project}}) == 401
    put(api, f"/projects/{project}/groups/{group}/roles/{role_id(api, 'member')}")
    token = login(api, user, scope={"project": {"id": project}})
    assert token_roles(api, token) == {"member", "reader"}
    assert login_status(api, outsider, scope={"project": {"id": project}}) == 401


def test_domain_and_system_grants_allow_those_scopes(api: Api) -> None:
    acme = make_domain(api, "acme")
    user = make_user(api, "alice")
    assert login_status(api, user, scope={"domain": {"id": acme}}) == 401
    put(api, f"/domains/{acme}/users/{user}/roles/{role_id(api, 'reader')}")
    assert token_roles(api, login(api, user, scope={"domain": {"id": acme}})) == {"reader"}
    put(api, f"/system/users/{user}/roles/{role_id(api, 'member')}")
    assert token_roles(api, login(api, user, scope={"system": {"all": True}})) == {"member", "reader"}


def test_inherited_grants_reach_the_projects_below_but_not_their_own_target(api: Api) -> None:
    acme = make_domain(api, "acme")
    top = make_project(api, "top", domain_id=acme)
    child = make_project(api, "child", parent_id=top)
    user, other = make_user(api, "alice"), make_user(api, "bob")
    member = role_id(api, "member")
    put(api, f"/OS-INHERIT/domains/{acme}/users/{user}/roles/{member}/inherited_to_projects")
    assert login_status(api, user, scope={"domain": {"id": acme}}) == 401
    assert token_roles(api, login(api, user, scope={"project": {"id": top}})) == {"member", "reader"}
    assert token_roles(api, login(api, user, scope={"project": {"id": child}})) == {"member", "reader"}
    put(api, f"/OS-INHERIT/projects/{top}/users/{other}/roles/{member}/inherited_to_projects")
    assert login_status(api, other, scope={"project": {"id": top}}) == 401
    assert token_roles(api, login(api, other, scope={"project": {"id": child}})) == {"member", "reader"}


# --- revocation when a grant goes ------------------------------------------------------------------


def test_removing_a_user_grant_revokes_the_tokens_it_gave_and_only_those(api: Api) -> None:
    demo, spare = make_project(api, "demo"), make_project(api, "spare")
    user = make_user(api, "alice")
    member, reader = role_id(api, "member"), role_id(api, "reader")
    put(api, f"/projects/{demo}/users/{user}/roles/{member}")
    put(api, f"/projects/{spare}/users/{user}/roles/{reader}")
    token = login(api, user, scope={"project": {"id": demo}})
    elsewhere = login(api, user, scope={"project": {"id": spare}})
    assert api.delete(f"/projects/{demo}/users/{user}/roles/{member}").status_code == 204
    assert not is_valid(api, token)
    assert is_valid(api, elsewhere)
    assert api.get("/auth/catalog", token=token).status_code == 401
    later(api)
    assert login_status(api, user, scope={"project": {"id": demo}}) == 401


def test_removing_a_group_grant_revokes_each_members_tokens(api: Api) -> None:
    project = make_project(api, "demo")
    alice, bob = make_user(api, "alice"), make_user(api, "bob")
    group = make_group(api, "staff")
    put(api, f"/groups/{group}/users/{alice}")
    put(api, f"/groups/{group}/users/{bob}")
    member = role_id(api, "member")
    put(api, f"/projects/{project}/groups/{group}/roles/{member}")
    tokens = [login(api, u, scope={"project": {"id": project}}) for u in (alice, bob)]
    assert api.delete(f"/projects/{project}/groups/{group}/roles/{member}").status_code == 204
    assert not any(is_valid(api, t) for t in tokens)


def test_removing_an_inherited_or_a_system_grant_revokes_the_tokens_it_gave(api: Api) -> None:
    acme = make_domain(api, "acme")
    top = make_project(api, "top", domain_id=acme)
    child = make_project(api, "child", parent_id=top)
    user = make_user(api, "alice")
    member = role_id(api, "member")
    inherited = f"/OS-INHERIT/projects/{top}/users/{user}/roles/{member}/inherited_to_projects"
    put(api, inherited)
    put(api, f"/system/users/{user}/roles/{member}")
    on_child = login(api, user, scope={"project": {"id": child}})
    on_system = login(api, user, scope={"system": {"all": True}})
    assert api.delete(inherited).status_code == 204
    assert not is_valid(api, on_child)
    assert is_valid(api, on_system)
    assert api.delete(f"/system/users/{user}/roles/{member}").status_code == 204
    assert not is_valid(api, on_system)


def test_removing_a_grant_revokes_a_trust_token_that_carried_a_role_it_implied(api: Api) -> None:
    """The trust delegates ``member`` only; the trustor held it through ``admin``, now taken away."""
    project = make_project(api, "demo")
    trustor, trustee = make_user(api, "alice"), make_user(api, "bob")
    admin, member = role_id(api, "admin"), role_id(api, "member")
    put(api, f"/projects/{project}/users/{trustor}/roles/{admin}")
    trustor_token = login(api, trustor, scope={"project": {"id": project}})
    created = api.post("/OS-TRUST/trusts", token=trustor_token, json={"trust": {
        "trustor_user_id": trustor, "trustee_user_id": trustee, "project_id": project,
        "impersonation": False, "roles": [{"id": member}]}})
    assert created.status_code == 201, created.text
    trust_token = login(api, trustee, scope={"OS-TRUST:trust": {"id": created.json()["trust"]["id"]}})
    assert token_roles(api, trust_token) == {"member", "reader"}
    assert api.delete(f"/projects/{project}/users/{trustor}/roles/{admin}").status_code == 204
    assert not is_valid(api, trust_token)


# --- grant policy --------------------------------------------------------------------------------


def domain_reader(api: Api, domain_id: str, name: str = "dora") -> str:
    """A token of a reader scoped to ``domain_id``."""
    user = make_user(api, name, domain_id=domain_id)
    put(api, f"/domains/{domain_id}/users/{user}/roles/{role_id(api, 'reader')}")
    return login(api, user, scope={"domain": {"id": domain_id}})


def test_only_admins_grant_and_domain_readers_check_grants_within_their_domain(api: Api) -> None:
    acme, other = make_domain(api, "acme"), make_domain(api, "other")
    reader_token = domain_reader(api, acme)
    inside = make_project(api, "inside", domain_id=acme)
    outside = make_project(api, "outside", domain_id=other)
    local_user, foreign_user = make_user(api, "alice", domain_id=acme), make_user(api, "bob", domain_id=other)
    member = role_id(api, "member")
    assert api.put(f"/projects/{inside}/users/{local_user}/roles/{member}", token=reader_token).status_code == 403
    put(api, f"/projects/{inside}/users/{local_user}/roles/{member}")
    put(api, f"/projects/{outside}/users/{foreign_user}/roles/{member}")
    put(api, f"/projects/{inside}/users/{foreign_user}/roles/{member}")
    assert api.get(f"/projects/{inside}/users/{local_user}/roles/{member}", token=reader_token).status_code == 204
    assert api.get(f"/projects/{inside}/users/{local_user}/roles", token=reader_token).status_code == 200
    assert api.get(f"/projects/{outside}/users/{foreign_user}/roles/{member}", token=reader_token).status_code == 403
    assert api.get(f"/projects/{inside}/users/{foreign_user}/roles", token=reader_token).status_code == 403
    assert api.get(f"/system/users/{local_user}/roles", token=reader_token).status_code == 403
    assert api.delete(f"/projects/{inside}/users/{local_user}/roles/{member}", token=reader_token).status_code == 403
    # Refused callers learn nothing about what exists.
    assert api.get(f"/projects/nope/users/{foreign_user}/roles/{member}", token=reader_token).status_code == 403


# --- /v3/role_assignments ------------------------------------------------------------------------


@pytest.fixture
def scene(api: Api) -> dict[str, str]:
    """acme ⊃ top ⊃ child; alice (member on top), staff group (with bob) reader on acme, an inherited grant."""
    acme = make_domain(api, "acme")
    top = make_project(api, "top", domain_id=acme)
    child = make_project(api, "child", parent_id=top)
    alice, bob = make_user(api, "alice", domain_id=acme), make_user(api, "bob", domain_id=acme)
    staff = make_group(api, "staff", domain_id=acme)
    put(api, f"/groups/{staff}/users/{bob}")
    ids = {"acme": acme, "top": top, "child": child, "alice": alice, "bob": bob, "staff": staff,
           "admin": role_id(api, "admin"), "member": role_id(api, "member"), "reader": role_id(api, "reader")}
    put(api, f"/projects/{top}/users/{alice}/roles/{ids['member']}")
    put(api, f"/domains/{acme}/groups/{staff}/roles/{ids['reader']}")
    put(api, f"/OS-INHERIT/domains/{acme}/groups/{staff}/roles/{ids['member']}/inherited_to_projects")
    return ids


def test_assignments_are_listed_as_stored_with_links_to_their_grants(api: Api, scene: dict[str, str]) -> None:
    body = api.get(f"/role_assignments?scope.project.id={scene['top']}").json()
    assert body["links"]["self"].endswith(f"/role_assignments?scope.project.id={scene['top']}")
    assert body["role_assignments"] == [{
        "role": {"id": scene["member"]},
        "user": {"id": scene["alice"]},
        "scope": {"project": {"id": scene["top"]}},
        "links": {"assignment": "http://127.0.0.1:8000/identity/v3/projects/"
                                f"{scene['top']}/users/{scene['alice']}/roles/{scene['member']}"},
    }]
    group_entries = assignments(api, f"?group.id={scene['staff']}")
    assert summary(group_entries) == {(scene["reader"], scene["staff"], scene["acme"], False),
                                      (scene["member"], scene["staff"], scene["acme"], True)}
    inherited = next(e for e in group_entries if e["scope"].get("OS-INHERIT:inherited_to"))
    assert inherited["scope"] == {"domain": {"id": scene["acme"]}, "OS-INHERIT:inherited_to": "projects"}
    assert inherited["links"]["assignment"].endswith(
        f"/v3/OS-INHERIT/domains/{scene['acme']}/groups/{scene['staff']}/roles/{scene['member']}"
        "/inherited_to_projects")


def test_assignment_filters(api: Api, scene: dict[str, str]) -> None:
    everything = summary(assignments(api))
    assert (scene["member"], scene["alice"], scene["top"], False) in everything
    assert summary(assignments(api, f"?user.id={scene['alice']}")) == {
        (scene["member"], scene["alice"], scene["top"], False)}
    assert summary(assignments(api, f"?role.id={scene['reader']}")) == {
        (scene["reader"], scene["staff"], scene["acme"], False)}
    assert summary(assignments(api, f"?scope.domain.id={scene['acme']}&scope.OS-INHERIT:inherited_to=projects")) == {
        (scene["member"], scene["staff"], scene["acme"], True)}
    system = assignments(api, "?scope.system=all")
    assert system and all(e["scope"] == {"system": {"all": True}} for e in system)
    assert assignments(api, f"?scope.project.id={scene['child']}") == []
    subtree = assignments(api, f"?scope.project.id={scene['top']}&include_subtree=true")
    assert summary(subtree) == {(scene["member"], scene["alice"], scene["top"], False)}


def test_effective_assignments_expand_groups_inheritance_and_implied_roles(api: Api, scene: dict[str, str]) -> None:
    bob = assignments(api, f"?user.id={scene['bob']}&effective")
    assert summary(bob) == {
        (scene["reader"], scene["bob"], scene["acme"], False),
        (scene["member"], scene["bob"], scene["top"], True), (scene["reader"], scene["bob"], scene["top"], True),
        (scene["member"], scene["bob"], scene["child"], True), (scene["reader"], scene["bob"], scene["child"], True),
    }
    on_child = next(e for e in bob if e["scope"].get("project", {}).get("id") == scene["child"]
                    and e["role"]["id"] == scene["reader"])
    assert on_child["scope"] == {"project": {"id": scene["child"]}, "OS-INHERIT:inherited_to": "projects"}
    assert on_child["links"]["assignment"].endswith(
        f"/v3/OS-INHERIT/domains/{scene['acme']}/groups/{scene['staff']}/roles/{scene['member']}"
        "/inherited_to_projects")
    assert on_child["links"]["membership"].endswith(f"/v3/groups/{scene['staff']}/users/{scene['bob']}")
    assert on_child["links"]["prior_role"].endswith(f"/v3/roles/{scene['member']}/implies/{scene['reader']}")
    on_child_project = summary(assignments(api, f"?scope.project.id={scene['child']}&effective"))
    assert on_child_project == {(scene["member"], scene["bob"], scene["child"], True),
                                (scene["reader"], scene["bob"], scene["child"], True)}
    with_subtree = summary(assignments(api, f"?scope.project.id={scene['top']}&include_subtree=1&effective"
                                            f"&role.id={scene['member']}"))
    assert with_subtree == {(scene["member"], scene["alice"], scene["top"], False),
                            (scene["member"], scene["bob"], scene["top"], True),
                            (scene["member"], scene["bob"], scene["child"], True)}
    not_inherited = summary(assignments(api, f"?user.id={scene['bob']}&effective"
                                             "&scope.OS-INHERIT:inherited_to=false"))
    assert not_inherited == {(scene["reader"], scene["bob"], scene["acme"], False)}


def test_include_names_names_every_party_with_its_domain(api: Api, scene: dict[str, str]) -> None:
    entry = assignments(api, f"?user.id={scene['alice']}&include_names")[0]
    assert entry["role"] == {"id": scene["member"], "name": "member"}
    assert entry["user"] == {"id": scene["alice"], "name": "alice", "domain": {"id": scene["acme"], "name": "acme"}}
    assert entry["scope"]["project"] == {"id": scene["top"], "name": "top",
                                         "domain": {"id": scene["acme"], "name": "acme"}}
    group_entry = assignments(api, f"?group.id={scene['staff']}&include_names=True&role.id={scene['reader']}")[0]
    assert group_entry["group"] == {"id": scene["staff"], "name": "staff",
                                    "domain": {"id": scene["acme"], "name": "acme"}}
    assert group_entry["scope"]["domain"] == {"id": scene["acme"], "name": "acme"}
    local = make_role(api, "local", domain_id=scene["acme"])
    put(api, f"/projects/{scene['top']}/users/{scene['alice']}/roles/{local}")
    named = assignments(api, f"?role.id={local}&include_names")[0]
    assert named["role"] == {"id": local, "name": "local", "domain": {"id": scene["acme"], "name": "acme"}}


@pytest.mark.parametrize("query", [
    "?scope.project.id=p&scope.domain.id=d", "?scope.system=all&scope.domain.id=d",
    "?scope.system=all&scope.project.id=p", "?user.id=u&group.id=g", "?effective&group.id=g",
    "?effective&scope.domain.id=d&scope.OS-INHERIT:inherited_to=projects", "?include_subtree=true",
])
def test_useless_filter_combinations_are_400(api: Api, query: str) -> None:
    response = api.get(f"/role_assignments{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_an_unknown_project_with_a_subtree_is_404(api: Api) -> None:
    assert api.get("/role_assignments?scope.project.id=nope&include_subtree=true").status_code == 404
    assert assignments(api, "?scope.project.id=nope") == []


def test_users_list_their_own_assignments_only_and_domain_readers_their_domains(
        api: Api, scene: dict[str, str]) -> None:
    alice = login(api, scene["alice"], scope={"project": {"id": scene["top"]}})
    own = assignments(api, f"?user.id={scene['alice']}&effective", token=alice)
    assert {e["user"]["id"] for e in own} == {scene["alice"]}
    assert api.get("/role_assignments", token=alice).status_code == 403
    assert api.get(f"/role_assignments?user.id={scene['bob']}", token=alice).status_code == 403
    assert api.get(f"/role_assignments?scope.project.id={scene['top']}", token=alice).status_code == 403

    other = make_domain(api, "other")
    elsewhere = make_project(api, "elsewhere", domain_id=other)
    put(api, f"/projects/{elsewhere}/users/{scene['alice']}/roles/{scene['reader']}")
    acme_reader = domain_reader(api, scene["acme"])
    seen = assignments(api, token=acme_reader)
    assert seen and (scene["reader"], scene["alice"], elsewhere, False) not in summary(seen)
    assert (scene["member"], scene["alice"], scene["top"], False) in summary(seen)
    assert all(e["scope"].get("domain", {}).get("id") == scene["acme"] or
               e["scope"].get("project", {}).get("id") in {scene["top"], scene["child"]} for e in seen)
    assert summary(assignments(api, f"?scope.project.id={elsewhere}", token=acme_reader)) == set()
