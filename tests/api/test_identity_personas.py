"""Who may do what across the identity API: the reader, member and domain-reader personas, and nobody.

Keystone's default policies, pinned end to end: a project reader writes nothing (403 in Keystone's
fault format, and nothing changes); a domain-scoped reader sees its own domain's users, projects
and groups and nothing of another domain; a project member sees its own project and itself only;
a call without a valid token is 401 with ``WWW-Authenticate`` naming the identity service.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.identity_people import grant, login, make_domain, make_group, make_project, make_user
from tests.conftest import Api

FORBIDDEN_PREFIX = "You are not authorized to perform the requested action"


@pytest.fixture
def scene(api: Api) -> dict[str, str]:
    """Two domains and their objects; alice is a member of demo, rita a reader there, dora a reader of acme.

    Keys name what the tests reach for (``{demo}``, ``{alice}``, ``{admin_role}``) so that paths
    can be written as templates.
    """
    acme = make_domain(api, "acme")
    found = {r["name"]: r["id"] for r in api.get("/roles").json()["roles"]}
    ids = {
        "acme": acme,
        "demo": make_project(api, "demo"),
        "other": make_project(api, "other"),
        "rockets": make_project(api, "rockets", domain_id=acme),
        "alice": make_user(api, "alice"),
        "rita": make_user(api, "rita"),
        "dora": make_user(api, "dora", acme),
        "wile": make_user(api, "wile", acme),
        "devs": make_group(api, "devs"),
        "coyotes": make_group(api, "coyotes", acme),
        "auditor_role": api.post("/roles", json={"role": {"name": "auditor"}}).json()["role"]["id"],
        "admin_role": found["admin"],
        "member_role": found["member"],
        "reader_role": found["reader"],
    }
    grant(api, "member", user=ids["alice"], project=ids["demo"])
    grant(api, "reader", user=ids["rita"], project=ids["demo"])
    grant(api, "reader", user=ids["dora"], domain=acme)
    assert api.put(f"/groups/{ids['devs']}/users/{ids['alice']}").status_code == 204
    return ids


def everything(api: Api) -> dict[str, Any]:
    """What the admin sees of every identity collection a write could change."""
    paths = ["/domains", "/projects", "/users", "/groups", "/roles", "/role_assignments", "/role_inferences"]
    seen = {path: api.get(path).json() for path in paths}
    seen["members"] = {g["id"]: api.get(f"/groups/{g['id']}/users").json() for g in seen["/groups"]["groups"]}
    return seen


def assert_forbidden(response: Any) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (403, "Forbidden")
    assert error["message"].startswith(FORBIDDEN_PREFIX)
    assert set(response.json()) == {"error"}


# --- a project reader writes nothing ---------------------------------------------------------------

WRITES = [
    ("POST", "/projects", {"project": {"name": "new"}}),
    ("PATCH", "/projects/{demo}", {"project": {"description": "mine now"}}),
    ("DELETE", "/projects/{other}", None),
    ("POST", "/users", {"user": {"name": "new", "password": "pw"}}),
    ("PATCH", "/users/{alice}", {"user": {"enabled": False}}),
    ("PATCH", "/users/{rita}", {"user": {"email": "rita@example.org"}}),
    ("DELETE", "/users/{alice}", None),
    ("POST", "/groups", {"group": {"name": "new"}}),
    ("PATCH", "/groups/{devs}", {"group": {"description": "mine now"}}),
    ("DELETE", "/groups/{devs}", None),
    ("PUT", "/groups/{devs}/users/{rita}", None),
    ("DELETE", "/groups/{devs}/users/{alice}", None),
    ("POST", "/roles", {"role": {"name": "new"}}),
    ("PATCH", "/roles/{auditor_role}", {"role": {"description": "mine now"}}),
    ("DELETE", "/roles/{auditor_role}", None),
    ("PUT", "/roles/{auditor_role}/implies/{reader_role}", None),
    ("PUT", "/projects/{demo}/users/{rita}/roles/{admin_role}", None),
    ("PUT", "/projects/{demo}/groups/{devs}/roles/{admin_role}", None),
    ("DELETE", "/projects/{demo}/users/{alice}/roles/{member_role}", None),
    ("PUT", "/domains/default/users/{rita}/roles/{admin_role}", None),
    ("PUT", "/OS-INHERIT/domains/default/users/{rita}/roles/{admin_role}/inherited_to_projects", None),
    ("PUT", "/system/users/{rita}/roles/{admin_role}", None),
    ("POST", "/domains", {"domain": {"name": "new"}}),
    ("PATCH", "/domains/{acme}", {"domain": {"enabled": False}}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_project_reader_cannot_create_update_or_delete(api: Api, scene: dict[str, str], method: str, path: str,
                                                         body: dict[str, Any] | None) -> None:
    token = login(api, scene["rita"], scope={"project": {"id": scene["demo"]}})
    before = everything(api)

    response = api.request(method, path.format(**scene), token=token, json=body)

    assert_forbidden(response)
    assert everything(api) == before


def test_a_project_reader_still_reads_roles_and_its_own_project(api: Api, scene: dict[str, str]) -> None:
    token = login(api, scene["rita"], scope={"project": {"id": scene["demo"]}})
    assert api.get(f"/projects/{scene['demo']}", token=token).status_code == 200
    assert api.get(f"/users/{scene['rita']}", token=token).status_code == 200
    assert api.get("/roles", token=token).status_code == 200
    assert_forbidden(api.get("/users", token=token))


# --- a domain reader sees its own domain ----------------------------------------------------------


@pytest.mark.parametrize(("collection", "names"), [
    ("users", {"dora", "wile"}),
    ("projects", {"rockets"}),
    ("groups", {"coyotes"}),
])
def test_a_domain_reader_lists_only_its_domains_objects(api: Api, scene: dict[str, str], collection: str,
                                                        names: set[str]) -> None:
    token = login(api, scene["dora"], scope={"domain": {"id": scene["acme"]}})

    listed = api.get(f"/{collection}", token=token)
    assert listed.status_code == 200, listed.text
    assert {item["name"] for item in listed.json()[collection]} == names
    assert {item["domain_id"] for item in listed.json()[collection]} == {scene["acme"]}

    own = api.get(f"/{collection}", token=token, params={"domain_id": scene["acme"]})
    assert {item["name"] for item in own.json()[collection]} == names
    assert_forbidden(api.get(f"/{collection}", token=token, params={"domain_id": "default"}))


def test_a_domain_reader_is_refused_another_domains_objects_one_by_one(api: Api, scene: dict[str, str]) -> None:
    token = login(api, scene["dora"], scope={"domain": {"id": scene["acme"]}})
    for mine in (f"/users/{scene['wile']}", f"/projects/{scene['rockets']}", f"/groups/{scene['coyotes']}",
                 f"/groups/{scene['coyotes']}/users"):
        assert api.get(mine, token=token).status_code == 200, mine
    for theirs in (f"/users/{scene['alice']}", f"/projects/{scene['demo']}", f"/groups/{scene['devs']}",
                   f"/groups/{scene['devs']}/users", f"/users/{scene['alice']}/projects"):
        assert_forbidden(api.get(theirs, token=token))
    assigned = api.get("/role_assignments", token=token).json()["role_assignments"]
    assert [(a["user"]["id"], a["scope"]) for a in assigned] == [(scene["dora"], {"domain": {"id": scene["acme"]}})]
    assert_forbidden(api.post("/users", token=token, json={"user": {"name": "new", "domain_id": scene["acme"]}}))


# --- a member sees its own project and itself ------------------------------------------------------


def test_a_member_sees_their_own_project_and_user_but_nothing_else(api: Api, scene: dict[str, str]) -> None:
    token = login(api, scene["alice"], scope={"project": {"id": scene["demo"]}})

    assert api.get(f"/projects/{scene['demo']}", token=token).json()["project"]["name"] == "demo"
    assert api.get(f"/users/{scene['alice']}", token=token).json()["user"]["name"] == "alice"
    assert [p["id"] for p in api.get(f"/users/{scene['alice']}/projects", token=token).json()["projects"]] == [
        scene["demo"]]
    assert [g["id"] for g in api.get(f"/users/{scene['alice']}/groups", token=token).json()["groups"]] == [
        scene["devs"]]

    for refused in (f"/projects/{scene['other']}", f"/projects/{scene['rockets']}", "/projects",
                    "/users", f"/users/{scene['rita']}", f"/users/{scene['wile']}",
                    "/groups", f"/groups/{scene['devs']}", f"/groups/{scene['devs']}/users",
                    f"/users/{scene['rita']}/projects", "/domains", f"/domains/{scene['acme']}",
                    "/role_assignments", f"/role_assignments?user.id={scene['rita']}"):
        assert_forbidden(api.get(refused, token=token))


def test_a_member_lists_their_own_role_assignments_only(api: Api, scene: dict[str, str]) -> None:
    token = login(api, scene["alice"], scope={"project": {"id": scene["demo"]}})
    listed = api.get(f"/role_assignments?user.id={scene['alice']}", token=token)
    assert listed.status_code == 200
    assert [(a["role"]["id"], a["scope"]["project"]["id"]) for a in listed.json()["role_assignments"]] == [
        (scene["member_role"], scene["demo"])]


# --- nobody: 401 with WWW-Authenticate ----------------------------------------------------------

COLLECTIONS = [
    "/domains", "/projects", "/users", "/groups", "/roles", "/role_inferences", "/role_assignments",
    "/services", "/endpoints", "/regions", "/credentials", "/OS-TRUST/trusts",
    "/users/{alice}/projects", "/users/{alice}/groups", "/users/{alice}/application_credentials",
    "/groups/{devs}/users", "/projects/{demo}/users/{alice}/roles",
    "/auth/projects", "/auth/domains", "/auth/system", "/auth/catalog",
]


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no token", "a bad token"])
@pytest.mark.parametrize("path", COLLECTIONS)
def test_a_call_without_a_valid_token_is_401_with_www_authenticate(api: Api, scene: dict[str, str], path: str,
                                                                    token: str | None) -> None:
    headers = {} if token is None else {"X-Auth-Token": token}

    response = api.http.get(f"/identity/v3{path.format(**scene)}", headers=headers)

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://127.0.0.1:8000/identity"'


def test_a_revoked_token_is_401_on_every_collection(api: Api, scene: dict[str, str]) -> None:
    token = login(api, scene["alice"], scope={"project": {"id": scene["demo"]}})
    assert api.get(f"/users/{scene['alice']}", token=token).status_code == 200
    assert api.delete("/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}).status_code == 204
    for path in COLLECTIONS:
        response = api.http.get(f"/identity/v3{path.format(**scene)}", headers={"X-Auth-Token": token})
        assert response.status_code == 401, (path, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")
