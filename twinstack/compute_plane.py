"""The compute control plane of a served cloud, assembled: runtime, bus, stores, scheduler, conductor, agents.

``twinstack serve`` builds one over simulated hosts (``--hosts N`` or ``--datacenter FILE``): the
SimPy kernel follows the wall clock on its own thread (with an optional speed-up) and every
conductor handler runs there, one at a time; HTTP workers only record intent and publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from twinstack.cell_buses import CellSenders, cell_bus_settings, cell_publisher, in_process
from twinstack.cloud import Cloud
from twinstack.config import BusSettings, ComputeSettings
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cells import Cell, UnknownCell
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.remote_scheduling import ClaimHandover, RemoteDestinations
from twinstack.core.compute.service import ComputeService
from twinstack.core.compute.stores import ImageSnapshots, Placement, Scheduler
from twinstack.core.image.context import image_config
from twinstack.core.image.snapshots import SnapshotImages
from twinstack.core.network.instance_ports import SqlNetworking
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import HostSources
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db.cell_databases import DEFAULT_TIMEOUT, CellDatabases
from twinstack.db.session import SessionFactory
from twinstack.db.stores.aggregates import SqlAggregateStore
from twinstack.db.stores.cell_instances import CellInstanceStore
from twinstack.db.stores.cell_outbox import SqlHeldMessages
from twinstack.db.stores.cell_wiring import cell_aware_stores
from twinstack.db.stores.cells import SqlCellStore
from twinstack.db.stores.compute import SqlHostStore
from twinstack.db.stores.migrations import SqlMigrationStore
from twinstack.db.stores.quotas import SqlQuotas
from twinstack.db.stores.server_groups import SqlServerGroupStore
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.bus import Bus, Publisher
from twinstack.rpc.compute import CONDUCTOR_TOPIC
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Datacenter, load_datacenter, uniform_datacenter
from twinstack.sim.runtime import LiveRuntime

if TYPE_CHECKING:
    from twinstack.real.agent import RealAgent

LOG = logging.getLogger(__name__)
SchedulerFactory = Callable[[Placement, HostSources], Scheduler]
"""Makes the plane's scheduler over its placement and the sources of its host view (see HostSources)."""


@dataclass
class CellPlane:
    """A cell with a bus of its own (an ``inprocess://`` transport URL) run inside an all-in-one plane: its bus, its
    conductor on that bus, and the simulated agent of its hosts, on the plane's runtime."""

    name: str
    bus: InProcessBus
    conductor: Conductor
    agent: SimAgent | None = None


@dataclass
class ComputePlane:
    runtime: LiveRuntime
    bus: Bus
    instances: CellInstanceStore
    hosts: SqlHostStore
    placement: Placement
    scheduler: Scheduler
    conductor: Conductor
    service: ComputeService
    aggregates: SqlAggregateStore
    server_groups: SqlServerGroupStore
    quotas: SqlQuotas
    cells: SqlCellStore
    databases: CellDatabases | None = None
    """The cells' own databases (closed with the plane)."""
    agents: list[SimAgent] = field(default_factory=list)
    real_agent: RealAgent | None = None
    cell_buses: CellBuses | None = None
    """The buses of the cells that have their own (the top-level conductor and the API reach them through it)."""
    cell_planes: dict[str, CellPlane] = field(default_factory=dict)
    """The cells with an in-process bus of their own, run here."""
    closing: list[Callable[[], object]] = field(default_factory=list)
    """What else to close when the plane stops (senders and publishers opened beside it), after its bus."""

    def context(self) -> ComputeContext:
        return ComputeContext(service=self.service, instances=self.instances, hosts=self.hosts,
                              placement=self.placement, aggregates=self.aggregates,
                              server_groups=self.server_groups, quotas=self.quotas,
                              service_down_time=self.conductor.settings.service_down_time,
                              migrations=self.conductor.migrations)

    def stop(self) -> None:
        if self.real_agent is not None:
            self.real_agent.stop()
        if isinstance(self.bus, AmqpBus):  # before the runtime, so handlers under way are acknowledged
            self.bus.close()
        for close in self.closing:  # the cells' senders before their buses: a job under way still publishes
            close()
        if self.cell_buses is not None:
            self.cell_buses.close()
        self.runtime.stop()
        if self.databases is not None:
            self.databases.close()


