"""Domains and projects over the identity API: bodies, filters, the project tree, tags, policy, revocation."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.identity_people import (
    grant,
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
from twinstack.db.models.identity import RoleAssignment

# --- domains -------------------------------------------------------------------------------------


def test_a_domain_is_created_shown_listed_and_updated_in_keystone_shape(api: Api) -> None:
    created = api.post("/domains", json={"domain": {"name": "acme", "description": "Acme Inc.", "tags": ["eu"]}})
    assert created.status_code == 201
    domain = created.json()["domain"]
    assert set(domain) == {"id", "name", "description", "enabled", "tags", "options", "links"}
    assert domain["enabled"] is True and domain["tags"] == ["eu"] and domain["options"] == {}
    assert domain["links"]["self"].endswith(f"/identity/v3/domains/{domain['id']}")

    assert api.get(f"/domains/{domain['id']}").json()["domain"] == domain
    listed = api.get("/domains", params={"name": "acme"}).json()
    assert [d["id"] for d in listed["domains"]] == [domain["id"]]
    assert listed["links"]["self"].endswith("/domains?name=acme")

    updated = api.patch(f"/domains/{domain['id']}", json={"domain": {"description": "Acme", "enabled": False}})
    assert updated.status_code == 200
    assert updated.json()["domain"]["description"] == "Acme"
    assert [d["name"] for d in api.get("/domains", params={"enabled": "false"}).json()["domains"]] == ["acme"]
    assert "acme" not in [d["name"] for d in api.get("/domains", params={"enabled": "true"}).json()["domains"]]


def test_domain_names_are_unique(api: Api) -> None:
    make_domain(api, "acme")
    clash = api.post("/domains", json={"domain": {"name": "acme"}})
    assert clash.status_code == 409
    assert clash.json()["error"]["title"] == "Conflict"


def test_a_missing_domain_is_404_in_keystone_format(api: Api) -> None:
    response = api.get("/domains/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "title": "Not Found", "message": "Could not find domain: nope."}}


def test_an_enabled_domain_cannot_be_deleted(api: Api) -> None:
    domain_id = make_domain(api, "acme")
    refused = api.delete(f"/domains/{domain_id}")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Cannot delete a domain that is enabled, please disable it first."
    assert api.get(f"/domains/{domain_id}").status_code == 200


def test_deleting_a_disabled_domain_removes_its_projects_users_and_groups(api: Api) -> None:
    domain_id = make_domain(api, "acme")
    parent = make_project(api, "web", domain_id=domain_id)
    child = make_project(api, "web-db", parent_id=parent)
    user = make_user(api, "wile", domain_id)
    group = make_group(api, "coyotes", domain_id)
    assert api.put(f"/groups/{group}/users/{user}").status_code == 204
    grant(api, "member", user=user, project=child)
    grant(api, "reader", group=group, domain=domain_id)
    outsider = make_user(api, "roadrunner")
    grant(api, "member", user=outsider, project=parent)

    assert api.patch(f"/domains/{domain_id}", json={"domain": {"enabled": False}}).status_code == 200
    assert api.delete(f"/domains/{domain_id}").status_code == 204

    for path in (f"/domains/{domain_id}", f"/projects/{parent}", f"/projects/{child}", f"/users/{user}",
                 f"/groups/{group}"):
        assert api.get(path).status_code == 404, path
    assert api.get(f"/users/{outsider}").status_code == 200
    assert api.get(f"/users/{outsider}/projects").json()["projects"] == []
    with api.cloud.sessions() as session:
        left = session.scalars(select(RoleAssignment).where(
            RoleAssignment.target_id.in_([domain_id, parent, child]))).all()
    assert left == []


def test_disabling_a_domain_revokes_the_tokens_of_its_users_and_projects(api: Api) -> None:
    domain_id = make_domain(api, "acme")
    project = make_project(api, "web", domain_id=domain_id)
    user = make_user(api, "wile", domain_id)
    grant(api, "member", user=user, project=project)
    token = login(api, user, scope={"project": {"id": project}})

    api.patch(f"/domains/{domain_id}", json={"domain": {"enabled": False}})
    assert not is_valid(api, token)
    assert is_valid(api, api.admin_token)
    assert login_status(api, user) == 401

    api.patch(f"/domains/{domain_id}", json={"domain": {"enabled": True}})
    later(api)
    assert is_valid(api, login(api, user, scope={"project": {"id": project}}))


# --- projects ------------------------------------------------------------------------------------


def test_a_top_level_project_shows_its_domain_as_parent_and_keeps_extra_attributes(api: Api) -> None:
    created = api.post("/projects", json={"project": {"name": "demo", "description": "Demo", "tags": ["a"],
                                                      "color": "blue"}})
    assert created.status_code == 201
    project = created.json()["project"]
    assert project["domain_id"] == "default"  # the caller's (project-scoped admin's) domain
    assert project["parent_id"] == "default"
    assert project["is_domain"] is False
    assert project["color"] == "blue"
    assert {"id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain", "tags", "options",
            "links"} <= set(project)
    assert api.get(f"/projects/{project['id']}").json()["project"] == project


def test_a_child_project_is_made_in_its_parents_domain(api: Api) -> None:
    domain_id = make_domain(api, "acme")
    parent = make_project(api, "web", domain_id=domain_id)
    child = api.post("/projects", json={"project": {"name": "web-db", "parent_id": parent}}).json()["project"]
    assert child["domain_id"] == domain_id
    assert child["parent_id"] == parent

    elsewhere = api.post("/projects", json={"project": {"name": "x", "parent_id": parent, "domain_id": "default"}})
    assert elsewhere.status_code == 400
    unknown_parent = api.post("/projects", json={"project": {"name": "y", "parent_id": "nope"}})
    assert unknown_parent.status_code == 400


def test_project_names_are_unique_within_a_domain_only(api: Api) -> None:
    make_project(api, "demo")
    clash = api.post("/projects", json={"project": {"name": "demo"}})
    assert clash.status_code == 409
    assert "same name in the same domain" in clash.json()["error"]["message"]
    other = make_domain(api, "acme")
    assert api.post("/projects", json={"project": {"name": "demo", "domain_id": other}}).status_code == 201


def test_a_project_is_found_by_name_after_a_404_on_the_name_as_id(api: Api) -> None:
    project = make_project(api, "demo")
    assert api.get("/projects/demo").status_code == 404
    assert [p["id"] for p in api.get("/projects", params={"name": "demo"}).json()["projects"]] == [project]


def test_projects_are_filtered_by_name_domain_parent_and_enabled(api: Api) -> None:
    acme = make_domain(api, "acme")
    web = make_project(api, "web", domain_id=acme)
    db = make_project(api, "db", parent_id=web, enabled=False)
    demo = make_project(api, "demo")

    def ids(**params: str) -> set[str]:
        return {p["id"] for p in api.get("/projects", params=params).json()["projects"]}

    assert ids(domain_id=acme) == {web, db}
    assert ids(parent_id=web) == {db}
    assert ids(parent_id=acme) == {web}
    assert demo in ids(domain_id="default")
    assert ids(domain_id=acme, enabled="false") == {db}
    assert ids(name="web") == {web}


def test_projects_are_filtered_by_tags(api: Api) -> None:
    both = make_project(api, "both", tags=["red", "big"])
    red = make_project(api, "red", tags=["red"])
    plain = make_project(api, "plain")

    def ids(**params: str) -> set[str]:
        return {p["id"] for p in api.get("/projects", params=params).json()["projects"]} & {both, red, plain}

    assert ids(tags="red,big") == {both}
    assert ids(**{"tags-any": "big,red"}) == {both, red}
    assert ids(**{"not-tags": "red,big"}) == {red, plain}
    assert ids(**{"not-tags-any": "big,red"}) == {plain}


def test_parents_and_subtree_as_ids_are_nested_dicts_rooted_at_the_domain(api: Api) -> None:
    a = make_project(api, "a")
    b = make_project(api, "b", parent_id=a)
    c = make_project(api, "c", parent_id=b)
    d = make_project(api, "d", parent_id=b)

    assert api.get(f"/projects/{c}", params={"parents_as_ids": ""}).json()["project"]["parents"] == {
        b: {a: {"default": None}}}
    assert api.get(f"/projects/{a}", params={"parents_as_ids": ""}).json()["project"]["parents"] == {
        "default": None}
    assert api.get(f"/projects/{a}", params={"subtree_as_ids": ""}).json()["project"]["subtree"] == {
        b: {c: None, d: None}}
    assert api.get(f"/projects/{c}", params={"subtree_as_ids": ""}).json()["project"]["subtree"] is None


def test_parents_and_subtree_as_list_show_only_projects_the_caller_holds_a_role_on(api: Api) -> None:
    top = make_project(api, "top")
    middle = make_project(api, "middle", parent_id=top)
    leaf = make_project(api, "leaf", parent_id=middle)
    user = make_user(api, "alice")
    for project in (top, leaf):
        grant(api, "member", user=user, project=project)
    admin_id = api.get("/users", params={"name": "admin"}).json()["users"][0]["id"]
    grant(api, "member", user=admin_id, project=top)

    parents = api.get(f"/projects/{leaf}", params={"parents_as_list": ""}).json()["project"]["parents"]
    assert [p["project"]["id"] for p in parents] == [top]
    assert parents[0]["project"]["name"] == "top"
    subtree = api.get(f"/projects/{top}", params={"subtree_as_list": ""}).json()["project"]["subtree"]
    assert subtree == []

    token = login(api, user, scope={"project": {"id": leaf}})
    mine = api.get(f"/projects/{leaf}", params={"parents_as_list": ""}, token=token).json()["project"]["parents"]
    assert [p["project"]["id"] for p in mine] == [top]

    both = api.get(f"/projects/{leaf}", params={"parents_as_list": "", "parents_as_ids": ""})
    assert both.status_code == 400


def test_a_project_with_children_cannot_be_deleted_but_a_leaf_can(api: Api) -> None:
    parent = make_project(api, "parent")
    child = make_project(api, "child", parent_id=parent)
    refused = api.delete(f"/projects/{parent}")
    assert refused.status_code == 403
    assert "not a leaf" in refused.json()["error"]["message"]
    assert api.delete(f"/projects/{child}").status_code == 204
    assert api.delete(f"/projects/{parent}").status_code == 204
    assert api.get(f"/projects/{parent}").status_code == 404
    assert api.delete(f"/projects/{parent}").status_code == 404


def test_a_subtree_is_disabled_from_the_leaves_up_and_enabled_from_the_top_down(api: Api) -> None:
    parent = make_project(api, "parent")
    child = make_project(api, "child", parent_id=parent)

    def set_enabled(project: str, enabled: bool) -> int:
        return api.patch(f"/projects/{project}", json={"project": {"enabled": enabled}}).status_code

    assert set_enabled(parent, False) == 403
    assert set_enabled(child, False) == 200
    assert set_enabled(parent, False) == 200
    assert set_enabled(child, True) == 403
    under_disabled = api.post("/projects", json={"project": {"name": "late", "parent_id": parent}})
    assert under_disabled.status_code == 400
    assert set_enabled(parent, True) == 200
    assert set_enabled(child, True) == 200


def test_the_tree_is_at_most_five_levels_deep(api: Api) -> None:
    parent = make_project(api, "level1")
    for level in range(2, 6):
        parent = make_project(api, f"level{level}", parent_id=parent)
    too_deep = api.post("/projects", json={"project": {"name": "level6", "parent_id": parent}})
    assert too_deep.status_code == 403


def test_a_projects_parent_and_domain_cannot_change(api: Api) -> None:
    other = make_project(api, "other")
    project = make_project(api, "demo")
    acme = make_domain(api, "acme")
    assert api.patch(f"/projects/{project}", json={"project": {"parent_id": other}}).status_code == 403
    assert api.patch(f"/projects/{project}", json={"project": {"domain_id": acme}}).status_code == 400
    assert api.patch(f"/projects/{project}", json={"project": {"id": other}}).status_code == 400
    same = api.patch(f"/projects/{project}", json={"project": {"parent_id": "default", "domain_id": "default",
                                                               "name": "renamed", "color": "red"}})
    assert same.status_code == 200
    assert same.json()["project"]["name"] == "renamed"
    assert same.json()["project"]["color"] == "red"


def test_an_immutable_project_changes_only_by_clearing_the_flag(api: Api) -> None:
    project = make_project(api, "fixed", options={"immutable": True})
    assert api.patch(f"/projects/{project}", json={"project": {"description": "x"}}).status_code == 403
    assert api.delete(f"/projects/{project}").status_code == 403
    cleared = api.patch(f"/projects/{project}", json={"project": {"options": {"immutable": False}}})
    assert cleared.status_code == 200
    assert api.delete(f"/projects/{project}").status_code == 204
    assert api.post("/projects", json={"project": {"name": "x", "options": {"colour": 1}}}).status_code == 400


def test_disabling_a_project_revokes_its_tokens(api: Api) -> None:
    project = make_project(api, "demo")
    other = make_project(api, "other")
    user = make_user(api, "alice")
    grant(api, "member", user=user, project=project)
    grant(api, "member", user=user, project=other)
    scoped = login(api, user, scope={"project": {"id": project}})
    elsewhere = login(api, user, scope={"project": {"id": other}})

    api.patch(f"/projects/{project}", json={"project": {"enabled": False}})
    assert not is_valid(api, scoped)
    assert is_valid(api, elsewhere)
    assert login_status(api, user, scope={"project": {"id": project}}) == 401

    api.patch(f"/projects/{project}", json={"project": {"enabled": True}})
    later(api)
    assert is_valid(api, login(api, user, scope={"project": {"id": project}}))


def test_deleting_a_project_revokes_its_tokens_and_removes_its_role_assignments(api: Api) -> None:
    project = make_project(api, "demo")
    user = make_user(api, "alice")
    group = make_group(api, "devs")
    grant(api, "member", user=user, project=project)
    grant(api, "reader", group=group, project=project)
    token = login(api, user, scope={"project": {"id": project}})

    assert api.delete(f"/projects/{project}").status_code == 204
    assert not is_valid(api, token)
    with api.cloud.sessions() as session:
        assert session.scalars(select(RoleAssignment).where(RoleAssignment.target_id == project)).all() == []


def test_project_tags_can_be_replaced_added_checked_and_removed(api: Api) -> None:
    project = make_project(api, "demo", tags=["a"])
    replaced = api.put(f"/projects/{project}/tags", json={"tags": ["b", "c"]})
    assert replaced.status_code == 200
    assert replaced.json()["tags"] == ["b", "c"]
    assert api.get(f"/projects/{project}/tags").json()["tags"] == ["b", "c"]

    added = api.put(f"/projects/{project}/tags/d")
    assert added.status_code == 201
    assert added.headers["Location"].endswith(f"/v3/projects/{project}/tags/d")
    assert api.head(f"/projects/{project}/tags/d").status_code == 204
    assert api.get(f"/projects/{project}/tags/zzz").status_code == 404

    assert api.delete(f"/projects/{project}/tags/b").status_code == 204
    assert api.delete(f"/projects/{project}/tags/b").status_code == 404
    assert api.get(f"/projects/{project}").json()["project"]["tags"] == ["c", "d"]
    assert api.delete(f"/projects/{project}/tags").status_code == 204
    assert api.get(f"/projects/{project}/tags").json()["tags"] == []


def test_invalid_tags_are_400(api: Api) -> None:
    project = make_project(api, "demo")
    assert api.put(f"/projects/{project}/tags", json={"tags": ["a,b"]}).status_code == 400
    assert api.put(f"/projects/{project}/tags", json={"tags": ["x", "x"]}).status_code == 400
    assert api.put(f"/projects/{project}/tags", json={"tags": [f"t{i}" for i in range(81)]}).status_code == 400
    api.put(f"/projects/{project}/tags", json={"tags": [f"t{i}" for i in range(80)]})
    assert api.put(f"/projects/{project}/tags/one-too-many").status_code == 400


def test_malformed_project_bodies_are_400(api: Api) -> None:
    assert api.post("/projects", json={"project": {"description": "no name"}}).status_code == 400
    assert api.post("/projects", json={"project": {"name": "x", "enabled": "yes"}}).status_code == 400
    assert api.post("/projects", json={"name": "unwrapped"}).status_code == 400


def test_domains_show_as_projects_acting_as_domains(api: Api) -> None:
    shown = api.get("/projects/default").json()["project"]
    assert shown["is_domain"] is True
    assert shown["domain_id"] is None and shown["parent_id"] is None
    listed = api.get("/projects", params={"is_domain": "true"}).json()["projects"]
    assert [p["id"] for p in listed] == ["default"]
    assert all(not p["is_domain"] for p in api.get("/projects").json()["projects"])
    assert api.post("/projects", json={"project": {"name": "d", "is_domain": True}}).status_code == 400


# --- policy --------------------------------------------------------------------------------------


def test_a_project_member_sees_its_own_project_only(api: Api) -> None:
    project = make_project(api, "demo")
    other = make_project(api, "other")
    user = make_user(api, "alice")
    grant(api, "member", user=user, project=project)
    token = login(api, user, scope={"project": {"id": project}})

    assert api.get(f"/projects/{project}", token=token).status_code == 200
    assert api.get(f"/projects/{project}/tags", token=token).status_code == 200
    assert api.get(f"/projects/{other}", token=token).status_code == 403
    assert api.get("/projects/nope", token=token).status_code == 403
    assert api.get("/projects", token=token).status_code == 403
    assert api.patch(f"/projects/{project}", json={"project": {"name": "mine"}}, token=token).status_code == 403
    assert api.post("/projects", json={"project": {"name": "new"}}, token=token).status_code == 403
    assert api.get("/domains", token=token).status_code == 403
    assert api.get("/domains/default", token=token).status_code == 200  # the domain of its project


def test_a_domain_reader_lists_the_projects_of_its_domain_only(api: Api) -> None:
    acme = make_domain(api, "acme")
    web = make_project(api, "web", domain_id=acme)
    make_project(api, "demo")
    reader = make_user(api, "auditor", acme)
    grant(api, "reader", user=reader, domain=acme)
    token = login(api, reader, scope={"domain": {"id": acme}})

    listed = api.get("/projects", token=token)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["projects"]] == [web]
    assert api.get("/projects", params={"domain_id": "default"}, token=token).status_code == 403
    assert api.get(f"/projects/{web}", token=token).status_code == 200
    assert api.post("/projects", json={"project": {"name": "new", "domain_id": acme}}, token=token).status_code == 403
