"""Who may call what: no token is 401 on every route of every service (walked from the route tables, so a new
route is covered as soon as it is mounted), another project's things are 404 as if they did not exist, and
admin-only calls are 403 for a project member; every refusal in the service's own fault format, and none
changes anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from tests.api.compute_helpers import Nova
from tests.api.hostile import HostileCloud, hostile_cloud
from tests.api.volume_helpers import Cinder
from tests.conftest import Api
from twinstack.api.openapi_doc import api_routes
from twinstack.api.services import SERVICES

PUBLIC = {
    ("identity", "POST", "/v3/auth/tokens"),  # logging in
    # Keystone lets a user whose password expired (so who has no token) change it by proving the old one.
    ("identity", "POST", "/v3/users/{user_id}/password"),
}
"""Routes answered without a token besides each service's version documents."""
VERSION_DOCUMENTS = {"discovery", "root"}
"""The modules of the services' version documents (placement's is ``root``)."""

FAULT_KEYS = {"identity": {"error"}, "compute": {"itemNotFound", "forbidden", "unauthorized"},
              "block-storage": {"itemNotFound", "forbidden", "unauthorized"}, "network": {"NeutronError"},
              "placement": {"errors"}, "image": {"code", "title", "message", "error"},
              "load-balancer": {"faultcode", "faultstring", "debuginfo"}}
"""The top-level keys of each service's fault bodies."""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCloud]:
    yield from hostile_cloud(tmp_path_factory.mktemp("hostile-access"))


LATEST = {"compute": "compute latest", "block-storage": "volume latest", "placement": "placement latest"}
"""Each microversioned service asked for its newest version, so that every route it has is there."""


def mounted_routes(api: Api) -> Iterator[tuple[str, str, str, str]]:
    """(service type, method, path template, URL) of every API route of every mounted service."""
    mounts = {route.path: route.app for route in api.http.app.routes if isinstance(route, Mount)}
    for service in SERVICES:
        for route in api_routes(mounts[service.prefix]):
            if route.endpoint.__module__.rsplit(".", 1)[-1] in VERSION_DOCUMENTS:
                continue
            url = service.prefix + re.sub(r"\{[^}]+\}", "x1", route.path_format)
            for method in sorted(route.methods or ()):
                yield service.type, method, route.path_format, url


def latest(service: str) -> dict[str, str]:
    return {"OpenStack-API-Version": LATEST[service]} if service in LATEST else {}


def fault_mismatch(service: str, response: httpx.Response, status: int) -> str | None:
    """Why ``response`` is not a ``status`` fault in the service's format; None if it is."""
    what = f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:200]}"
    if response.status_code != status:
        return what
    if response.request.method != "HEAD" and not (response.json() and set(response.json()) <= FAULT_KEYS[service]):
        return what
    return None


def assert_faults(answers: list[tuple[str, httpx.Response]], status: int) -> None:
    mismatches = [m for service, response in answers if (m := fault_mismatch(service, response, status))]
    assert not mismatches, "\n".join(mismatches)


def test_every_route_but_login_and_versions_needs_a_token(hostile: HostileCloud) -> None:
    walked = list(mounted_routes(hostile.api))
    assert len(walked) > 300  # the walk really found the route tables
    answers = [(service, hostile.api.http.request(method, url, headers=latest(service)))
               for service, method, template, url in walked if (service, method, template) not in PUBLIC]
    assert_faults(answers, 401)
    assert {service.type for service in SERVICES} <= {service for service, _ in answers}


def test_a_bad_token_is_401_too(hostile: HostileCloud) -> None:
    assert_faults([(service, hostile.api.http.get(url, headers={"X-Auth-Token": "not-a-token", **latest(service)}))
                   for service, method, template, url in mounted_routes(hostile.api)
                   if method == "GET" and (service, method, template) not in PUBLIC], 401)


@pytest.fixture(scope="module")
def alices_things(hostile: HostileCloud) -> dict[str, str]:
    """A server, a network, a volume and a private image of project alpha."""
    api, alice = hostile.api, hostile.alice
    server = Nova(api, alice.token).boot("alices-vm")["id"]
    network = api.http.post("/network/v2.0/networks", json={"network": {"name": "alices-net"}},
                            headers={"X-Auth-Token": alice.token})
    assert network.status_code == 201, network.text
    volume = Cinder(api, alice.token).create(size=1, name="alices-volume")["id"]
    image = api.http.post("/image/v2/images", json={"name": "alices-image", "visibility": "private",
                                                    "disk_format": "raw", "container_format": "bare"},
                          headers={"X-Auth-Token": alice.token})
    assert image.status_code == 201, image.text
    return {"server": server, "network": network.json()["network"]["id"], "volume": volume,
            "image": image.json()["id"]}


