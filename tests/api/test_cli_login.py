"""A new user's first minute: serve on an empty data directory, then log in with the real clients."""

from __future__ import annotations

import openstack as sdk
import pytest

from tests.conftest import OpenStackCLI, Served

pytestmark = pytest.mark.slow


def test_serve_prints_how_to_point_the_client_at_it(served: Served) -> None:
    printed = served.log.read_text()
    assert f"export OS_CLIENT_CONFIG_FILE={served.clouds_yaml}" in printed
    assert "export OS_CLOUD=twinstack" in printed


def test_openstack_token_issue_with_the_generated_clouds_yaml(openstack: OpenStackCLI) -> None:
    token = openstack.json("token", "issue")
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
