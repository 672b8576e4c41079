"""HEAD answers wherever GET does, as Keystone's (Flask's) routes do: the same status, no body."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.api.identity_people import make_user
from tests.conftest import Api
from twinstack.api.identity import ROUTERS, build_app


def test_every_identity_get_route_also_answers_head(api: Api) -> None:
    build_app(api.cloud, "http://127.0.0.1:8000/identity")
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 100
    heads = {r.path for r in routes if "HEAD" in r.methods}
    assert sorted(r.path for r in routes if "GET" in r.methods and r.path not in heads) == []


@pytest.mark.parametrize("path", [
    "/services", "/endpoints", "/regions", "/regions/RegionOne", "/credentials", "/OS-TRUST/trusts",
    "/auth/catalog", "/auth/projects", "/auth/domains", "/auth/system", "/users",
])
def test_head_is_get_without_the_body(api: Api, path: str) -> None:
    got = api.get(path)
    assert got.status_code == 200, got.text
    head = api.head(path)
    assert head.status_code == 200
    assert head.content == b""


def test_head_of_a_missing_entity_is_404_without_a_body(api: Api) -> None:
    make_user(api, "someone")
    assert api.get("/services/nope").status_code == 404
    head = api.head("/services/nope")
    assert head.status_code == 404
    assert head.content == b""


def test_a_head_route_of_its_own_still_answers_as_keystone_documents_it(api: Api) -> None:
    """Checking an implied role is Keystone's one HEAD answering 204 where its GET answers 200."""
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["roles"]}
    assert api.get(f"/roles/{roles['admin']}/implies/{roles['member']}").status_code == 200
    assert api.head(f"/roles/{roles['admin']}/implies/{roles['member']}").status_code == 204
