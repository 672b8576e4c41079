"""A Neutron-speaking client over the in-process app, for the networking API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api


class Neutron:
    """Requests to ``/network/v2.0`` as one user (the admin unless told otherwise)."""

    def __init__(self, api: Api, token: str | None = None) -> None:
        self.api = api
        self.token = token or api.admin_token

    def as_user(self, token: str) -> Neutron:
        return Neutron(self.api, token)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        return self.api.http.request(method, f"/network/v2.0{path}", headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def create(self, collection: str, key: str, **body: Any) -> dict[str, Any]:
        response = self.post(f"/{collection}", json={key: body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()[key]
        return created

    def network(self, name: str = "net", **body: Any) -> dict[str, Any]:
        return self.create("networks", "network", name=name, **body)

    def subnet(self, network_id: str, cidr: str = "10.0.0.0/24", **body: Any) -> dict[str, Any]:
        version = 6 if ":" in cidr else 4
        return self.create("subnets", "subnet", network_id=network_id, cidr=cidr, ip_version=version, **body)

    def port(self, network_id: str, **body: Any) -> dict[str, Any]:
        return self.create("ports", "port", network_id=network_id, **body)

    def public(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("/networks?name=public").json()["networks"][0]
        return found


def fault(response: httpx.Response, status: int, fault_type: str | None = None) -> str:
    """The message of a Neutron fault answer, after checking its status, shape and type."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    error = body["NeutronError"]
    assert set(error) == {"type", "message", "detail"}, error
    if fault_type is not None:
        assert error["type"] == fault_type, error
    message: str = error["message"]
    return message