def build_compute_plane(
    sessions: SessionFactory,
    placement: Placement,
    scheduler_factory: SchedulerFactory,
    datacenter: Datacenter | None,
    speed: float = 1.0,
    seed: int = 0,
    conductor_settings: ConductorSettings | None = None,
    snapshots: ImageSnapshots | None = None,
    bus_settings: BusSettings | None = None,
    remote_scheduler_timeout: float | None = None,
    cell_timeout: float = DEFAULT_TIMEOUT,
    cell: str | None = None,
) -> ComputePlane:
    """Assemble and start the plane; with a datacenter, a simulated agent holds its hosts. ``snapshots`` is the
    image service server snapshots go to (without it, createImage is refused). ``bus_settings`` chooses the
    transport (in-process unless told otherwise). With ``remote_scheduler_timeout``, builds are scheduled by the
    scheduler service over the bus (see :func:`remote_destinations`), else by the plane's own scheduler. Instances
    are kept in their cell's database (see twinstack.db.stores.cell_instances); a cell whose database takes longer
    than ``cell_timeout`` to answer counts as down. Moves of instances between cell databases that a crash cut
    short are finished before the conductor starts.

    Cells with a bus of their own (twinstack.core.compute.cell_buses): with ``cell``, the plane is that cell's
    conductor, on that cell's bus (``twinstack conductor --cell``), and its scheduler sees that cell alone. Without,
    the plane's conductor is the top-level one: it hands builds placed in such a cell over to the cell's conductor,
    and its scheduler closes a cell whose bus refused a message. A cell whose transport URL is ``inprocess://`` is
    run here, beside it: its own bus, conductor and simulated hosts (the datacenter's hosts of that cell)."""
    runtime = LiveRuntime(speed=speed)
    main_bus = bus_settings or BusSettings()
    stores = cell_aware_stores(sessions, cell_timeout)
    instances, hosts = stores.instances, SqlHostStore(sessions)
    groups, quotas = stores.server_groups, stores.quotas
    aggregates = SqlAggregateStore(sessions)
    cells = stores.cells
    transports = cells.transports()
    if cell is not None:
        if cell not in transports:
            raise UnknownCell(cell)
        bus = bus_for(cell_bus_settings(main_bus, cell, transports[cell]), runtime)
        cell_buses = None
        cell_source: Callable[[], list[Cell]] = lambda: only_cell(cells.all(), cell)  # noqa: E731
    else:
        bus = bus_for(main_bus, runtime)
        local = {name: InProcessBus(runtime) for name, url in transports.items() if in_process(url)}
        senders = CellSenders(inline=frozenset(local))
        cell_buses = CellBuses(cells.transports, partial(_open_cell_bus, main_bus, local), runtime.clock,
                               dispatch=senders.dispatch, call_soon=runtime.call_soon,
                               held=SqlHeldMessages(sessions))  # held messages outlive this conductor
        cell_source = partial(_with_buses_down, cells.all, cell_buses)
    scheduler = scheduler_factory(placement, HostSources(hosts, aggregates.all, cell_source, runtime.clock))
    settings = replace(conductor_settings or ConductorSettings(), cell=cell)

    def make_conductor(on: Bus, with_settings: ConductorSettings) -> Conductor:
        return Conductor(runtime, on, instances, hosts, placement, scheduler, with_settings,
                         server_groups=groups.get, migrations=SqlMigrationStore(sessions),
                         aggregates=aggregates.all, networking=SqlNetworking(sessions), snapshots=snapshots)

    conductor = make_conductor(bus, settings)
    conductor.cell_buses = cell_buses
    plane = ComputePlane(runtime, bus, instances, hosts, placement, scheduler, conductor,
                         ComputeService(runtime, bus, instances, admission=quotas, snapshots=snapshots,
                                        cell_buses=cell_buses), aggregates,
                         groups, quotas, cells, stores.databases, cell_buses=cell_buses)
    if cell is None:
        plane.closing.append(senders.close)
    try:
        instances.repair_moves()
    except Exception:  # a database that does not answer yet: its moves are finished by the saves that meet them
        LOG.exception("finishing the instance moves between cell databases failed")
    if remote_scheduler_timeout is not None:
        conductor.destinations = remote_destinations(conductor, placement, remote_scheduler_timeout)
    if isinstance(placement, ColumnarPlacement):
        # a restarted cloud knows its hosts and what they hold before the first build reaches it (builds the broker
        # kept come before the agents register again, and a claim a killed attempt left must be seen to be released)
        placement.learn_hosts(hosts.all())
    runtime.call_soon(conductor.start)
    if cell is None:
        for name, cell_bus in local.items():
            # one scheduler for the plane: the cells' conductors take no new builds, and columns over one placement
            # are one state (a scheduler of its own would share it)
            on_cell = make_conductor(cell_bus, replace(settings, cell=name, reply_topic=None))
            on_cell.main_bus = bus
            plane.cell_planes[name] = CellPlane(name, cell_bus, on_cell)
            runtime.call_soon(on_cell.start)
    if datacenter is not None:
        main_cells = [c for c in datacenter.cells if c.name not in plane.cell_planes]
        if main_cells:
            agent = SimAgent("sim-agent-1", runtime, bus, datacenter.model_copy(update={"cells": main_cells}),
                             seed=seed)
            plane.agents.append(agent)
            runtime.call_soon(agent.start)
        for index, cell_plane in enumerate(plane.cell_planes.values()):
            own = [c for c in datacenter.cells if c.name == cell_plane.name]
            if own:
                cell_plane.agent = SimAgent(f"sim-agent-{cell_plane.name}", runtime, cell_plane.bus,
                                            datacenter.model_copy(update={"cells": own}), seed=seed + 1 + index)
                runtime.call_soon(cell_plane.agent.start)
    runtime.start()
    return plane


