"""A Neutron-speaking client over the in-process app, for the networking API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.service_client import ServiceClient


class Neutron(ServiceClient):
    """Requests to ``/network/v2.0`` as one user (the admin unless told otherwise); no microversions."""

    prefix = "/network/v2.0"

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
