"""Delegation and the catalog with the unmodified ``openstack`` CLI against a served cloud.

Trusts and a trust-scoped login, application credentials and a login with one, the catalog admin
commands, credentials, and token revocation. Each CLI call costs ~1.5 s, so the flows are lean.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def people(openstack: OpenStackCLI, served: Served, tmp_path_factory: pytest.TempPathFactory) -> People:
    """Project demo, alice (member there) and bob (no roles), made with the CLI as admin."""
    project_id = openstack.json("project", "create", "demo")["id"]
    alice_id = openstack.json("user", "create", "--password", PASSWORD, "alice")["id"]
    bob_id = openstack.json("user", "create", "--password", PASSWORD, "bob")["id"]
    openstack.run("role", "add", "--user", alice_id, "--project", project_id, "member")
    clouds = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    write_clouds(clouds, served)
    return People(project_id, alice_id, bob_id, clouds)


def test_trust_create_login_show_list_delete(openstack: OpenStackCLI, served: Served, people: People) -> None:
    alice = people.as_("alice")
    trust = openstack.json("trust", "create", "--project", people.project_id, "--role", "member",
                           people.alice_id, people.bob_id, env=alice)
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


def test_an_impersonating_trust_logs_the_trustee_in_as_the_trustor_within_the_trustors_roles(
        openstack: OpenStackCLI, people: People) -> None:
    alice, bob = people.as_("alice"), people.as_("bob")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    trust = openstack.json("trust", "create", "--project", people.project_id, "--role", "member", "--impersonate",
                           "--expiration", later, people.alice_id, people.bob_id, env=alice)
    assert trust["is_impersonation"] is True
    assert trust["expires_at"].startswith(later)
    token = openstack.json("--os-trust-id", trust["id"], "token", "issue", env=bob)
    assert token["user_id"] == people.alice_id  # the trustor, not bob
    assert token["project_id"] == people.project_id

    beyond = openstack.run("trust", "create", "--project", people.project_id, "--role", "admin",
                           people.alice_id, people.bob_id, env=alice, check=False)
    assert beyond.returncode != 0  # alice cannot delegate a role she does not hold
    openstack.run("trust", "delete", trust["id"], env=alice)


def test_an_expired_trust_no_longer_logs_anyone_in(openstack: OpenStackCLI, people: People) -> None:
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
    trust = openstack.json("trust", "create", "--project", people.project_id, "--role", "member",
                           "--expiration", expiry.strftime("%Y-%m-%dT%H:%M:%S"), people.alice_id, people.bob_id,
                           env=people.as_("alice"))
    time.sleep(max(0.0, (expiry - dt.datetime.now(dt.UTC)).total_seconds()) + 1)
    refused = openstack.run("--os-trust-id", trust["id"], "token", "issue", env=people.as_("bob"), check=False)
    assert refused.returncode != 0
    assert "404" in refused.stderr or "401" in refused.stderr


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


def test_application_credential_with_access_rules_is_held_to_them(openstack: OpenStackCLI, served: Served,
                                                                  people: People) -> None:
    alice = people.as_("alice")
    rule = {"service": "compute", "method": "GET", "path": "/v2.1/flavors/detail"}
    cred = openstack.json("application", "credential", "create", "--access-rules", json.dumps([rule]),
                          "flavors-only", env=alice)
    write_clouds(people.clouds, served, {"ruled": ("v3applicationcredential", {
        "application_credential_id": cred["ID"], "application_credential_secret": cred["Secret"]})})

    assert "m1.tiny" in [f["Name"] for f in openstack.json("flavor", "list", env=people.as_("ruled"))]
    refused = openstack.run("image", "list", env=people.as_("ruled"), check=False)
    assert refused.returncode != 0
    assert "401" in refused.stderr

    listed = openstack.json("access", "rule", "list", env=alice)
    assert [(r["Service"], r["Method"], r["Path"]) for r in listed] == [("compute", "GET", "/v2.1/flavors/detail")]
    in_use = openstack.run("access", "rule", "delete", listed[0]["ID"], env=alice, check=False)
    assert in_use.returncode != 0
    openstack.run("application", "credential", "delete", "flavors-only", env=alice)
    openstack.run("access", "rule", "delete", listed[0]["ID"], env=alice)
    assert openstack.json("access", "rule", "list", env=alice) == []


def test_catalog_and_its_admin_commands(openstack: OpenStackCLI, served: Served) -> None:
    catalog = {entry["Type"]: entry for entry in openstack.json("catalog", "list")}
    assert {"identity", "placement", "compute", "image"} <= set(catalog)
    for entry in catalog.values():
        assert sorted((e["interface"], e["region"]) for e in entry["Endpoints"]) == [
            ("admin", "RegionOne"), ("internal", "RegionOne"), ("public", "RegionOne")]
    assert {e["url"] for e in catalog["identity"]["Endpoints"]} == {f"{served.url}/identity/v3"}

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
    cred = openstack.json("credential", "create", "--type", "ec2", "--project", people.project_id,
                          people.alice_id, blob)
    listed = openstack.json("credential", "list", "--user", people.alice_id)
    assert cred["type"] == "ec2" and cred["user_id"] == people.alice_id
    assert [c["ID"] for c in listed] == [cred["id"]]
    changed = json.dumps({"access": "AK-demo", "secret": "rotated"})
    openstack.run("credential", "set", "--user", people.alice_id, "--type", "ec2", "--data", changed,
                  "--project", people.project_id, cred["id"])
    assert json.loads(openstack.json("credential", "show", cred["id"])["blob"])["secret"] == "rotated"
    openstack.run("credential", "delete", cred["id"])
    assert openstack.run("credential", "show", cred["id"], check=False).returncode != 0


def with_token(served: Served, token: str) -> dict[str, str]:
    """Environment for the CLI to send ``token`` as it is (no login, no rescoping) to the identity API."""
    return {"OS_CLOUD": "", "OS_CLIENT_CONFIG_FILE": "/dev/null", "OS_AUTH_TYPE": "admin_token",
            "OS_ENDPOINT": f"{served.url}/identity/v3", "OS_TOKEN": token}


def test_token_revoke_then_the_token_is_refused(openstack: OpenStackCLI, served: Served) -> None:
    token = openstack.json("token", "issue")["id"]
    assert "admin" in [p["Name"] for p in openstack.json("project", "list", env=with_token(served, token))]

    openstack.run("token", "revoke", token)
    refused = openstack.run("project", "list", env=with_token(served, token), check=False)
    assert refused.returncode != 0
    assert "401" in refused.stderr
