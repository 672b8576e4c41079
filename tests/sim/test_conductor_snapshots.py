"""The conductor's snapshot flow (createImage) against simulated hosts, in virtual time.

Hosts capture a disk in 4 s and upload 5 GB over a 10 Gb/s NIC in 4 s more. An in-memory image
service records what the flow asks of it, so these tests pin the timeline of task states and the
image's fate: active with the host's size on success, killed on any failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.sim.test_conductor_flows import FirstFit
from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore, MemoryPlacement
from twinstack.core.compute.model import Instance
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.errors import Conflict
from twinstack.rpc.bus import send
from twinstack.rpc.compute import CONDUCTOR_TOPIC, FlavorSpec, ImageSpec, InstanceActionResult
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

SMALL = FlavorSpec(id="2", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
SOURCE = ImageSpec(id="img-1", size_bytes=1000, disk_format="raw", container_format="bare",
                   properties={"os_type": "linux"})
SNAPSHOT_BYTES = 5_000_000_000  # 4 s at 10 Gb/s


@dataclass
class Images:
    """The image service as the flow sees it: statuses and sizes, no data."""

    status: dict[str, str] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    made: list[dict[str, object]] = field(default_factory=list)
    store_fails: bool = False

    def create(self, name: str, instance_uuid: str, project_id: str, user_id: str, source: ImageSpec | None,
               metadata: Mapping[str, str], root_gb: int = 0) -> str:
        image_id = f"snap-{len(self.made)}"
        self.made.append({"name": name, "instance_uuid": instance_uuid, "project_id": project_id,
                          "base": source.id if source else None, "metadata": dict(metadata)})
        self.status[image_id] = "queued"
        return image_id

    def store(self, image_id: str, size: int) -> bool:
        if self.store_fails or self.status[image_id] != "queued":
            self.kill(image_id)
            return False
        self.status[image_id], self.size[image_id] = "active", size
        return True

    def uploaded(self, image_id: str) -> bool:
        return self.status[image_id] == "active"

    def kill(self, image_id: str) -> None:
        if self.status[image_id] in ("queued", "saving"):
            self.status[image_id] = "killed"


@dataclass
class Cloudlet:
    runtime: SimRuntime
    instances: MemoryInstanceStore
    compute: ComputeService
    images: Images
    agent: SimAgent

    def boot(self) -> Instance:
        [vm] = self.compute.create_servers(BootRequest(name="vm", project_id="p", user_id="u", flavor=SMALL,
                                                       image=SOURCE), request_id="req-boot")
        self.runtime.run(until=12)
        assert vm.status == "ACTIVE"
        return vm

    def events(self, vm: Instance) -> list[tuple[str, str | None]]:
        return [(e.event, e.result) for a in self.instances.actions(vm.uuid) for e in a.events]


def cloudlet(failure: float = 0.0) -> Cloudlet:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(1, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, nic_gbps=10))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), snapshot_seconds=Fixed(value=4),
        snapshot_bytes=SNAPSHOT_BYTES, snapshot_failure_probability=failure, heartbeat_seconds=10)})
    instances, placement, images = MemoryInstanceStore(), MemoryPlacement(), Images()
    conductor = Conductor(runtime, bus, instances, MemoryHostStore(), placement, FirstFit(placement),
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5),
                          snapshots=images)
    conductor.start()
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    return Cloudlet(runtime, instances, ComputeService(runtime, bus, instances, snapshots=images), images, agent)


def test_a_snapshot_goes_through_nova_task_states_then_the_image_is_active() -> None:
    c = cloudlet()
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {"k": "v"}, "u", "req-snap")
    assert vm.task_state == states.IMAGE_SNAPSHOT_PENDING and c.images.status[image_id] == "queued"
    assert c.images.made == [{"name": "snap", "instance_uuid": vm.uuid, "project_id": "p", "base": "img-1",
                              "metadata": {"k": "v"}}]
    timeline: list[tuple[float, str | None]] = []
    for moment in (12.5, 15.9, 16.1, 19.9, 20.2):
        c.runtime.run(until=moment)
        timeline.append((moment, vm.task_state))
    assert timeline == [(12.5, states.IMAGE_SNAPSHOT), (15.9, states.IMAGE_SNAPSHOT),
                        (16.1, states.IMAGE_UPLOADING), (19.9, states.IMAGE_UPLOADING), (20.2, None)]
    assert vm.status == "ACTIVE"
    assert (c.images.status[image_id], c.images.size[image_id]) == ("active", SNAPSHOT_BYTES)
    assert ("compute_snapshot_instance", "Success") in c.events(vm)


def test_a_second_snapshot_while_one_runs_is_409_and_an_error_server_too() -> None:
    c = cloudlet()
    vm = c.boot()
    c.compute.create_image(vm.uuid, "one", {}, "u", "req-1")
    with pytest.raises(Conflict, match="task_state image_snapshot_pending"):
        c.compute.create_image(vm.uuid, "two", {}, "u", "req-2")
    assert len(c.images.made) == 1, "a refused snapshot makes no image"
    c.runtime.run(until=25)
    vm.vm_state = states.ERROR
    with pytest.raises(Conflict, match="vm_state error"):
        c.compute.create_image(vm.uuid, "three", {}, "u", "req-3")


def test_a_host_failure_kills_the_image_and_leaves_the_server_as_it_was() -> None:
    c = cloudlet(failure=1.0)
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {}, "u", "req-snap")
    c.runtime.run(until=17)
    assert c.images.status[image_id] == "killed"
    assert (vm.status, vm.task_state) == ("ACTIVE", None)
    assert ("compute_snapshot_instance", "Error") in c.events(vm)


def test_a_store_failure_kills_the_image() -> None:
    c = cloudlet()
    c.images.store_fails = True
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {}, "u", "req-snap")
    c.runtime.run(until=25)
    assert c.images.status[image_id] == "killed" and vm.task_state is None
    assert ("compute_snapshot_instance", "Error") in c.events(vm)


def test_a_host_seen_down_mid_snapshot_kills_the_image() -> None:
    c = cloudlet()
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {}, "u", "req-snap")
    c.runtime.run(until=13)
    c.agent.crash(vm.host or "")
    c.runtime.run(until=60)
    assert c.images.status[image_id] == "killed"


def uploading_host(c: Cloudlet, upload_lands: bool) -> None:
    """Make the simulated host answer a snapshot as a real host does: it uploaded the data through the image API
    itself (the image active, when ``upload_lands``) and says so with ``image_uploaded``."""
    answer = c.agent._answer

    def uploaded(host: Any, command_id: str, action: str, instance: str, ok: bool, fault: str | None = None,
                 image_size: int | None = None) -> None:
        if action != "snapshot" or not ok:
            answer(host, command_id, action, instance, ok, fault, image_size)
            return
        image_id = next(i for i, s in c.images.status.items() if s == "queued")
        if upload_lands:
            c.images.status[image_id] = "active"
        send(c.agent.bus, CONDUCTOR_TOPIC, InstanceActionResult(
            command_id=command_id, action=action, host=host.report.host, instance_uuid=instance, ok=True,
            image_size=image_size, image_uploaded=True))

    c.agent._answer = uploaded  # type: ignore[method-assign]


def test_a_host_that_uploaded_the_data_itself_leaves_the_image_to_it() -> None:
    c = cloudlet()
    uploading_host(c, upload_lands=True)
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {}, "u", "req-snap")
    c.runtime.run(until=25)
    assert c.images.status[image_id] == "active"
    assert image_id not in c.images.size, "the conductor stored no data of its own"
    assert vm.task_state is None and ("compute_snapshot_instance", "Success") in c.events(vm)


def test_a_host_upload_that_did_not_land_kills_the_image() -> None:
    c = cloudlet()
    uploading_host(c, upload_lands=False)
    vm = c.boot()
    image_id = c.compute.create_image(vm.uuid, "snap", {}, "u", "req-snap")
    c.runtime.run(until=25)
    assert c.images.status[image_id] == "killed"
    assert vm.task_state is None and ("compute_snapshot_instance", "Error") in c.events(vm)
