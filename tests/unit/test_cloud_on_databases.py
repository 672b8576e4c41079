"""A whole cloud opens, bootstraps and issues tokens the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, Api, make_settings
from twinstack.cloud import open_cloud
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap


def test_bootstrap_twice_then_log_in(database_url: str, tmp_path: Path) -> None:
    cloud = open_cloud(make_settings(tmp_path, database_url), clock=ManualClock(1.8e9))
    first = bootstrap(cloud)
    second = bootstrap(cloud)
    assert first.admin_password_changed
    assert second.admin_password_changed  # an explicit admin_password is applied every time
    api = Api(cloud)
    token = api.login("admin", ADMIN_PASSWORD, project="admin")
    assert api.get("/auth/catalog", token=token).status_code == 200
    cloud.close()


def test_revocations_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    cloud = open_cloud(settings, clock=ManualClock(1.8e9))
    bootstrap(cloud)
    api = Api(cloud)
    victim = api.login("admin", ADMIN_PASSWORD, project="admin")
    headers = {"X-Auth-Token": api.admin_token, "X-Subject-Token": victim}
    assert api.delete("/auth/tokens", headers=headers).status_code == 204
    cloud.close()

    reopened = open_cloud(settings, clock=ManualClock(1.8e9 + 5))
    again = Api(reopened)
    assert again.get("/auth/catalog", token=victim).status_code == 401
    reopened.close()
