"""Delegation and the catalog with the unmodified ``openstack`` CLI against a served cloud.

Trusts and a trust-scoped login, application credentials and a login with one, the catalog admin
commands, credentials, and token revocation. Each CLI call costs ~1.5 s, so the flows are lean.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import OpenStackCLI, Served

pytestmark = pytest.mark.slow

PASSWORD = "deleg-pass-1"


@dataclass
class People:
    project_id: str
    alice_id: str
    bob_id: str
    clouds: Path
    via_cli: bool
    """False while the users/projects APIs are missing (TEMPORARY): rows written directly instead."""

    def as_(self, cloud: str) -> dict[str, str]:
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds), "OS_CLOUD": cloud}


def write_clouds(path: Path, served: Served, extra: dict[str, Any] | None = None) -> None:
    """A clouds.yaml with alice (member of demo), bob (no project) and any extra clouds."""
    auth_url = f"{served.url}/identity/v3"

    def cloud(auth: dict[str, Any], auth_type: str = "password") -> dict[str, Any]:
        return {"auth": {"auth_url": auth_url} | auth, "auth_type": auth_type, "region_name": "RegionOne",
                "identity_api_version": 3}

    user = {"user_domain_name": "Default", "password": PASSWORD}
    clouds = {
        "alice": cloud({"username": "alice", "project_name": "demo", "project_domain_name": "Default"} | user),
        "bob": cloud({"username": "bob"} | user),
    }
    for name, (auth_type, auth) in (extra or {}).items():
        clouds[name] = cloud(auth, auth_type)
    path.write_text(yaml.safe_dump({"clouds": clouds}))


def made_in_the_database(served: Served) -> tuple[str, str, str]:
    """TEMPORARY, while the users/projects/grants APIs are being built: the same rows, written directly.

    Remove (with ``via_cli`` and ``post_as``) once ``openstack project create`` works.
    """
    from sqlalchemy import select

    from tests.conftest import FAST_KDF
    from twinstack.core.identity.assignments import USER_PROJECT
    from twinstack.core.identity.passwords import hash_password
    from twinstack.db.models.identity import Project, Role, RoleAssignment, User
    from twinstack.db.session import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{served.data_dir / 'twinstack.db'}")
    try:
        with make_session_factory(engine)() as session, session.begin():
            project = Project(name="demo", domain_id="default", description="", enabled=True, tags=[], options={},
                              extra={})
            users = [User(name=name, domain_id="default", enabled=True, options={}, extra={},
                          password_hash=hash_password(PASSWORD, FAST_KDF), created_at=dt.datetime.now(dt.UTC))
                     for name in ("alice", "bob")]
            session.add_all([project, *users])
            session.flush()
            member = session.scalar(select(Role).where(Role.name == "member"))
            assert member is not None
            session.add(RoleAssignment(kind=USER_PROJECT, actor_id=users[0].id, target_id=project.id,
                                       role_id=member.id, inherited=False))
            return project.id, users[0].id, users[1].id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def people(openstack: OpenStackCLI, served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    """Project demo, alice (member there) and bob (no roles), made with the CLI as admin."""
    made = openstack.run("project", "create", "demo", "-f", "json", check=False)
    if made.returncode == 0:
        project_id = json.loads(made.stdout)["id"]
        alice_id = openstack.json("user", "create", "--password", PASSWORD, "alice")["id"]
        bob_id = openstack.json("user", "create", "--password", PASSWORD, "bob")["id"]
        openstack.run("role", "add", "--user", alice_id, "--project", project_id, "member")
    else:
        project_id, alice_id, bob_id = made_in_the_database(served)
    clouds = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    write_clouds(clouds, served)
    yield People(project_id, alice_id, bob_id, clouds, made.returncode == 0)


def post_as(served: Served, user: str, password: str, project: str, path: str, body: dict[str, Any]) -> Any:
    """TEMPORARY: what a CLI command that looks users up would create, made over HTTP instead."""
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}
    base = f"{served.url}/identity/v3"
    token = httpx.post(f"{base}/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
    response = httpx.post(f"{base}{path}", json=body, headers={"X-Auth-Token": token})
    assert response.status_code == 201, response.text
    return next(iter(response.json().values()))


def test_trust_create_login_show_list_delete(openstack: OpenStackCLI, served: Served, people: People) -> None:
    alice = people.as_("alice")
    if people.via_cli:
        trust = openstack.json("trust", "create", "--project", people.project_id, "--role", "member",
                               people.alice_id, people.bob_id, env=alice)
    else:
        trust = post_as(served, "alice", PASSWORD, "demo", "/OS-TRUST/trusts", {"trust": {
            "trustor_user_id": people.alice_id, "trustee_user_id": people.bob_id, "impersonation": False,
            "project_id": people.project_id, "roles": [{"name": "member"}]}})
    assert trust["trustor_user_id"] == people.alice_id
    assert trust["trustee_user_id"] == people.bob_id
    assert trust["project_id"] == people.project_id

    token = openstack.json("--os-trust-id", trust["id"], "token", "issue", env=people.as_("bob"))
    assert token["user_id"] == people.bob_id
    assert token["project_id"] == people.project_id

    shown = openstack.json("trust", "show", trust["id"], env=alice)
    assert shown["id"] == trust["id"]
    listed = openstack.json("trust", "list", env=alice)
    assert [t["ID"] for t in listed] == [trust["id"]]

    openstack.run("trust", "delete", trust["id"], env=alice)
    refused = openstack.run("--os-trust-id", trust["id"], "token", "issue", env=people.as_("bob"), check=False)
    assert refused.returncode != 0


def test_application_credential_login_then_delete(openstack: OpenStackCLI, served: Served,
                                                  people: People) -> None:
    alice = people.as_("alice")
    cred = openstack.json("application", "credential", "create", "monitoring", env=alice)
    assert cred["Secret"]
    assert cred["Project ID"] == people.project_id
    write_clouds(people.clouds, served, {"appcred": ("v3applicationcredential", {
        "application_credential_id": cred["ID"], "application_credential_secret": cred["Secret"]})})

    token = openstack.json("token", "issue", env=people.as_("appcred"))
    assert token["user_id"] == people.alice_id
    assert token["project_id"] == people.project_id

    listed = openstack.json("application", "credential", "list", env=alice)
    assert [c["Name"] for c in listed] == ["monitoring"]
    openstack.run("application", "credential", "delete", "monitoring", env=alice)
    refused = openstack.run("token", "issue", env=people.as_("appcred"), check=False)
    assert refused.returncode != 0
    assert "401" in refused.stderr or "authenticat" in refused.stderr.lower()


def test_catalog_and_its_admin_commands(openstack: OpenStackCLI) -> None:
    catalog = openstack.json("catalog", "list")
    assert "identity" in [entry["Type"] for entry in catalog]

    region = openstack.json("region", "create", "--description", "second", "RegionTwo")
    assert region["region"] == "RegionTwo"
    service = openstack.json("service", "create", "--name", "sample", "--description", "Sample", "example")
    assert service["type"] == "example" and service["enabled"] is True
    endpoint = openstack.json("endpoint", "create", "--region", "RegionTwo", "sample", "public",
                              "http://sample.example:8000/v1")
    assert endpoint["interface"] == "public" and endpoint["region"] == "RegionTwo"
    assert endpoint["service_name"] == "sample"

    listed = openstack.json("endpoint", "list", "--service", "example")
    assert [(e["ID"], e["Region"], e["Interface"]) for e in listed] == [(endpoint["id"], "RegionTwo", "public")]
    assert "sample" in [s["Name"] for s in openstack.json("service", "list")]
    assert "RegionTwo" in [r["Region"] for r in openstack.json("region", "list")]

    openstack.run("endpoint", "delete", endpoint["id"])
    openstack.run("service", "delete", "sample")
    openstack.run("region", "delete", "RegionTwo")
    assert [r["Region"] for r in openstack.json("region", "list")] == ["RegionOne"]


def test_credential_create_list_delete(openstack: OpenStackCLI, served: Served, people: People) -> None:
    blob = json.dumps({"access": "AK-demo", "secret": "very"})
    if people.via_cli:
        cred = openstack.json("credential", "create", "--type", "ec2", "--project", people.project_id,
                              people.alice_id, blob)
        listed = openstack.json("credential", "list", "--user", people.alice_id)
    else:
        cred = post_as(served, "alice", PASSWORD, "demo", "/credentials", {"credential": {
            "type": "ec2", "project_id": people.project_id, "user_id": people.alice_id, "blob": blob}})
        listed = openstack.json("credential", "list")
    assert cred["type"] == "ec2" and cred["user_id"] == people.alice_id
    assert [c["ID"] for c in listed] == [cred["id"]]
    openstack.run("credential", "delete", cred["id"])


def test_token_revoke_refuses_the_token(openstack: OpenStackCLI, served: Served) -> None:
    token = openstack.json("token", "issue")["id"]
    catalog_url = f"{served.url}/identity/v3/auth/catalog"
    assert httpx.get(catalog_url, headers={"X-Auth-Token": token}).status_code == 200
    openstack.run("token", "revoke", token)
    assert httpx.get(catalog_url, headers={"X-Auth-Token": token}).status_code == 401
