"""A whole cloud opens, bootstraps and issues tokens the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.api.identity_people import PASSWORD, grant, login, make_project, make_user
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
    made = bootstrapped(api)
    assert made["endpoints"] == 3 * made["services"] and made["images"] == 1
    bootstrap(cloud)
    assert bootstrapped(api) == made  # a third run adds nothing either
    cloud.close()


def bootstrapped(api: Api) -> dict[str, int]:
    """How many of each thing bootstrap makes the cloud holds."""
    counts = {key: len(api.get(f"/{key}").json()[key]) for key in (
        "domains", "projects", "users", "roles", "role_inferences", "role_assignments", "regions", "services",
        "endpoints")}
    headers = {"X-Auth-Token": api.admin_token}
    counts["flavors"] = len(api.http.get("/compute/v2.1/flavors", headers=headers).json()["flavors"])
    counts["images"] = len(api.http.get("/image/v2/images", headers=headers).json()["images"])
    return counts


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


def test_revocations_by_password_change_disable_deletion_and_role_removal_survive_a_restart(
        database_url: str, tmp_path: Path) -> None:
    """Each way a user's tokens die is stored, not just applied in memory: after a restart they stay dead, on
    identity's validation (404) and as a caller anywhere (401: tokens are judged by signature and revocations
    alone, so nothing but the stored event refuses a deleted user's token)."""
    settings = make_settings(tmp_path, database_url)
    cloud = open_cloud(settings, clock=ManualClock(1.8e9))
    bootstrap(cloud)
    api = Api(cloud)
    project = make_project(api, "lab")
    people = {name: make_user(api, name) for name in ("pat", "dee", "ray", "lee", "kim")}
    for user in people.values():
        grant(api, "member", user=user, project=project)
    tokens = {name: login(api, user, scope={"project": {"id": project}}) for name, user in people.items()}
    cloud.clock.advance(1)  # type: ignore[attr-defined]
    assert api.post(f"/users/{people['pat']}/password", json={"user": {
        "original_password": PASSWORD, "password": "brand-new-1"}}, token=tokens["pat"]).status_code == 204
    assert api.patch(f"/users/{people['dee']}", json={"user": {"enabled": False}}).status_code == 200
    member = api.get("/roles?name=member").json()["roles"][0]["id"]
    assert api.delete(f"/projects/{project}/users/{people['ray']}/roles/{member}").status_code == 204
    assert api.delete(f"/users/{people['lee']}").status_code == 204
    cloud.close()

    reopened = open_cloud(settings, clock=ManualClock(1.8e9 + 5))
    again = Api(reopened)
    assert {name: again.get("/auth/tokens", headers={"X-Subject-Token": token}).status_code
            for name, token in tokens.items()} == {"pat": 404, "dee": 404, "ray": 404, "lee": 404, "kim": 200}
    assert {name: again.http.get("/compute/v2.1/flavors", headers={"X-Auth-Token": token}).status_code
            for name, token in tokens.items()} == {"pat": 401, "dee": 401, "ray": 401, "lee": 401, "kim": 200}
    reopened.close()
