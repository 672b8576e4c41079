"""Arranging identity tests: users, projects, domains, groups and grants, logins with any scope, token checks.

Everything is made through the public API, as a client would, with the admin's token.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

PASSWORD = "user-pass-1"


def make_user(api: Api, name: str, domain_id: str = "default", **fields: Any) -> str:
    response = api.post("/users", json={"user": {"name": name, "domain_id": domain_id, "password": PASSWORD,
                                                 **fields}})
    assert response.status_code == 201, response.text
    return str(response.json()["user"]["id"])


def make_project(api: Api, name: str, **fields: Any) -> str:
    response = api.post("/projects", json={"project": {"name": name, **fields}})
    assert response.status_code == 201, response.text
    return str(response.json()["project"]["id"])


def make_domain(api: Api, name: str) -> str:
    response = api.post("/domains", json={"domain": {"name": name}})
    assert response.status_code == 201, response.text
    return str(response.json()["domain"]["id"])


def make_group(api: Api, name: str, domain_id: str = "default") -> str:
    response = api.post("/groups", json={"group": {"name": name, "domain_id": domain_id}})
    assert response.status_code == 201, response.text
    return str(response.json()["group"]["id"])


def grant(api: Api, role: str, *, user: str | None = None, group: str | None = None, project: str | None = None,
          domain: str | None = None, inherited: bool = False) -> None:
    """``role`` (a global role, by name) to a user or group, on a project or a domain."""
    found = api.get(f"/roles?name={role}").json()["roles"]
    assert len(found) == 1, found
    target = f"projects/{project}" if project else f"domains/{domain}"
    actor = f"users/{user}" if user else f"groups/{group}"
    path = f"/{target}/{actor}/roles/{found[0]['id']}"
    response = api.put(f"/OS-INHERIT{path}/inherited_to_projects" if inherited else path)
    assert response.status_code == 204, response.text


def login(api: Api, user_id: str, password: str = PASSWORD, scope: dict[str, Any] | None = None) -> str:
    """A token for ``user_id``, scoped as asked (``{"project": {"id": ...}}``, ``{"domain": {"id": ...}}``)."""
    auth: dict[str, Any] = {"identity": {"methods": ["password"],
                                         "password": {"user": {"id": user_id, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    response = api.http.post("/identity/v3/auth/tokens", json={"auth": auth})
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def login_status(api: Api, user_id: str, password: str = PASSWORD, scope: dict[str, Any] | None = None) -> int:
    auth: dict[str, Any] = {"identity": {"methods": ["password"],
                                         "password": {"user": {"id": user_id, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return api.http.post("/identity/v3/auth/tokens", json={"auth": auth}).status_code


def is_valid(api: Api, token: str) -> bool:
    """Whether the admin sees ``token`` as valid (not expired, not revoked)."""
    response = api.get("/auth/tokens", headers={"X-Auth-Token": api.admin_token, "X-Subject-Token": token})
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def later(api: Api) -> None:
    """Move the clock on, so a token issued now postdates the revocations issued before."""
    api.cloud.clock.advance(1)  # type: ignore[attr-defined]
