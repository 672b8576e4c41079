"""``twinstack conductor``: the conductor as a process of its own, one of several.

Several conductors share the database and RabbitMQ:

* the ``conductor`` topic is one durable queue their consumers compete on: each build, delete or action is
  handled by one of them;
* each conductor names its own reply topic on every command it sends, and agents answer there, so the answer
  reaches the conductor that waits for it (its deadlines and move flows live in its memory);
* builds are scheduled by the ``twinstack scheduler`` processes when ``[compute] scheduler = "remote"`` (asked
  over the ``scheduler`` topic, twinstack.core.compute.remote_scheduling), else by a scheduler in each conductor;
  either way over a :class:`SharedPlacement`: claims are compare-and-swaps in SQL, so no host is overcommitted
  whoever claims, and the columns catch up with the others' claims and releases. Moves (resize, migrations,
  evacuation) are placed the same way as builds;
* each beats in the database and records the instances it works on (builds, deletes, power actions): one that
  starts, and every one periodically, takes over the work of conductors that stopped beating, and the builds no
  conductor ever received (an API process died before publishing them) (twinstack.core.compute.takeover).

The block storage manager and the load-balancing worker run beside each conductor, on the same runtime and bus,
as in ``twinstack serve``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from twinstack.cloud import Cloud
from twinstack.compute_plane import (
    ComputePlane,
    build_compute_plane,
    conductor_settings,
    scheduler_timeout,
    snapshot_images,
)
from twinstack.core.clock import Clock
from twinstack.core.compute.takeover import ConductorRegistry, WorkTakeover
from twinstack.core.image.protections import Protections
from twinstack.core.scheduler.shared_placement import SharedPlacement, shared_scheduler_factory
from twinstack.core.volume.service import VolumeService
from twinstack.db.stores.conductors import SqlConductorRegistry
from twinstack.loadbalancer_plane import start_loadbalancer
from twinstack.rpc.amqp import AmqpPublisher, BrokerNames
from twinstack.volume_plane import serve_cell_volumes, start_volume

LOG = logging.getLogger(__name__)


def default_name() -> str:
    """Unique per process: two conductors must never share a reply topic."""
    return f"conductor-{socket.gethostname()}-{os.getpid()}"


def reply_topic(name: str) -> str:
    """A ``reply.`` topic: the broker drops its queue once it is unused for a while (a conductor gone for good)."""
    return f"reply.conductor.{name}"


def beat_interval(plane: ComputePlane) -> float:
    """Often enough that a live conductor never looks dead: three beats within ``service_down_time``."""
    settings = plane.conductor.settings
    return min(settings.check_interval, settings.service_down_time / 3)


def beat_in_background(registry: ConductorRegistry, name: str, clock: Clock, interval: float) -> threading.Thread:
    """Beat in the registry every ``interval`` seconds from a thread of its own, for as long as the process lives:
    alive means the process is, however far its runtime is behind a burst (Nova's service heartbeat runs beside
    the service's work in the same way). The first beat is made before this returns."""
    def beat() -> None:
        try:
            registry.beat(name, clock.now())
        except Exception:  # the database is away: the next beat tries again
            LOG.exception("conductor %s could not beat in its registry", name)

    def beat_forever() -> None:
        while True:
            time.sleep(interval)
            beat()

    beat()
    thread = threading.Thread(target=beat_forever, name=f"beat-{name}", daemon=True)
    thread.start()
    return thread


def start_conductor(cloud: Cloud, name: str, cell: str | None = None) -> ComputePlane:
    """The conductor's plane (no agents: they join over the bus) and block storage beside it; with ``cell``, the
    conductor of that cell (one with a bus of its own), see :func:`start_cell_conductor`."""
    if cell is not None:
        return start_cell_conductor(cloud, name, cell)
    settings = cloud.settings
    compute = settings.compute
    placement = SharedPlacement(cloud.sessions)
    plane = build_compute_plane(
        cloud.sessions, placement, shared_scheduler_factory(settings.scheduler, seed=compute.seed), None,
        seed=compute.seed, conductor_settings=conductor_settings(compute, reply_topic(name)),
        snapshots=snapshot_images(cloud), bus_settings=settings.bus,
        remote_scheduler_timeout=scheduler_timeout(compute, settings.bus), cell_timeout=compute.cell_timeout)
    cloud.compute = plane.context()
    start_volume(cloud, plane)
    start_loadbalancer(cloud, plane)
    take_over_work(plane, name, SqlConductorRegistry(cloud.sessions), compute.build_timeout)
    return plane


def take_over_work(plane: ComputePlane, name: str, registry: SqlConductorRegistry, build_timeout: float,
                   adopts_unsent: bool = True) -> WorkTakeover:
    """Beat in ``registry`` (from a thread of its own), record the work the plane's conductor takes, and take over
    that of the conductors of the registry that stop beating (twinstack.core.compute.takeover)."""
    down_time = plane.conductor.settings.service_down_time
    beat_in_background(registry, name, plane.runtime.clock, beat_interval(plane))
    takeover = WorkTakeover(name, registry, plane.conductor, plane.runtime, down_after=down_time,
                            interval=beat_interval(plane), lost_after=max(down_time, build_timeout), beats=False,
                            adopts_unsent=adopts_unsent)
    plane.conductor.on_work = takeover.record
    plane.conductor.on_handover = takeover.claim  # a cell's conductors: a build handed over is driven by one of them
    plane.runtime.call_soon(takeover.start)
    return takeover


def start_cell_conductor(cloud: Cloud, name: str, cell: str) -> ComputePlane:
    """The conductor of ``cell``, a cell with a bus of its own (Nova's cell conductor): on that bus, where its hosts'
    agents report to it and the top-level conductors hand it the builds they placed there (BuildPlaced), and the API
    its instances' actions. It schedules nothing new (its scheduler sees its cell alone, for moves), so it asks no
    scheduler service; several may run for one cell, as several top-level conductors do, each with its reply topic.

    Block storage runs beside the top-level conductors, on the main bus: this conductor asks it for its servers'
    volumes over a publisher on the main broker, and has its hosts connect them on the cell's bus
    (twinstack.core.volume.cell_conductors). Load balancing is left to the top-level conductors.

    The cell's conductors beat in a registry of the cell's own database and record there the builds, deletes and
    power actions each takes: one that dies (or restarts) has its work taken over by another of the cell once it has
    been silent for service_down_time (twinstack.core.compute.takeover), so they may start at any time."""
    settings = cloud.settings
    compute = settings.compute
    plane = build_compute_plane(
        cloud.sessions, SharedPlacement(cloud.sessions),
        shared_scheduler_factory(settings.scheduler, seed=compute.seed), None, seed=compute.seed,
        conductor_settings=conductor_settings(compute, reply_topic(name)),
        snapshots=snapshot_images(cloud), bus_settings=settings.bus, cell_timeout=compute.cell_timeout, cell=cell)
    cloud.compute = plane.context()
    assert plane.databases is not None
    take_over_work(plane, name, SqlConductorRegistry(plane.databases.sessions(cell)), compute.build_timeout,
                   adopts_unsent=False)
    if settings.bus.transport == "amqp":  # block storage is reached on the main broker
        main = AmqpPublisher(settings.bus.url, BrokerNames(settings.bus.prefix), timeout=settings.bus.publish_timeout)
        plane.closing.append(main.close)
        plane.conductor.main_bus = main  # where the console logs it relays go
        volumes = VolumeService(cloud.sessions, plane.runtime.clock, settings.volume,
                                image_protections=Protections.from_settings(settings.image.property_protections))
        serve_cell_volumes(plane.conductor, volumes, main)
    return plane
