"""Identity lists as Keystone answers them: inexact filters on every list, and the configured list limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.identity_people import make_group, make_project, make_user
from tests.conftest import Api, make_settings
from twinstack.cloud import open_cloud
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap


def names(api: Api, path: str, key: str) -> list[str]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()[key])


def test_inexact_filters_match_parts_of_names_with_or_without_case(api: Api) -> None:
    for name in ("webby", "Webster", "cobweb", "db"):
        make_user(api, name)
    assert names(api, "/users?name__startswith=web", "users") == ["webby"]
    assert names(api, "/users?name__istartswith=web", "users") == ["Webster", "webby"]
    assert names(api, "/users?name__contains=web", "users") == ["cobweb", "webby"]
    assert names(api, "/users?name__icontains=WEB", "users") == ["Webster", "cobweb", "webby"]
    assert names(api, "/users?name__endswith=b", "users") == ["cobweb", "db"]
    assert names(api, "/users?name__iequals=DB", "users") == ["db"]
    assert names(api, "/users?name__icontains=web&name__endswith=y", "users") == ["webby"]
    assert names(api, "/users?name__fuzzy=nothing", "users") == ["Webster", "admin", "cobweb", "db", "webby"]


def test_inexact_filters_apply_to_other_lists_too(api: Api) -> None:
    make_project(api, "web-frontend")
    make_project(api, "web-backend")
    make_group(api, "Web-Admins")
    assert names(api, "/projects?name__startswith=web-", "projects") == ["web-backend", "web-frontend"]
    assert names(api, "/groups?name__icontains=web", "groups") == ["Web-Admins"]
    assert names(api, "/roles?name__endswith=er", "roles") == ["member", "reader"]


@pytest.fixture
def limited(tmp_path: Path, clock: ManualClock) -> Iterator[Api]:
    """A cloud whose identity lists hold at most three entities."""
    cloud = open_cloud(make_settings(tmp_path, list_limit=3), clock=clock)
    bootstrap(cloud)
    yield Api(cloud)
    cloud.close()


def test_past_the_list_limit_a_list_is_cut_and_marked_truncated(limited: Api) -> None:
    for name in ("ann", "ben", "cat", "dan"):
        make_user(limited, name)
    body = limited.get("/users").json()
    assert len(body["users"]) == 3
    assert body["truncated"] is True
    small = limited.get("/users?name__startswith=d").json()
    assert [u["name"] for u in small["users"]] == ["dan"]
    assert "truncated" not in small
    assert "truncated" not in limited.get("/roles?name=admin").json()


def ids(body: dict[str, Any], key: str) -> list[str]:
    return [item["id"] for item in body[key]]


def test_limit_and_marker_page_through_a_list_in_id_order_with_a_next_link(api: Api) -> None:
    """Keystone 2025.1's marker pagination: ``?limit=`` is the page size, ``?marker=`` the last id seen, pages are
    in id order and a page with more behind it links to the next one."""
    for name in ("ann", "ben", "cat", "dan"):
        make_user(api, name)
    every = sorted(ids(api.get("/users").json(), "users"))
    assert len(every) == 5

    first = api.get("/users?limit=2").json()
    assert ids(first, "users") == every[:2]
    assert first["links"]["next"] == f"http://127.0.0.1:8000/identity/v3/users?limit=2&marker={every[1]}"
    second = api.get(f"/users?limit=2&marker={every[1]}").json()
    assert ids(second, "users") == every[2:4]
    last = api.get(f"/users?limit=2&marker={every[3]}").json()
    assert ids(last, "users") == every[4:]
    assert last["links"]["next"] is None
    assert ids(api.get(f"/users?marker={every[4]}").json(), "users") == []
    assert ids(api.get(f"/users?marker={every[2]}").json(), "users") == every[3:]


def test_pagination_follows_the_filters_and_keeps_them_in_the_next_link(api: Api) -> None:
    for name in ("web-a", "web-b", "web-c", "db"):
        make_project(api, name)
    first = api.get("/projects?name__startswith=web&limit=2").json()
    assert len(first["projects"]) == 2
    following = first["links"]["next"].split("/identity/v3", 1)[1]
    assert "name__startswith=web" in following
    rest = api.get(following).json()
    assert {p["name"] for p in first["projects"] + rest["projects"]} == {"web-a", "web-b", "web-c"}
    assert rest["links"]["next"] is None


@pytest.mark.parametrize("path", ["/users", "/projects", "/groups", "/domains", "/roles", "/services", "/regions"])
def test_a_bad_limit_is_400(api: Api, path: str) -> None:
    for bad in ("abc", "-1"):
        refused = api.get(f"{path}?limit={bad}")
        assert refused.status_code == 400, (path, bad, refused.text)
        assert refused.json()["error"]["code"] == 400


def test_a_groups_members_and_a_users_projects_page_too(api: Api) -> None:
    """What ``user list --group --limit`` and ``project list --user --limit`` ask."""
    group = make_group(api, "crew")
    members = sorted(make_user(api, name) for name in ("ann", "ben", "cat"))
    for member in members:
        assert api.put(f"/groups/{group}/users/{member}").status_code == 204
    assert ids(api.get(f"/groups/{group}/users?limit=2").json(), "users") == members[:2]
    assert ids(api.get(f"/groups/{group}/users?limit=2&marker={members[1]}").json(), "users") == members[2:]

    projects = sorted(make_project(api, name) for name in ("p1", "p2", "p3"))
    for project in projects:
        assert api.put(f"/projects/{project}/users/{members[0]}/roles/{role_id(api, 'member')}").status_code == 204
    assert ids(api.get(f"/users/{members[0]}/projects?limit=2").json(), "projects") == projects[:2]
    assert ids(api.get(f"/users/{members[0]}/projects?marker={projects[1]}").json(), "projects") == projects[2:]


def role_id(api: Api, name: str) -> str:
    return str(api.get(f"/roles?name={name}").json()["roles"][0]["id"])


def test_a_limit_past_the_largest_page_is_cut_to_it(tmp_path: Path, clock: ManualClock) -> None:
    cloud = open_cloud(make_settings(tmp_path, max_db_limit=2), clock=clock)
    bootstrap(cloud)
    try:
        api = Api(cloud)
        for name in ("ann", "ben"):
            make_user(api, name)
        body = api.get("/users?limit=50").json()
        assert len(body["users"]) == 2
        assert body["links"]["next"] is not None
    finally:
        cloud.close()


def test_the_list_limit_is_the_default_page_with_a_next_link(limited: Api) -> None:
    for name in ("ann", "ben", "cat", "dan"):
        make_user(limited, name)
    first = limited.get("/users").json()
    assert len(first["users"]) == 3
    following = first["links"]["next"].split("/identity/v3", 1)[1]
    rest = limited.get(following).json()
    every = {u["id"] for u in first["users"] + rest["users"]}
    assert len(every) == 5
