"""The block storage side of a served cloud, assembled on the compute plane's runtime and bus.

The volume manager joins the conductor on the runtime's one thread; in simulation, a storage agent holds the
configured back ends and a host connector answers for every simulated host. With ``volume.backend = 'real'``
the back ends are qcow2 files on this machine (twinstack.real, imported only then), and the real host agent
connects their volumes to its guests. The cloud's APIs then reach the
plane through ``cloud.volume`` (a :class:`VolumeService` with a bus).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.config import VolumeSettings
from twinstack.core.compute.conductor import Conductor
from twinstack.core.image.protections import Protections
from twinstack.core.volume.boot_volumes import BlockStorageForBoot
from twinstack.core.volume.cell_conductors import CellStorageBus, HostVolumeAnswers
from twinstack.core.volume.manager import VolumeManager
from twinstack.core.volume.scheduler.scheduler import VolumeScheduler
from twinstack.core.volume.server_volumes import HostAttachments, release_server
from twinstack.core.volume.service import VolumeService
from twinstack.db.session import SessionFactory
from twinstack.rpc.bus import Bus, Publisher
from twinstack.sim.runtime import LiveRuntime
from twinstack.sim.storage import SimHostVolumes, SimStorageAgent, StorageBehaviour

if TYPE_CHECKING:
    from twinstack.real.storage_agent import RealStorageAgent


@dataclass
class VolumePlane:
    service: VolumeService
    manager: VolumeManager
    storage: SimStorageAgent | None = None
    host_volumes: SimHostVolumes | None = None
    real_storage: RealStorageAgent | None = None
    cell_host_volumes: dict[str, SimHostVolumes] = field(default_factory=dict)
    """The volume connectors of the simulated hosts of the cells with an in-process bus of their own, on that bus."""


def build_volume_plane(sessions: SessionFactory, runtime: LiveRuntime, bus: Bus, settings: VolumeSettings,
                       hosts: Iterable[str]) -> VolumePlane:
    """Start the manager and, with ``settings.backend == 'sim'``, simulated back ends and host connectors. The
    API's operations read the runtime's clock, as the manager does (and as compute's API does), so timestamps
    and timeouts share one time even when the simulation runs faster than the wall clock."""
    service = VolumeService(sessions, runtime.clock, settings, bus)
    plane = VolumePlane(service, VolumeManager(runtime, bus, service, VolumeScheduler(settings)))
    runtime.call_soon(plane.manager.start)
    if settings.backend == "sim":
        plane.storage = SimStorageAgent(runtime, bus, settings, seed=settings.seed)
        plane.host_volumes = SimHostVolumes(runtime, bus, hosts, StorageBehaviour.from_settings(settings),
                                            seed=settings.seed + 1)
        runtime.call_soon(plane.storage.start)
        runtime.call_soon(plane.host_volumes.start)
    return plane


def start_volume(cloud: Cloud, compute: ComputePlane, settings: VolumeSettings | None = None) -> VolumePlane:
    """The volume side beside ``compute``; the cloud's APIs use it from now on, and the conductor for the volumes of
    the servers it builds and deletes."""
    hosts = [host for agent in compute.agents for host in agent.hosts]
    plane = build_volume_plane(cloud.sessions, compute.runtime, compute.bus, settings or cloud.settings.volume,
                               hosts)
    if cloud.settings.volume.backend == "real":
        from twinstack.real.assemble import start_real_storage

        plane.real_storage = start_real_storage(cloud.settings, compute.runtime, compute.bus)
    plane.service.image_protections = Protections.from_settings(cloud.settings.image.property_protections)
    cloud.volume = plane.service
    serve_volumes(compute.conductor, plane.service)
    chosen = settings or cloud.settings.volume
    for index, cell_plane in enumerate(compute.cell_planes.values()):
        serve_cell_volumes(cell_plane.conductor, plane.service, compute.bus)
        if chosen.backend == "sim" and cell_plane.agent is not None:  # simulated hosts connect simulated volumes
            cell_hosts = SimHostVolumes(compute.runtime, cell_plane.bus, cell_plane.agent.hosts,
                                        StorageBehaviour.from_settings(chosen), seed=chosen.seed + 2 + index)
            plane.cell_host_volumes[cell_plane.name] = cell_hosts
            compute.runtime.call_soon(cell_hosts.start)
    return plane


def serve_volumes(conductor: Conductor, service: VolumeService) -> None:
    """``conductor`` asks ``service`` for the volumes of the servers it builds, attaches volumes to and deletes."""
    conductor.release_volumes = partial(release_server, service)
    conductor.volume_boot.volumes = BlockStorageForBoot(service)
    conductor.volume_attach.volumes = HostAttachments(service)
    conductor.runtime.call_soon(conductor.volume_attach.start_sweep)


def serve_cell_volumes(conductor: Conductor, service: VolumeService, main: Publisher) -> HostVolumeAnswers:
    """The conductor of a cell with a bus of its own (``conductor.bus``) asks block storage, reached on ``main``, for
    its servers' volumes, and has its hosts connect them on its cell's bus (twinstack.core.volume.cell_conductors)."""
    cell_service = replace(service, clock=conductor.runtime.clock, bus=CellStorageBus(conductor.bus, main))
    serve_volumes(conductor, cell_service)
    answers = HostVolumeAnswers(cell_service, conductor.bus)
    conductor.runtime.call_soon(answers.start)
    return answers
