"""Domains, projects, users and groups with the unmodified ``openstack`` CLI against a served cloud.

Every object is made and changed with the CLI. Each CLI call costs ~1.5 s, so the flows are lean;
what the CLI does not need to show (a 404 after a delete, a token's validity) is checked over HTTP
with the admin's token.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import OpenStackCLI, Served

pytestmark = pytest.mark.slow

PASSWORD = "cli-pass-1"
NEW_PASSWORD = "cli-pass-2"


class Admin:
    """The identity API over HTTP with the admin's token, for checks the CLI is not under test for."""

    def __init__(self, served: Served) -> None:
        self.base = f"{served.url}/identity/v3"
        auth = served.admin_auth()
        issued = httpx.post(f"{self.base}/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}})
        assert issued.status_code == 201, issued.text
        self.http = httpx.Client(base_url=self.base, headers={"X-Auth-Token": issued.headers["X-Subject-Token"]})

    def status(self, method: str, path: str, **kwargs: Any) -> int:
        return self.http.request(method, path, **kwargs).status_code

    def token_is_valid(self, token: str) -> bool:
        return self.status("GET", "/auth/tokens", headers={"X-Subject-Token": token}) == 200


@pytest.fixture(scope="module")
def admin(served: Served) -> Iterator[Admin]:
    made = Admin(served)
    yield made
    made.http.close()


def user_cloud(path: Path, served: Served, user: str, project: str) -> dict[str, str]:
    """Environment for the CLI to log in as ``user`` on ``project`` (password :data:`PASSWORD`)."""
    path.write_text(yaml.safe_dump({"clouds": {user: {
        "auth": {"auth_url": f"{served.url}/identity/v3", "username": user, "password": PASSWORD,
                 "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    return {"OS_CLIENT_CONFIG_FILE": str(path), "OS_CLOUD": user}


def test_project_create_with_parent_list_show_set_and_delete(openstack: OpenStackCLI, admin: Admin) -> None:
    parent = openstack.json("project", "create", "--description", "Web shop", "shop")
    assert (parent["domain_id"], parent["parent_id"], parent["enabled"]) == ("default", "default", True)
    child = openstack.json("project", "create", "--parent", "shop", "shop-db")
    assert child["parent_id"] == parent["id"]
    duplicate = openstack.run("project", "create", "shop", check=False)
    assert duplicate.returncode != 0
    assert "ConflictException: 409" in duplicate.stderr

    names = [p["Name"] for p in openstack.json("project", "list")]
    assert {"shop", "shop-db"} <= set(names)
    shown = openstack.json("project", "show", "--children", "shop")
    assert shown["id"] == parent["id"]
    assert shown["subtree"] == {child["id"]: None}

    openstack.run("project", "set", "--disable", "--description", "Database", "--tag", "db", "shop-db")
    changed = openstack.json("project", "show", child["id"])
    assert (changed["enabled"], changed["description"], changed["tags"]) == (False, "Database", ["db"])

    refused = openstack.run("project", "delete", "shop", check=False)
    assert refused.returncode != 0
    assert "not a leaf" in refused.stderr
    openstack.run("project", "delete", "shop-db", "shop")
    assert admin.status("GET", f"/projects/{parent['id']}") == 404
    assert admin.status("GET", f"/projects/{child['id']}") == 404


def test_domain_create_disable_and_delete_takes_its_projects(openstack: OpenStackCLI, admin: Admin) -> None:
    domain = openstack.json("domain", "create", "--description", "Acme Inc.", "acme")
    assert (domain["name"], domain["enabled"]) == ("acme", True)
    project = openstack.json("project", "create", "--domain", "acme", "rockets")
    assert project["domain_id"] == domain["id"]

    refused = openstack.run("domain", "delete", "acme", check=False)
    assert refused.returncode != 0
    assert "please disable it first" in refused.stderr
    openstack.run("domain", "set", "--disable", "acme")
    openstack.run("domain", "delete", "acme")
    assert admin.status("GET", f"/domains/{domain['id']}") == 404
    assert admin.status("GET", f"/projects/{project['id']}") == 404


def test_user_create_login_password_change_and_disable(openstack: OpenStackCLI, admin: Admin, served: Served,
                                                       tmp_path: Path) -> None:
    project = openstack.json("project", "create", "lab")
    user = openstack.json("user", "create", "--password", PASSWORD, "--email", "alice@example.org", "alice")
    assert user["email"] == "alice@example.org"
    assert "password" not in user
    assert openstack.json("user", "show", "--domain", "default", "alice")["id"] == user["id"]
    openstack.run("role", "add", "--user", "alice", "--project", "lab", "member")
    alice = user_cloud(tmp_path / "clouds.yaml", served, "alice", "lab")

    first = openstack.json("token", "issue", env=alice)
    assert (first["user_id"], first["project_id"]) == (user["id"], project["id"])

    openstack.run("user", "password", "set", "--original-password", PASSWORD, "--password", NEW_PASSWORD, env=alice)
    assert not admin.token_is_valid(first["id"])
    old_password = {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"],
                                                                                "password": PASSWORD}}}}
    assert admin.status("POST", "/auth/tokens", json={"auth": old_password}) == 401
    second = openstack.json("--os-password", NEW_PASSWORD, "token", "issue", env=alice)
    assert admin.token_is_valid(second["id"])

    openstack.run("user", "set", "--disable", "alice")
    assert not admin.token_is_valid(second["id"])
    refused = openstack.run("--os-password", NEW_PASSWORD, "token", "issue", env=alice, check=False)
    assert refused.returncode != 0
    assert "401" in refused.stderr


def test_group_create_add_contains_and_remove_user(openstack: OpenStackCLI, admin: Admin) -> None:
    group = openstack.json("group", "create", "--description", "Developers", "devs")
    assert (group["name"], group["domain_id"]) == ("devs", "default")
    bob = openstack.json("user", "create", "--password", PASSWORD, "bob")

    openstack.run("group", "add", "user", "devs", "bob")
    contains = openstack.run("group", "contains", "user", "devs", "bob")
    assert "bob in group devs" in contains.stdout + contains.stderr
    assert admin.status("HEAD", f"/groups/{group['id']}/users/{bob['id']}") == 204

    openstack.run("group", "remove", "user", "devs", "bob")
    assert admin.status("HEAD", f"/groups/{group['id']}/users/{bob['id']}") == 404


def test_user_and_project_lists_page_with_limit_and_marker(openstack: OpenStackCLI, admin: Admin) -> None:
    """``--limit`` is the page size the CLI walks the whole list with; ``--marker`` starts after an id."""
    made = {openstack.json("user", "create", "--password", PASSWORD, f"pager-{n}")["id"] for n in range(3)}
    group = openstack.json("group", "create", "pagers")["id"]
    for user_id in made:
        admin.http.put(f"/groups/{group}/users/{user_id}").raise_for_status()
    every = sorted(u["id"] for u in admin.http.get("/users").json()["users"])

    assert sorted(u["ID"] for u in openstack.json("user", "list", "--limit", "1")) == every
    assert [u["ID"] for u in openstack.json("user", "list", "--limit", "2", "--max-items", "2")] == every[:2]
    assert [u["ID"] for u in openstack.json("user", "list", "--marker", every[1])] == every[2:]
    assert sorted(u["ID"] for u in openstack.json("user", "list", "--group", "pagers", "--limit", "2")) == sorted(made)

    projects = sorted(p["id"] for p in admin.http.get("/projects").json()["projects"])
    assert sorted(p["ID"] for p in openstack.json("project", "list", "--limit", "1")) == projects
    assert [p["ID"] for p in openstack.json("project", "list", "--limit", "1", "--marker", projects[0])] == projects[1:]
