"""Identity lists as Keystone answers them: inexact filters on every list, and the configured list limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