def cross_project_calls(things: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(service, method, URL, request options): show, update and delete of each of alice's things."""
    server = f"/compute/v2.1/servers/{things['server']}"
    network = f"/network/v2.0/networks/{things['network']}"
    volume = f"/volume/v3/volumes/{things['volume']}"
    image = f"/image/v2/images/{things['image']}"
    patch = {"content": b'[{"op": "replace", "path": "/name", "value": "mine"}]',
             "headers": {"Content-Type": "application/openstack-images-v2.1-json-patch"}}
    return [
        ("compute", "GET", server, {}), ("compute", "PUT", server, {"json": {"server": {"name": "mine"}}}),
        ("compute", "DELETE", server, {}),
        ("network", "GET", network, {}), ("network", "PUT", network, {"json": {"network": {"name": "mine"}}}),
        ("network", "DELETE", network, {}),
        ("block-storage", "GET", volume, {}), ("block-storage", "PUT", volume, {"json": {"volume": {"name": "mine"}}}),
        ("block-storage", "DELETE", volume, {}),
        ("image", "GET", image, {}), ("image", "PATCH", image, patch), ("image", "DELETE", image, {}),
    ]


def test_another_projects_things_are_not_found(hostile: HostileCloud, alices_things: dict[str, str]) -> None:
    api, bob = hostile.api, hostile.bob
    answers = []
    for service, method, url, options in cross_project_calls(alices_things):
        headers = {"X-Auth-Token": bob.token, **options.pop("headers", {})}
        answers.append((service, api.http.request(method, url, headers=headers, **options)))
    assert_faults(answers, 404)
    for _, method, url, _ in cross_project_calls(alices_things):
        if method == "GET":  # nothing changed: alice still sees each of them, under its own name
            shown = api.http.get(url, headers={"X-Auth-Token": hostile.alice.token})
            assert shown.status_code == 200, shown.text
            assert "mine" not in shown.text


def admin_only_calls(hostile: HostileCloud) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(service, method, URL, JSON body) of calls whose policy is admin-only, one or more per service."""
    alpha, beta = hostile.alice.project_id, hostile.bob.project_id
    return [
        ("compute", "POST", "/compute/v2.1/flavors", {"flavor": {"name": "huge", "ram": 1024, "vcpus": 1, "disk": 1}}),
        ("compute", "DELETE", "/compute/v2.1/flavors/1", {}),
        ("compute", "GET", "/compute/v2.1/os-hypervisors", {}),
        ("compute", "GET", "/compute/v2.1/os-services", {}),
        ("compute", "POST", "/compute/v2.1/os-aggregates", {"aggregate": {"name": "agg"}}),
        ("compute", "GET", "/compute/v2.1/os-migrations", {}),
        ("compute", "PUT", f"/compute/v2.1/os-quota-sets/{alpha}", {"quota_set": {"instances": 1000}}),
        ("compute", "GET", "/compute/v2.1/os-simple-tenant-usage?start=2020-01-01T00:00:00", {}),
        ("network", "POST", "/network/v2.0/networks", {"network": {"name": "ext", "router:external": True}}),
        ("network", "POST", "/network/v2.0/networks", {"network": {"name": "vlan", "provider:network_type": "vlan",
                                                                   "provider:physical_network": "physnet1"}}),
        ("network", "PUT", f"/network/v2.0/quotas/{alpha}", {"quota": {"network": 1000}}),
        ("block-storage", "POST", "/volume/v3/types", {"volume_type": {"name": "gold"}}),
        ("block-storage", "GET", "/volume/v3/scheduler-stats/get_pools", {}),
        ("block-storage", "GET", "/volume/v3/os-services", {}),
        ("block-storage", "PUT", f"/volume/v3/os-quota-sets/{alpha}", {"quota_set": {"volumes": 1000}}),
        ("placement", "GET", "/placement/resource_providers", {}),
        ("placement", "POST", "/placement/resource_providers", {"name": "rogue"}),
        ("identity", "POST", "/identity/v3/domains", {"domain": {"name": "rogue"}}),
        ("identity", "POST", "/identity/v3/projects", {"project": {"name": "rogue"}}),
        ("identity", "POST", "/identity/v3/users", {"user": {"name": "rogue", "domain_id": "default"}}),
        ("identity", "GET", f"/identity/v3/projects/{beta}", {}),
        ("identity", "GET", "/identity/v3/domains", {}),
        ("image", "POST", "/image/v2/images", {"name": "everyones", "visibility": "public"}),
    ]


def test_admin_only_calls_are_forbidden_to_members(hostile: HostileCloud) -> None:
    api = hostile.api
    assert_faults([(service, api.http.request(method, url, json=body or None,
                                              headers={"X-Auth-Token": hostile.alice.token}))
                   for service, method, url, body in admin_only_calls(hostile)], 403)
    # the refusals were policy, not broken calls: the admin reads what the member could not, and the member
    # created nothing
    for _, method, url, _ in admin_only_calls(hostile):
        if method == "GET":
            assert api.http.get(url, headers={"X-Auth-Token": api.admin_token}).status_code == 200, url
    names = [f["name"] for f in api.http.get("/compute/v2.1/flavors",
                                             headers={"X-Auth-Token": api.admin_token}).json()["flavors"]]
    assert "huge" not in names
