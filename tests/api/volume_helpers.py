"""Helpers of the block storage tests: a live plane with small, fast simulated back ends, and a Cinder client
over the in-process app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.api.compute_helpers import start_plane
from tests.api.service_client import ServiceClient
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.config import VolumeBackendSettings, VolumeSettings
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.volume_plane import VolumePlane, start_volume

SMALL_BACKENDS = [
    VolumeBackendSettings(name="ssd", volume_backend_name="ssd", pools=2, capacity_gb=100),
    VolumeBackendSettings(name="hdd", volume_backend_name="hdd", capacity_gb=500, thin_provisioning=True,
                          max_over_subscription_ratio=2.0),
]
"""Two thick 100 GiB ssd pools and one thin 500 GiB hdd pool that may promise 1000 GiB."""
FAST = VolumeSettings(backends=SMALL_BACKENDS, create_seconds=0.05, delete_seconds=0.05, attach_seconds=0.05,
                      clone_gb_per_second=1000.0, report_seconds=0.5)


@dataclass
class Planes:
    compute: ComputePlane
    volume: VolumePlane


def running_planes(api: Api, settings: VolumeSettings = FAST,
                   conductor: ConductorSettings | None = None) -> Iterator[Planes]:
    """A compute plane (``conductor``: its conductor's settings, else start_plane's) with block storage beside it."""
    compute = start_plane(api.cloud, conductor=conductor)
    volume = start_volume(api.cloud, compute, settings)
    try:
        wait_until(lambda: len(Cinder(api).get("/scheduler-stats/get_pools").json().get("pools", [])) == 3,
                   "back ends did not report their pools")
        yield Planes(compute, volume)
    finally:
        compute.stop()
        api.cloud.compute = None
        api.cloud.volume = None


def wait_until(check: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class Cinder(ServiceClient):
    """Block storage requests over the in-process app, as a given user at a given microversion."""

    prefix = "/volume/v3"
    service_type = "volume"
    default_version = "3.71"

    def create(self, **volume: Any) -> dict[str, Any]:
        response = self.post("/volumes", json={"volume": volume})
        assert response.status_code == 202, response.text
        created: dict[str, Any] = response.json()["volume"]
        return created

    def volume(self, volume_id: str) -> dict[str, Any]:
        response = self.get(f"/volumes/{volume_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["volume"]
        return found

    def wait_for(self, volume_id: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            volume = self.volume(volume_id)
            if volume["status"] in statuses:
                return volume
            assert time.monotonic() < deadline, f"volume stayed {volume['status']}"
            time.sleep(0.05)

    def wait_gone(self, volume_id: str, timeout: float = 10) -> None:
        wait_until(lambda: self.get(f"/volumes/{volume_id}").status_code == 404, "volume was not deleted", timeout)

    def snapshot(self, volume_id: str, name: str = "snap") -> dict[str, Any]:
        response = self.post("/snapshots", json={"snapshot": {"volume_id": volume_id, "name": name}})
        assert response.status_code == 202, response.text
        snapshot: dict[str, Any] = response.json()["snapshot"]
        wait_until(lambda: self.get(f"/snapshots/{snapshot['id']}").json()["snapshot"]["status"] == "available",
                   "snapshot did not become available")
        return snapshot

    def lift_quota(self, project_id: str) -> None:
        lifted = self.put(f"/os-quota-sets/{project_id}", json={"quota_set": {"gigabytes": -1, "volumes": -1}})
        assert lifted.status_code == 200, lifted.text

    def pools(self) -> dict[str, dict[str, Any]]:
        found = self.get("/scheduler-stats/get_pools?detail=true").json()["pools"]
        return {p["name"]: p["capabilities"] for p in found}
