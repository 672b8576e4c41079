"""An Octavia-speaking client over the in-process app, its fault check, and a load-balancing side (worker and
simulated amphorae) on a running plane, for the load-balancing API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.config import LoadBalancerSettings
from twinstack.core.loadbalancer.provisioning import LoadBalancerService
from twinstack.loadbalancer_plane import start_loadbalancer
from twinstack.sim.amphora import SimAmphoraDriver


class Octavia:
    def __init__(self, api: Api, token: str) -> None:
        self.api = api
        self.token = token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.http.request(method, f"/load-balancer/v2/lbaas{path}", headers={"X-Auth-Token": self.token},
                                     **kwargs)

    def create(self, path: str, key: str, **body: Any) -> dict[str, Any]:
        response = self.request("POST", path, json={key: body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()[key]
        return created

    def update(self, path: str, key: str, **body: Any) -> dict[str, Any]:
        response = self.request("PUT", path, json={key: body})
        assert response.status_code == 200, response.text
        updated: dict[str, Any] = response.json()[key]
        return updated

    def show(self, path: str, key: str) -> dict[str, Any]:
        response = self.request("GET", path)
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()[key]
        return shown

    def wait_active(self, lb_id: str, timeout: float = 10) -> dict[str, Any]:
        """Poll (bounded) until the load balancer is ACTIVE again (every change of its tree settled)."""
        deadline = time.monotonic() + timeout
        while True:
            lb = self.show(f"/loadbalancers/{lb_id}", "loadbalancer")
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            assert lb["provisioning_status"] in ("PENDING_CREATE", "PENDING_UPDATE"), lb
            assert time.monotonic() < deadline, f"load balancer stayed {lb['provisioning_status']}"
            time.sleep(0.02)

    def wait_gone(self, path: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", path).status_code != 404:
            assert time.monotonic() < deadline, f"{path} was not deleted"
            time.sleep(0.02)


def fault(response: httpx.Response, status: int) -> str:
    """Octavia's (WSME's) fault body, after checking the status; its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Server" if status >= 500 else "Client"), body
    message: str = body["faultstring"]
    return message


def running_amphorae(cloud: Cloud, plane: ComputePlane, apply_seconds: float = 0.05,
                     **settings: Any) -> Iterator[SimAmphoraDriver]:
    """The worker and simulated amphorae on ``plane``, for a fixture to ``yield from``."""
    started = start_loadbalancer(cloud, plane, LoadBalancerSettings(apply_seconds=apply_seconds, **settings))
    assert started.amphorae is not None
    yield started.amphorae
    cloud.loadbalancer = LoadBalancerService()


def on_the_runtime(plane: ComputePlane, timeout: float = 10) -> None:
    """Wait until ``plane``'s runtime ran everything queued before this call (a bus message published in-process
    is delivered by then)."""
    reached = threading.Event()
    plane.runtime.call_soon(reached.set)
    assert reached.wait(timeout), "the runtime did not get there"
