"""The real agent speaks the host-agent protocol over a bus, with no control plane: the messages a conductor
sends, the answers it gets, and a runtime that never waits on libvirt while the agent works."""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.real.conftest import domain_state, remove_domains_of, state_dir
from twinstack.real import disks, test_image
from twinstack.real.agent import AgentConfig, RealAgent
from twinstack.real.host_facts import memory_mb
from twinstack.real.live_migration import LiveMover
from twinstack.rpc.bus import send
from twinstack.rpc.compute import (
    CONDUCTOR_TOPIC,
    DestroyInstance,
    FlavorSpec,
    Heartbeat,
    HostInstances,
    HostsRegistered,
    ImageSpec,
    InstanceActionResult,
    LiveMigrateInstance,
    PowerAction,
    RebuildInstance,
    ResizeInstance,
    SnapshotInstance,
    SnapshotProgress,
    SpawnInstance,
    agent_topic,
)
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Message, open_envelope
from twinstack.rpc.volume import VOLUME_TOPIC, ConnectVolume, DisconnectVolume, HostVolumeResult, host_volumes_topic
from twinstack.sim.runtime import LiveRuntime

pytestmark = pytest.mark.slow
HOST = "protocol-host"
FLAVOR = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=256, disk_gb=1)


@dataclass
class Harness:
    runtime: LiveRuntime
    bus: InProcessBus
    agent: RealAgent
    state: Path
    image: ImageSpec
    heard: queue.Queue[Message] = field(default_factory=queue.Queue)
    results: dict[str, InstanceActionResult] = field(default_factory=dict)
    others: list[Message] = field(default_factory=list)

    def command(self, message: Any, timeout: float = 60) -> InstanceActionResult:
        send(self.bus, agent_topic(HOST), message)
        return self.answer(message.command_id, timeout)

    def answer(self, command_id: str, timeout: float = 60) -> InstanceActionResult:
        deadline = time.monotonic() + timeout
        while command_id not in self.results:
            message = self.heard.get(timeout=max(deadline - time.monotonic(), 0.01))
            if isinstance(message, InstanceActionResult):
                self.results[message.command_id] = message
            else:
                self.others.append(message)
        return self.results.pop(command_id)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    state, store = state_dir(), tmp_path_factory.mktemp("store")
    files = test_image.build(tmp_path_factory.mktemp("build"))
    kernel_id, ramdisk_id, boot_id = (str(uuid.uuid4()) for _ in range(3))
    shutil.copyfile(files.kernel, store / kernel_id)
    shutil.copyfile(files.ramdisk, store / ramdisk_id)
    disks.create_blank(store / boot_id, 64)
    image = ImageSpec(id=boot_id, properties={"kernel_id": kernel_id, "ramdisk_id": ramdisk_id})
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    config = AgentConfig(name="protocol-agent", host=HOST, state_dir=state, image_stores=(store,), virt_type="qemu",
                         heartbeat_seconds=0.5, clean_shutdown_seconds=3)
    harness = Harness(runtime, bus, RealAgent(config, runtime, bus), state, image)
    bus.subscribe(CONDUCTOR_TOPIC, lambda envelope: harness.heard.put(open_envelope(envelope)))
    runtime.start()
    runtime.call_soon(harness.agent.start)
    assert harness.agent.ready.wait(60) and harness.agent.failure is None
    try:
        yield harness
    finally:
        harness.agent.stop()
        runtime.stop()
        remove_domains_of(state)
        shutil.rmtree(state, ignore_errors=True)


def test_registers_the_real_inventory_reports_what_it_holds_and_heartbeats(harness: Harness) -> None:
    time.sleep(1.2)
    with pytest.raises(queue.Empty):
        harness.answer("none", timeout=0.1)
    (registered,) = [m for m in harness.others if isinstance(m, HostsRegistered)]
    (report,) = registered.hosts
    assert report.host == HOST and report.hypervisor_type == "QEMU"
    assert report.inventory["VCPU"].total == os.cpu_count()
    assert report.inventory["MEMORY_MB"].total == memory_mb()
    assert report.inventory["DISK_GB"].total >= 1
    (found,) = [m for m in harness.others if isinstance(m, HostInstances)]
    assert found.host == HOST and found.instances == {}
    assert sum(isinstance(m, Heartbeat) for m in harness.others) >= 2


