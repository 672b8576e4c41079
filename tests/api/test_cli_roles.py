"""Roles, implied roles, grants and role assignments with the unmodified ``openstack`` CLI.

Every object is made with the CLI. Each CLI call costs ~1.5 s, so the flows are lean: what the
CLI is not under test for (validating a token, a lookup by name) is done over HTTP with the admin's
token.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import OpenStackCLI, Served

pytestmark = pytest.mark.slow

PASSWORD = "cli-roles-pass"


class Admin:
    """The identity API over HTTP with the admin's token."""

    def __init__(self, served: Served) -> None:
        auth = served.admin_auth()
        base = f"{served.url}/identity/v3"
        issued = httpx.post(f"{base}/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}})
        assert issued.status_code == 201, issued.text
        self.http = httpx.Client(base_url=base, headers={"X-Auth-Token": issued.headers["X-Subject-Token"]})

    def token(self, token: str) -> httpx.Response:
        """The admin's validation of ``token`` (200 with the body, or 404 once revoked)."""
        return self.http.get("/auth/tokens", headers={"X-Subject-Token": token})


@pytest.fixture(scope="module")
def admin(served: Served) -> Iterator[Admin]:
    made = Admin(served)
    yield made
    made.http.close()


def user_cloud(path: Path, served: Served, user: str, project: str) -> dict[str, str]:
    """Environment for the CLI to log in as ``user`` on ``project``."""
    path.write_text(yaml.safe_dump({"clouds": {user: {
        "auth": {"auth_url": f"{served.url}/identity/v3", "username": user, "password": PASSWORD,
                 "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    return {"OS_CLIENT_CONFIG_FILE": str(path), "OS_CLOUD": user}


def test_role_create_show_imply_list_and_delete(openstack: OpenStackCLI, admin: Admin) -> None:
    role = openstack.json("role", "create", "--description", "Reads audit logs", "auditor")
    assert (role["name"], role["description"]) == ("auditor", "Reads audit logs")
    assert openstack.json("role", "show", "auditor")["id"] == role["id"]

    rule = openstack.json("implied", "role", "create", "auditor", "--implied-role", "reader")
    reader = admin.http.get("/roles?name=reader").json()["roles"][0]["id"]
    assert rule == {"prior_role": role["id"], "implies": reader}
    pairs = {(r["Prior Role Name"], r["Implied Role Name"]) for r in openstack.json("implied", "role", "list")}
    assert {("auditor", "reader"), ("admin", "member"), ("member", "reader")} <= pairs

    assert "auditor" in {r["Name"] for r in openstack.json("role", "list")}
    openstack.run("role", "delete", "auditor")
    assert admin.http.get(f"/roles/{role['id']}").status_code == 404
    assert admin.http.get(f"/roles/{role['id']}/implies/{reader}").status_code == 404


def test_role_add_shows_in_assignments_lets_the_user_in_and_remove_revokes(
        openstack: OpenStackCLI, admin: Admin, served: Served, tmp_path: Path) -> None:
    project = openstack.json("project", "create", "lab")
    user = openstack.json("user", "create", "--password", PASSWORD, "alice")
    openstack.run("role", "add", "--user", "alice", "--project", "lab", "member")

    listed = openstack.json("role", "assignment", "list", "--user", "alice", "--project", "lab", "--names")
    assert [(a["Role"], a["User"], a["Project"], a["Inherited"]) for a in listed] == [
        ("member", "alice@Default", "lab@Default", False)]
    effective = openstack.json("role", "assignment", "list", "--user", "alice", "--project", "lab", "--names",
                               "--effective")
    assert sorted(a["Role"] for a in effective) == ["member", "reader"]

    token = openstack.json("token", "issue", env=user_cloud(tmp_path / "clouds.yaml", served, "alice", "lab"))
    assert (token["user_id"], token["project_id"]) == (user["id"], project["id"])
    shown = admin.token(token["id"])
    assert shown.status_code == 200
    assert {r["name"] for r in shown.json()["token"]["roles"]} == {"member", "reader"}

    openstack.run("role", "remove", "--user", "alice", "--project", "lab", "member")
    assert admin.token(token["id"]).status_code == 404
    assert admin.http.get(f"/role_assignments?user.id={user['id']}").json()["role_assignments"] == []


def test_a_group_member_with_no_role_of_their_own_logs_in_through_the_group(
        openstack: OpenStackCLI, admin: Admin, served: Served, tmp_path: Path) -> None:
    project = openstack.json("project", "create", "shared")
    user = openstack.json("user", "create", "--password", PASSWORD, "bob")
    openstack.json("group", "create", "staff")
    openstack.run("group", "add", "user", "staff", "bob")
    openstack.run("role", "add", "--group", "staff", "--project", "shared", "member")

    token = openstack.json("token", "issue", env=user_cloud(tmp_path / "clouds.yaml", served, "bob", "shared"))
    assert (token["user_id"], token["project_id"]) == (user["id"], project["id"])
    shown = admin.token(token["id"]).json()["token"]
    assert {r["name"] for r in shown["roles"]} == {"member", "reader"}
    direct = admin.http.get(f"/role_assignments?user.id={user['id']}").json()["role_assignments"]
    assert direct == []


def test_an_inherited_role_on_a_parent_reaches_its_children_but_not_itself(
        openstack: OpenStackCLI, admin: Admin, served: Served, tmp_path: Path) -> None:
    openstack.json("project", "create", "org")
    team = openstack.json("project", "create", "--parent", "org", "team")
    user = openstack.json("user", "create", "--password", PASSWORD, "carol")
    openstack.run("role", "add", "--user", "carol", "--project", "org", "--inherited", "member")

    listed = openstack.json("role", "assignment", "list", "--user", "carol", "--names")
    assert [(a["Role"], a["Project"], a["Inherited"]) for a in listed] == [("member", "org@Default", True)]
    effective = openstack.json("role", "assignment", "list", "--user", "carol", "--names", "--effective")
    assert sorted((a["Role"], a["Project"]) for a in effective) == [("member", "team@Default"),
                                                                   ("reader", "team@Default")]

    token = openstack.json("token", "issue", env=user_cloud(tmp_path / "team.yaml", served, "carol", "team"))
    assert (token["user_id"], token["project_id"]) == (user["id"], team["id"])
    refused = openstack.run("token", "issue", env=user_cloud(tmp_path / "org.yaml", served, "carol", "org"),
                            check=False)
    assert refused.returncode != 0
