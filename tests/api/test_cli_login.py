"""A new user's first minute: serve on an empty data directory, then log in with the real clients."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import openstack as sdk
import pytest
import yaml

from tests.api.test_cli_delegation import with_token
from tests.api.test_identity_catalog_credentials import SERVED_CATALOG
from tests.conftest import OpenStackCLI, Served, serve
from twinstack.api.services import SERVICES

pytestmark = pytest.mark.slow


def test_serve_prints_how_to_point_the_client_at_it(served: Served) -> None:
    printed = served.log.read_text()
    assert f"export OS_CLIENT_CONFIG_FILE={served.clouds_yaml}" in printed
    assert "export OS_CLOUD=twinstack" in printed


def test_the_port_it_picked_is_the_one_in_the_catalog_and_clouds_yaml(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    assert port != 0
    auth_url = yaml.safe_load(served.clouds_yaml.read_text())["clouds"]["twinstack"]["auth"]["auth_url"]
    assert auth_url == f"{served.url}/identity/v3"


def test_serve_on_a_taken_port_says_so_at_once_and_bootstraps_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "twinstack.cli", "serve", "--port", str(port),
                               "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert not (tmp_path / "data").exists()


def test_openstack_token_issue_with_the_generated_clouds_yaml(served: Served) -> None:
    """The installed ``openstack`` command itself, as a user runs it (other tests run its entry point in-process)."""
    done = subprocess.run(["openstack", "token", "issue", "-f", "json"], capture_output=True, text=True,
                          env=served.env(), timeout=120)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)
    assert token["id"]
    assert token["project_id"]
    assert token["user_id"]


def test_openstacksdk_connects_and_reads_its_own_user(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(served.clouds_yaml))
    conn = sdk.connect(cloud="twinstack")
    try:
        token = conn.session.get_token()
        assert token
        user_id = conn.session.get_user_id()
        me = conn.identity.get_user(user_id)
        assert me.name == "admin"
    finally:
        conn.close()


def test_openstack_catalog_list_names_every_service_the_cloud_serves(openstack: OpenStackCLI,
                                                                    served: Served) -> None:
    listed = {entry["Type"]: entry for entry in openstack.json("catalog", "list")}
    assert set(listed) == set(SERVED_CATALOG) == {service.type for service in SERVICES}
    for type_, (name, path) in SERVED_CATALOG.items():
        assert listed[type_]["Name"] == name
        assert sorted((e["interface"], e["region"], e["url"]) for e in listed[type_]["Endpoints"]) == [
            (interface, "RegionOne", f"{served.url}{path}") for interface in ("admin", "internal", "public")], type_


def test_a_new_users_first_server_boots_on_the_default_datacenter(openstack: OpenStackCLI) -> None:
    """The plain ``twinstack serve``: its built-in datacenter (100 simulated hosts, boots of about 8 s), the
    bootstrapped flavor and image, and no network made by hand are all ``server create --wait`` needs."""
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait",
                             "first-vm")
    assert (created["name"], created["status"], created["OS-EXT-STS:vm_state"]) == ("first-vm", "ACTIVE", "active")
    assert created["flavor"]["original_name"] == "m1.tiny" and created["image"].startswith("twinstack-test (")
    assert created["OS-EXT-SRV-ATTR:host"] and created["addresses"]
    listed = {s["Name"]: s for s in openstack.json("server", "list")}
    assert listed["first-vm"]["Status"] == "ACTIVE"
    openstack.run("server", "delete", "--wait", "first-vm")
    assert "first-vm" not in {s["Name"] for s in openstack.json("server", "list")}


def scoped_clouds(served: Served, path: Path, **scope: str) -> dict[str, str]:
    """Environment for the CLI to log in as the admin with ``scope`` instead of the admin project."""
    auth = {k: v for k, v in served.admin_auth().items() if not k.startswith("project_")}
    path.write_text(
        yaml.safe_dump(
            {"clouds": {"scoped": {"auth": auth | scope, "region_name": "RegionOne", "identity_api_version": 3}}}
        )
    )
    return {"OS_CLIENT_CONFIG_FILE": str(path), "OS_CLOUD": "scoped"}


def test_openstack_token_issue_scoped_to_the_system(openstack: OpenStackCLI, served: Served, tmp_path: Path) -> None:
    token = openstack.json("token", "issue", env=scoped_clouds(served, tmp_path / "clouds.yaml", system_scope="all"))
    assert token["system"] == "all"  # the CLI's rendering of {"all": true}
    assert "project_id" not in token and "domain_id" not in token


def test_openstack_token_issue_scoped_to_a_domain(openstack: OpenStackCLI, served: Served, tmp_path: Path) -> None:
    openstack.run("role", "add", "--user", "admin", "--user-domain", "Default", "--domain", "Default", "admin")
    token = openstack.json("token", "issue", env=scoped_clouds(served, tmp_path / "clouds.yaml", domain_name="Default"))
    assert token["domain_id"] == "default"
    assert "project_id" not in token


def stop(running: Served) -> None:
    running.process.terminate()
    running.process.wait(10)


def test_a_revoked_token_stays_revoked_after_a_restart_and_others_stay_valid(tmp_path: Path) -> None:
    first = serve(tmp_path)
    try:
        before = OpenStackCLI(first)
        kept, revoked = before.json("token", "issue")["id"], before.json("token", "issue")["id"]
        before.run("token", "revoke", revoked)
    finally:
        stop(first)

    second = serve(tmp_path)  # the same data directory
    try:
        after = OpenStackCLI(second)
        assert "admin" in [p["Name"] for p in after.json("project", "list", env=with_token(second, kept))]
        refused = after.run("project", "list", env=with_token(second, revoked), check=False)
        assert refused.returncode != 0
        assert "401" in refused.stderr
    finally:
        stop(second)