def test_spawn_power_and_destroy_while_the_runtime_keeps_time(harness: Harness) -> None:
    uuid_ = str(uuid.uuid4())
    gaps: list[float] = []
    last = [time.monotonic()]
    ticking = threading.Event()
    ticking.set()

    def tick() -> None:  # a runtime timer every 50 ms: it fires late only if the runtime's thread is blocked
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now
        if ticking.is_set():
            harness.runtime.call_later(0.05, tick)

    harness.runtime.call_soon(tick)
    spawn = SpawnInstance(host=HOST, instance_uuid=uuid_, instance_name="proto-1", flavor=FLAVOR, image=harness.image)
    result = harness.command(spawn)
    assert (result.ok, result.action, result.power_state) == (True, "spawn", 1), result.fault
    assert harness.command(spawn).command_id == spawn.command_id  # a repeat is answered again, not redone
    stop = harness.command(PowerAction(host=HOST, instance_uuid=uuid_, action="stop"))  # waits for the guest
    assert (stop.ok, stop.power_state) == (True, 4)
    ticking.clear()
    assert max(gaps) < 0.5, "the runtime's thread waited on libvirt"
    assert harness.command(PowerAction(host=HOST, instance_uuid=uuid_, action="start")).power_state == 1
    assert harness.command(PowerAction(host=HOST, instance_uuid=uuid_, action="pause")).power_state == 3
    assert harness.command(PowerAction(host=HOST, instance_uuid=uuid_, action="unpause")).power_state == 1
    connection = libvirt.open("qemu:///system")
    try:
        assert domain_state(connection, uuid_) == libvirt.VIR_DOMAIN_RUNNING
        assert harness.command(DestroyInstance(host=HOST, instance_uuid=uuid_)).ok
        assert domain_state(connection, uuid_) is None
    finally:
        connection.close()
    assert not (harness.state / "instances" / uuid_).exists()
    assert harness.command(DestroyInstance(host=HOST, instance_uuid=uuid_)).ok  # gone already is fine


def test_a_failed_spawn_reports_a_fault_and_leaves_nothing(harness: Harness) -> None:
    uuid_ = str(uuid.uuid4())
    missing = ImageSpec(id=str(uuid.uuid4()))
    result = harness.command(SpawnInstance(host=HOST, instance_uuid=uuid_, instance_name="x", flavor=FLAVOR,
                                           image=missing))
    assert not result.ok and "has no data" in (result.fault or "")
    assert not (harness.state / "instances" / uuid_).exists()


def test_unknown_instances_and_unsupported_commands_are_refused_at_once(harness: Harness) -> None:
    ghost = str(uuid.uuid4())
    result = harness.command(PowerAction(host=HOST, instance_uuid=ghost, action="start"))
    assert not result.ok and "no domain" in (result.fault or "")
    resize = harness.command(ResizeInstance(host=HOST, instance_uuid=ghost, destination="elsewhere", flavor=FLAVOR))
    assert not resize.ok and "takes part in no resize" in (resize.fault or "")  # no migration_dir configured
    rebuild = harness.command(RebuildInstance(host=HOST, instance_uuid=ghost, instance_name="r", flavor=FLAVOR,
                                              image=harness.image))
    assert not rebuild.ok and "no domain" in (rebuild.fault or "")
    live = harness.command(LiveMigrateInstance(host=HOST, instance_uuid=ghost, destination="elsewhere"))
    assert not live.ok and "takes part in no live migration" in (live.fault or "")


def test_a_live_migration_no_destination_takes_leaves_the_guest_running_where_it_was(harness: Harness) -> None:
    uuid_ = str(uuid.uuid4())
    spawn = SpawnInstance(host=HOST, instance_uuid=uuid_, instance_name="live-1", flavor=FLAVOR, image=harness.image)
    assert harness.command(spawn).ok
    assert harness.agent.driver is not None
    exchange = state_dir()
    harness.agent.live = LiveMover(harness.agent.driver, HOST, exchange, arrival_seconds=1.0)
    connection = libvirt.open("qemu:///system")
    try:
        (exchange / uuid_).mkdir()
        (exchange / uuid_ / "incoming").write_text("elsewhere")  # a destination that got ready, then died
        result = harness.command(LiveMigrateInstance(host=HOST, instance_uuid=uuid_, destination="elsewhere"), 120)
        assert (result.ok, result.action) == (False, "live_migrate")
        assert "did not take the guest in time" in (result.fault or "") and "runs on protocol-host again" in (
            result.fault or "")
        assert domain_state(connection, uuid_) == libvirt.VIR_DOMAIN_RUNNING, "restored from its saved state"
        assert list(exchange.iterdir()) == [], "nothing is left in transit"
    finally:
        connection.close()
        harness.agent.live = None
        shutil.rmtree(exchange, ignore_errors=True)
        assert harness.command(DestroyInstance(host=HOST, instance_uuid=uuid_)).ok


