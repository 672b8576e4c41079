"""Helpers of the compute and image API tests: a live simulated plane with fast boots, a Nova-speaking
client over the in-process app, and project members made straight in the identity tables."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from tests.api.service_client import ServiceClient
from tests.conftest import FAST_KDF, Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane, build_compute_plane, snapshot_images
from twinstack.core.clock import utcnow
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.core.identity.assignments import USER_PROJECT
from twinstack.core.identity.passwords import hash_password
from twinstack.core.image.images import TEST_IMAGE_ID
from twinstack.core.scheduler.filter_scheduler import scheduler_factory
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db.models.identity import Project, Role, RoleAssignment, User
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed

PASSWORD = "member-secret"
HOSTS = 3
HOST_PROFILE = HostProfile(vcpus=8, ram_mb=16384 + 512, disk_gb=200, cpu_allocation_ratio=1.0)


def start_plane(cloud: Cloud, hosts: int = HOSTS, boot_seconds: float = 0.2,
                migrate_seconds: float = 0.2, snapshot_failure_probability: float = 0.0,
                conductor: ConductorSettings | None = None) -> ComputePlane:
    """A live plane over ``hosts`` simulated hosts that boot in ``boot_seconds`` and move an instance in
    ``migrate_seconds`` (a snapshot takes 0.3 s and fails with the given probability); waits for them to
    register."""
    datacenter = uniform_datacenter(hosts, profile=HOST_PROFILE).model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=boot_seconds), delete_seconds=Fixed(value=0.1), power_seconds=Fixed(value=0.1),
        migrate_seconds=Fixed(value=migrate_seconds), snapshot_seconds=Fixed(value=0.3), snapshot_bytes=48 * 1024,
        snapshot_failure_probability=snapshot_failure_probability, heartbeat_seconds=1.0)})
    plane = build_compute_plane(cloud.sessions, SqlBackedPlacement(cloud.sessions), scheduler_factory(), datacenter,
                                speed=1.0,
                                conductor_settings=conductor or ConductorSettings(
                                    build_timeout=30, service_down_time=60, check_interval=5),
                                snapshots=snapshot_images(cloud))
    cloud.compute = plane.context()
    deadline = time.monotonic() + 10
    while len(plane.hosts.all()) < hosts:
        assert time.monotonic() < deadline, "simulated hosts did not register"
        time.sleep(0.05)
    return plane


def running_plane(cloud: Cloud, migrate_seconds: float = 0.2) -> Iterator[ComputePlane]:
    plane = start_plane(cloud, migrate_seconds=migrate_seconds)
    try:
        yield plane
    finally:
        plane.stop()
        cloud.compute = None


class Nova(ServiceClient):
    """Compute (and image) requests over the in-process app, as a given user at a given microversion."""

    prefix = "/compute/v2.1"
    service_type = "compute"
    default_version = "2.1"

    @property
    def microversion(self) -> tuple[int, int]:
        major, minor = self.version.split(".")
        return int(major), int(minor)

    def image(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.http.request(method, f"/image{path}", headers={"X-Auth-Token": self.token}, **kwargs)

    # servers

    def boot(self, name: str = "vm", flavor: str = "1", image: str | None = None, **server: Any) -> dict[str, Any]:
        body = {"name": name, "flavorRef": flavor, "imageRef": image or TEST_IMAGE_ID, **server}
        if self.microversion >= (2, 37) and "networks" not in server:
            body["networks"] = "none"
        response = self.post("/servers", json={"server": body})
        assert response.status_code == 202, response.text
        created: dict[str, Any] = response.json()["server"]
        return created

    def server(self, server_id: str) -> dict[str, Any]:
        response = self.get(f"/servers/{server_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["server"]
        return found

    def wait_for(self, server_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
        """Poll (bounded) until the server shows one of ``statuses`` with no task running."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.server(server_id)
            if server["status"] in statuses and server.get("OS-EXT-STS:task_state") is None:
                return server
            assert time.monotonic() < deadline, f"server stayed {server['status']}: {server}"
            time.sleep(0.05)

    def wait_gone(self, server_id: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.get(f"/servers/{server_id}").status_code != 404:
            assert time.monotonic() < deadline, "server was not deleted"
            time.sleep(0.05)

    def action(self, server_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.post(f"/servers/{server_id}/action", json=body)


@dataclass
class Member:
    user_id: str
    project_id: str
    token: str


def huge_flavor(nova: Nova) -> str:
    """A flavor no host can take, with the admin's quotas lifted so a boot of it fails in the scheduler."""
    body = {"flavor": {"name": "huge", "ram": 1048576, "vcpus": 64, "disk": 10}}
    response = nova.post("/flavors", json=body)
    assert response.status_code == 200, response.text
    flavor_id: str = response.json()["flavor"]["id"]
    project = nova.api.cloud.validator.validate(nova.token).project_id
    lifted = nova.put(f"/os-quota-sets/{project}", json={"quota_set": {"cores": -1, "ram": -1}})
    assert lifted.status_code == 200, lifted.text  # so the build reaches the scheduler, not the quota check
    return flavor_id


def ensure_project(cloud: Cloud, name: str) -> str:
    with cloud.transaction() as session:
        project = session.scalar(select(Project).where(Project.name == name, Project.domain_id == "default"))
        if project is None:
            project = Project(name=name, domain_id="default", description="", enabled=True, tags=[], options={},
                              extra={})
            session.add(project)
            session.flush()
        return project.id


def make_member(api: Api, name: str, project: str, roles: tuple[str, ...] = ("member",)) -> Member:
    """A user with ``roles`` on ``project`` (rows written straight into identity), logged in there."""
    project_id = ensure_project(api.cloud, project)
    with api.cloud.transaction() as session:
        user = User(name=name, domain_id="default", enabled=True, password_hash=hash_password(PASSWORD, FAST_KDF),
                    created_at=utcnow(api.cloud.clock), options={}, extra={})
        session.add(user)
        session.flush()
        for role_name in roles:
            role = session.scalar(select(Role).where(Role.name == role_name, Role.scope_key == ""))
            assert role is not None
            session.add(RoleAssignment(kind=USER_PROJECT, actor_id=user.id, target_id=project_id, role_id=role.id,
                                       inherited=False))
        user_id = user.id
    return Member(user_id, project_id, api.login(name, PASSWORD, project=project))
