"""Simulated storage answers the block storage protocol in virtual time: capacity reports, creates (a clone
takes size / copy speed longer), refusals of what a pool cannot hold, and host connects."""

from __future__ import annotations

from twinstack.config import VolumeBackendSettings, VolumeSettings
from twinstack.rpc.bus import send, typed
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Message
from twinstack.rpc.volume import (
    VOLUME_TOPIC,
    ConnectVolume,
    CreateVolume,
    DeleteVolume,
    HostVolumeResult,
    MigrateVolume,
    PoolsReported,
    StorageResult,
    host_volumes_topic,
    storage_topic,
)
from twinstack.sim.runtime import SimRuntime
from twinstack.sim.storage import SimHostVolumes, SimStorageAgent, StorageBehaviour

SETTINGS = VolumeSettings(backends=[VolumeBackendSettings(name="ssd", volume_backend_name="ssd", capacity_gb=10)],
                          create_seconds=1.0, delete_seconds=0.5, attach_seconds=0.25, clone_gb_per_second=2.0,
                          report_seconds=60.0)
POOL = "twinstack@ssd#ssd"


def rig() -> tuple[SimRuntime, InProcessBus, list[tuple[float, Message]]]:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    heard: list[tuple[float, Message]] = []
    bus.subscribe(VOLUME_TOPIC, typed(lambda message, _e: heard.append((runtime.clock.now(), message))))
    storage = SimStorageAgent(runtime, bus, SETTINGS)
    hosts = SimHostVolumes(runtime, bus, ["h1"], StorageBehaviour.from_settings(SETTINGS))
    runtime.call_soon(storage.start)
    runtime.call_soon(hosts.start)
    return runtime, bus, heard


def results(heard: list[tuple[float, Message]]) -> list[tuple[float, str, str, bool]]:
    return [(at, m.operation, m.resource_id, m.ok) for at, m in heard if isinstance(m, StorageResult)]


def test_pools_report_their_capacity_at_start() -> None:
    runtime, _bus, heard = rig()
    runtime.run(until=1)
    [(at, report)] = [(at, m) for at, m in heard if isinstance(m, PoolsReported)]
    assert at == 0 and isinstance(report, PoolsReported) and report.backend == "twinstack@ssd"
    assert [(p.name, p.total_capacity_gb, p.free_capacity_gb) for p in report.pools] == [(POOL, 10, 10)]


def test_create_clone_refusal_and_delete_timeline() -> None:
    runtime, bus, heard = rig()
    topic = storage_topic("twinstack@ssd")
    send(bus, topic, CreateVolume(backend="twinstack@ssd", pool=POOL, volume_id="v1", size_gb=4))
    runtime.run(until=2)
    send(bus, topic, CreateVolume(backend="twinstack@ssd", pool=POOL, volume_id="v2", size_gb=4, source="volume",
                                  source_id="v1"))
    send(bus, topic, CreateVolume(backend="twinstack@ssd", pool=POOL, volume_id="v3", size_gb=8))
    runtime.run(until=10)
    send(bus, topic, DeleteVolume(backend="twinstack@ssd", pool=POOL, volume_id="v1"))
    runtime.run(until=20)
    assert results(heard) == [(1.0, "create_volume", "v1", True),
                              (3.0, "create_volume", "v3", False),  # 4 + 8 > 10 GiB: refused, nothing kept
                              (5.0, "create_volume", "v2", True),  # 1 s + 4 GiB at 2 GiB/s
                              (10.5, "delete_volume", "v1", True)]


def test_a_host_connects_a_volume_after_the_attach_time() -> None:
    runtime, bus, heard = rig()
    send(bus, host_volumes_topic("h1"), ConnectVolume(host="h1", instance_uuid="i1", volume_id="v1",
                                                      attachment_id="a1", mountpoint="/dev/vdb"))
    runtime.run(until=1)
    [(at, answer)] = [(at, m) for at, m in heard if isinstance(m, HostVolumeResult)]
    assert at == 0.25 and isinstance(answer, HostVolumeResult) and answer.ok and answer.action == "connect"




def test_a_migration_copies_into_the_other_back_end_then_drops_the_source() -> None:
    two = SETTINGS.model_copy(update={"backends": [*SETTINGS.backends, VolumeBackendSettings(
        name="hdd", volume_backend_name="hdd", capacity_gb=5)]})
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    heard: list[tuple[float, Message]] = []
    bus.subscribe(VOLUME_TOPIC, typed(lambda message, _e: heard.append((runtime.clock.now(), message))))
    storage = SimStorageAgent(runtime, bus, two)
    runtime.call_soon(storage.start)
    ssd = storage.backends["twinstack@ssd"].pools[POOL]
    hdd = storage.backends["twinstack@hdd"].pools["twinstack@hdd#hdd"]
    topic = storage_topic("twinstack@ssd")
    for volume_id, size in (("small", 4), ("large", 6)):
        send(bus, topic, CreateVolume(backend="twinstack@ssd", pool=POOL, volume_id=volume_id, size_gb=size))
    runtime.run(until=2)
    for volume_id, size in (("small", 4), ("large", 6)):
        send(bus, topic, MigrateVolume(backend="twinstack@ssd", pool=POOL, volume_id=volume_id, size_gb=size,
                                       dest_backend="twinstack@hdd", dest_pool="twinstack@hdd#hdd"))
    runtime.run(until=10)
    assert results(heard)[2:] == [(5.0, "migrate_volume", "small", True),  # 1 s + 4 GiB at 2 GiB/s
                                  (6.0, "migrate_volume", "large", False)]  # 4 + 6 > 5 GiB: the source stays
    assert ssd.volumes == {"large": 6} and hdd.volumes == {"small": 4}
