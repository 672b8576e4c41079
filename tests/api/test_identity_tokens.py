"""Tokens over the identity API: issue, validate, check, revoke, and the faults around them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.identity_people import PASSWORD, grant, login, make_domain, make_group, make_project, make_user
from tests.conftest import ADMIN_PASSWORD, Api


def test_password_login_returns_a_project_scoped_token_with_the_catalog(api: Api) -> None:
    response = api.http.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}},
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert response.headers["X-Subject-Token"]
    assert token["project"]["name"] == "admin"
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert token["methods"] == ["password"]
    assert "identity" in [e["type"] for e in token["catalog"]]
    identity = next(e for e in token["catalog"] if e["type"] == "identity")
    assert {ep["interface"] for ep in identity["endpoints"]} == {"public", "internal", "admin"}
    assert token["expires_at"].endswith("Z") and token["issued_at"].endswith("Z")


def test_wrong_password_is_401_in_keystone_format_with_www_authenticate(api: Api) -> None:
    response = api.http.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "nope"}},
                }
            }
        },
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_malformed_body_is_400_not_422(api: Api) -> None:
    response = api.http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {}}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_validate_check_and_revoke(api: Api) -> None:
    subject = api.login("admin", ADMIN_PASSWORD, project="admin")
    shown = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject})
    assert shown.status_code == 200
    assert shown.headers["X-Subject-Token"] == subject
    assert (
        api.head("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject}).status_code
        == 200
    )
    assert (
        api.delete("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject}).status_code
        == 204
    )
    gone = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": subject})
    assert gone.status_code == 404
    assert api.get("/auth/catalog", token=subject).status_code == 401
    assert api.get("/auth/catalog").status_code == 200


def test_expired_token_is_refused(api: Api) -> None:
    token = api.login("admin", ADMIN_PASSWORD, project="admin")
    api.cloud.clock.advance(3601)  # type: ignore[attr-defined]
    assert api.get("/auth/catalog", token=token).status_code == 401


def test_missing_token_is_401(api: Api) -> None:
    response = api.http.get("/identity/v3/auth/catalog")
    assert response.status_code == 401
    assert "error" in response.json()


def test_rescope_keeps_expiry_and_chains_the_audit_ids(api: Api) -> None:
    unscoped = api.http.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}},
                },
                "scope": "unscoped",
            }
        },
    )
    assert unscoped.status_code == 201
    assert "project" not in unscoped.json()["token"]
    first = unscoped.json()["token"]
    rescoped = api.http.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {"methods": ["token"], "token": {"id": unscoped.headers["X-Subject-Token"]}},
                "scope": {"system": {"all": True}},
            }
        },
    )
    assert rescoped.status_code == 201
    body = rescoped.json()["token"]
    assert body["system"] == {"all": True}
    assert body["expires_at"] == first["expires_at"]
    assert body["audit_ids"][1] == first["audit_ids"][0]
    assert body["methods"] == ["password", "token"]


def test_discovery_at_the_root_and_at_v3_is_shaped_for_keystoneauth(api: Api) -> None:
    root = api.http.get("/identity/", headers={"Accept": "application/json"})
    assert root.status_code == 300
    (version,) = root.json()["versions"]["values"]
    assert (version["id"], version["status"]) == ("v3.14", "stable")
    assert version["links"] == [{"rel": "self", "href": "http://127.0.0.1:8000/identity/v3/"}]
    assert {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"} in version["media-types"]
    v3 = api.http.get("/identity/v3")
    assert v3.status_code == 200
    assert v3.json()["version"] == version


def password_login(api: Api, user_id: str, password: str, scope: Any = None) -> httpx.Response:
    auth: dict[str, Any] = {
        "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}}
    }
    if scope is not None:
        auth["scope"] = scope
    return api.http.post("/identity/v3/auth/tokens", json={"auth": auth})


def test_a_domain_scoped_token_names_the_domain_its_roles_and_the_catalog(api: Api) -> None:
    acme = make_domain(api, "acme")
    dora = make_user(api, "dora", domain_id=acme)
    grant(api, "member", user=dora, domain=acme)
    response = password_login(api, dora, PASSWORD, {"domain": {"name": "acme"}})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["domain"] == {"id": acme, "name": "acme"}
    assert "project" not in token and "system" not in token
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert token["user"]["domain"] == {"id": acme, "name": "acme"}
    assert "identity" in {entry["type"] for entry in token["catalog"]}
    assert api.get("/auth/catalog", token=response.headers["X-Subject-Token"]).status_code == 403
    refused = password_login(api, dora, PASSWORD, {"domain": {"id": "default"}})
    assert refused.status_code == 401


def test_a_system_scoped_token_says_all_and_carries_the_system_roles(api: Api) -> None:
    admin_id = api.cloud.validator.validate(api.admin_token).user_id
    response = password_login(api, admin_id, ADMIN_PASSWORD, {"system": {"all": True}})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["system"] == {"all": True}
    assert "project" not in token and "domain" not in token
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert token["catalog"]
    assert password_login(api, admin_id, ADMIN_PASSWORD, {"system": {"all": False}}).status_code == 400
    nobody = make_user(api, "nobody")
    assert password_login(api, nobody, PASSWORD, {"system": {"all": True}}).status_code == 401


def test_an_unscoped_token_has_no_roles_nor_catalog_and_is_refused_the_catalog(api: Api) -> None:
    user = make_user(api, "loner")
    response = password_login(api, user, PASSWORD)
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert not {"project", "domain", "system", "roles", "catalog"} & set(token)
    assert token["methods"] == ["password"]
    refused = api.get("/auth/catalog", token=response.headers["X-Subject-Token"])
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "A project-scoped token is required to produce a service catalog."


def test_no_scope_means_the_default_project_when_the_user_holds_a_role_there(api: Api) -> None:
    project = make_project(api, "home")
    user = make_user(api, "homebody", default_project_id=project)
    assert "project" not in password_login(api, user, PASSWORD).json()["token"]  # no role there yet
    grant(api, "reader", user=user, project=project)
    token = password_login(api, user, PASSWORD).json()["token"]
    assert token["project"]["id"] == project
    assert "project" not in password_login(api, user, PASSWORD, "unscoped").json()["token"]


def test_auth_projects_and_domains_list_where_the_caller_holds_a_role_however_granted(api: Api) -> None:
    acme = make_domain(api, "acme")
    direct = make_project(api, "direct")
    via_group = make_project(api, "via-group")
    parent = make_project(api, "parent")
    child = make_project(api, "child", parent_id=parent)
    switched_off = make_project(api, "switched-off")
    make_project(api, "elsewhere")
    user = make_user(api, "roamer")
    team = make_group(api, "team")
    assert api.put(f"/groups/{team}/users/{user}").status_code == 204
    grant(api, "member", user=user, project=direct)
    grant(api, "reader", group=team, project=via_group)
    grant(api, "reader", user=user, project=parent, inherited=True)
    grant(api, "reader", user=user, project=switched_off)
    grant(api, "reader", group=team, domain=acme)
    assert api.patch(f"/projects/{switched_off}", json={"project": {"enabled": False}}).status_code == 200

    token = login(api, user)
    projects = api.get("/auth/projects", token=token)
    assert projects.status_code == 200
    assert sorted(p["id"] for p in projects.json()["projects"]) == sorted([direct, via_group, child])
    assert projects.json()["links"]["self"].endswith("/identity/v3/auth/projects")
    domains = api.get("/auth/domains", token=token).json()["domains"]
    assert [(d["id"], d["name"]) for d in domains] == [(acme, "acme")]
    assert api.get("/auth/system", token=token).json()["system"] == []
    assert api.get("/auth/system").json()["system"] == [{"all": True}]


def test_head_checks_a_token_without_a_body_and_404s_a_revoked_one(api: Api) -> None:
    subject = api.login("admin", ADMIN_PASSWORD, project="admin")
    headers = {"X-Auth-Token": api.admin_token, "X-Subject-Token": subject}
    checked = api.head("/auth/tokens", headers=headers)
    assert (checked.status_code, checked.content, checked.headers["X-Subject-Token"]) == (200, b"", subject)
    assert api.delete("/auth/tokens", headers=headers).status_code == 204
    assert api.head("/auth/tokens", headers=headers).status_code == 404
    assert api.head("/auth/tokens", headers={"X-Auth-Token": api.admin_token}).status_code == 400


SERVICE_LISTS = [
    "/compute/v2.1/flavors",
    "/image/v2/images",
    "/network/v2.0/networks",
    "/volume/v3/types",
    "/placement/resource_providers",
    "/load-balancer/v2/lbaas/loadbalancers",
    "/identity/v3/users",
]


def test_a_revocation_takes_effect_at_once_on_every_service(api: Api) -> None:
    token = api.login("admin", ADMIN_PASSWORD, project="admin")
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.0"}
    for path in SERVICE_LISTS:
        assert api.http.get(path, headers=headers).status_code == 200, path
    assert (
        api.delete("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": token}).status_code
        == 204
    )
    for path in SERVICE_LISTS:
        refused = api.http.get(path, headers=headers)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.headers["WWW-Authenticate"] == 'Keystone uri="http://127.0.0.1:8000/identity"', path


def _member_role(api: Api) -> str:
    return str(api.get("/roles?name=member").json()["roles"][0]["id"])


REVOKING = {
    "user disabled": lambda api, user, project, token: api.patch(f"/users/{user}", json={"user": {"enabled": False}}),
    "user deleted": lambda api, user, project, token: api.delete(f"/users/{user}"),
    "password changed": lambda api, user, project, token: api.post(
        f"/users/{user}/password", token=token,
        json={"user": {"original_password": PASSWORD, "password": "another-one-1"}}),
    "role removed": lambda api, user, project, token: api.delete(
        f"/projects/{project}/users/{user}/roles/{_member_role(api)}"),
}


@pytest.mark.parametrize("change", sorted(REVOKING))
def test_each_way_a_users_tokens_die_reaches_every_service_at_once(api: Api, change: str) -> None:
    """Not only a deleted token: what revokes a user's tokens is refused by every service in the process at once."""
    project = make_project(api, "rev-lab")
    user = make_user(api, "rev-user")
    grant(api, "member", user=user, project=project)
    token = login(api, user, scope={"project": {"id": project}})
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.0"}
    for path in [*SERVICE_LISTS, f"/identity/v3/users/{user}"]:
        assert api.http.get(path, headers=headers).status_code != 401, path

    done = REVOKING[change](api, user, project, token)
    assert done.status_code in (200, 204), done.text
    for path in [*SERVICE_LISTS, "/identity/v3/auth/projects"]:
        refused = api.http.get(path, headers=headers)
        assert refused.status_code == 401, (change, path, refused.text)