def only_cell(cells: list[Cell], name: str) -> list[Cell]:
    """``cells`` with every one but ``name`` closed: what a cell's conductor's scheduler sees (a move stays in its
    cell, as Nova's do without cross-cell resize)."""
    return [c if c.name == name else replace(c, disabled=True) for c in cells]


def _with_buses_down(cells: Callable[[], list[Cell]], buses: CellBuses) -> list[Cell]:
    """The cells, those whose bus refused a message a moment ago counted as down (closed to new builds)."""
    down = buses.down()
    return [replace(c, down=True) if c.name in down else c for c in cells()]


def _open_cell_bus(main: BusSettings, local: dict[str, InProcessBus], cell: str, transport_url: str) -> Publisher:
    """A cell's bus as the top-level conductor and the API reach it: in this process for an ``inprocess://`` cell run
    here, else a publisher on its broker."""
    if cell in local:
        return local[cell]
    return cell_publisher(main, cell, transport_url)


class RemoteSchedulingUnavailable(ValueError):
    """Remote scheduling asked where schedulers cannot be reached (no RabbitMQ) or their claims cannot be taken
    (a placement that does not write to SQL)."""


def remote_destinations(conductor: Conductor, placement: Placement, timeout: float) -> RemoteDestinations:
    """The conductor's builds asked of ``twinstack scheduler`` over its bus, answered on its reply topic (the
    shared conductor topic for a conductor alone). The scheduler claims in SQL; ``placement`` hands the claim to
    the instance, so it must write to the same SQL."""
    if not isinstance(placement, SqlBackedPlacement):
        raise RemoteSchedulingUnavailable("remote scheduling needs the SQL placement the schedulers claim in")
    claims = ClaimHandover(takes=conductor.awaits_placement, adopt=placement.adopt, release=placement.release)
    return RemoteDestinations(conductor.runtime, conductor.bus, conductor.settings.reply_topic or CONDUCTOR_TOPIC,
                              claims, timeout)


def scheduler_timeout(compute: ComputeSettings, bus: BusSettings) -> float | None:
    """``remote_scheduler_timeout`` for a plane of these settings: None where builds are scheduled in-process."""
    if compute.scheduler != "remote":
        return None
    if bus.transport != "amqp":
        raise RemoteSchedulingUnavailable("[compute] scheduler = 'remote' asks 'twinstack scheduler' processes "
                                          "over RabbitMQ: set [bus] transport = 'amqp' too")
    return compute.scheduler_timeout


def bus_for(settings: BusSettings, runtime: LiveRuntime) -> Bus:
    """The bus ``settings`` name: in-process, or RabbitMQ (connecting now, so a missing broker fails at start)."""
    if settings.transport == "amqp":
        return AmqpBus(runtime, settings.url, prefix=settings.prefix, publish_timeout=settings.publish_timeout)
    return InProcessBus(runtime)


def datacenter_for(settings: ComputeSettings) -> Datacenter | None:
    """The simulated datacenter ``serve`` runs: a file if given, else ``hosts`` identical hosts."""
    if settings.backend in ("none", "real"):
        return None
    if settings.datacenter is not None:
        return load_datacenter(settings.datacenter)
    return uniform_datacenter(settings.hosts) if settings.hosts else None


def snapshot_images(cloud: Cloud) -> SnapshotImages:
    """The cloud's image service, as server snapshots write to it (the same stores the image API serves)."""
    return SnapshotImages(cloud.sessions, image_config(cloud.settings), cloud.clock)


def conductor_settings(compute: ComputeSettings, reply_topic: str | None = None) -> ConductorSettings:
    """The conductor's settings from the cloud's compute settings (``reply_topic``: see ConductorSettings). A
    conductor of several (it has its own reply topic) leaves start-up recovery to the build takeover: finishing
    every half-done build it finds would take over the live work of the others."""
    return ConductorSettings(max_attempts=compute.max_attempts, build_timeout=compute.build_timeout,
                             service_down_time=compute.service_down_time,
                             allow_resize_to_same_host=compute.allow_resize_to_same_host, reply_topic=reply_topic,
                             recovery_delay=None if reply_topic else ConductorSettings.recovery_delay)


def start_for(cloud: Cloud, placement: Placement, scheduler_factory: SchedulerFactory) -> ComputePlane:
    """Start the plane ``cloud.settings`` describes and hand its context to the cloud's APIs."""
    compute = cloud.settings.compute
    plane = build_compute_plane(
        cloud.sessions, placement, scheduler_factory, datacenter_for(compute), speed=compute.speed,
        seed=compute.seed,
        conductor_settings=conductor_settings(compute),
        snapshots=snapshot_images(cloud),
        bus_settings=cloud.settings.bus,
        remote_scheduler_timeout=scheduler_timeout(compute, cloud.settings.bus),
        cell_timeout=compute.cell_timeout,
    )
    if compute.backend == "real":  # this machine's libvirt, through twinstack.real (imported only then)
        from twinstack.real.assemble import start_real_agent

        plane.real_agent = start_real_agent(cloud.settings, plane.runtime, plane.bus)
    cloud.compute = plane.context()
    return plane