def test_a_snapshot_captures_the_disk_reports_progress_and_uploads_it(harness: Harness) -> None:
    uuid_ = str(uuid.uuid4())
    spawn = SpawnInstance(host=HOST, instance_uuid=uuid_, instance_name="snap-1", flavor=FLAVOR, image=harness.image)
    assert harness.command(spawn).ok
    uploaded: list[tuple[str, bytes, int]] = []

    def upload(image_id: str, path: Path) -> None:
        uploaded.append((image_id, path.read_bytes()[:4], path.stat().st_size))

    def refuse(_image_id: str, _path: Path) -> None:
        raise OSError("the image service said 410 Gone")

    try:
        harness.agent.upload = refuse
        failed = harness.command(SnapshotInstance(host=HOST, instance_uuid=uuid_, image_id="img-refused"))
        assert not failed.ok and "410 Gone" in (failed.fault or "") and not failed.image_uploaded
        harness.agent.upload = upload
        harness.others.clear()
        taken = harness.command(SnapshotInstance(host=HOST, instance_uuid=uuid_, image_id="img-1"))
        assert (taken.ok, taken.action, taken.image_uploaded, taken.power_state) == (True, "snapshot", True, 1)
        assert uploaded == [("img-1", b"QFI\xfb", taken.image_size)], "a flat qcow2 of the disk, sent as it is"
        progress = [m.task_state for m in harness.others if isinstance(m, SnapshotProgress)]
        assert progress == ["image_pending_upload", "image_uploading"]
        assert list((harness.state / "snapshots").iterdir()) == [], "the captured file goes either way"
        ghost = harness.command(SnapshotInstance(host=HOST, instance_uuid=str(uuid.uuid4()), image_id="img-2"))
        assert not ghost.ok and "not on this host" in (ghost.fault or "")
    finally:
        harness.agent.upload = None
        assert harness.command(DestroyInstance(host=HOST, instance_uuid=uuid_)).ok


def test_volumes_this_host_does_not_hold_are_refused_and_detaching_one_is_done(harness: Harness) -> None:
    answers: queue.Queue[Message] = queue.Queue()
    harness.bus.subscribe(VOLUME_TOPIC, lambda envelope: answers.put(open_envelope(envelope)))
    ghost = str(uuid.uuid4())
    connect = ConnectVolume(host=HOST, instance_uuid=ghost, volume_id="v-elsewhere", attachment_id="a-1",
                            mountpoint="/dev/vdb")
    send(harness.bus, host_volumes_topic(HOST), connect)
    refused = answers.get(timeout=30)
    assert isinstance(refused, HostVolumeResult)
    assert (refused.action, refused.ok, refused.attachment_id) == ("connect", False, "a-1")
    assert "not held by a back end of this host" in (refused.fault or "")
    send(harness.bus, host_volumes_topic(HOST), DisconnectVolume(host=HOST, instance_uuid=ghost,
                                                                 volume_id="v-elsewhere", attachment_id="a-1"))
    detached = answers.get(timeout=30)
    assert isinstance(detached, HostVolumeResult) and (detached.action, detached.ok) == ("disconnect", True)


def test_a_volume_command_naming_a_reply_topic_is_answered_there_and_again_when_repeated(harness: Harness) -> None:
    """A conductor attaching a running server's volume names its own reply topic; a repeat of the command (the
    same id, redelivered) is answered from memory, on the topic the repeat names."""
    replies: queue.Queue[Message] = queue.Queue()
    harness.bus.subscribe("reply.conductor.test", lambda envelope: replies.put(open_envelope(envelope)))
    connect = ConnectVolume(host=HOST, instance_uuid=str(uuid.uuid4()), volume_id="v-elsewhere",
                            attachment_id="a-2", mountpoint="/dev/vdb")
    send(harness.bus, host_volumes_topic(HOST), connect, reply_to="reply.conductor.test")
    answered = replies.get(timeout=30)
    assert isinstance(answered, HostVolumeResult) and answered.command_id == connect.command_id
    assert (answered.action, answered.ok, answered.attachment_id) == ("connect", False, "a-2")
    send(harness.bus, host_volumes_topic(HOST), connect, reply_to="reply.conductor.test")
    again = replies.get(timeout=30)
    assert again == answered
