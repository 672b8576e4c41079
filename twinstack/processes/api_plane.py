"""The compute and block storage APIs' side of a cloud whose conductors run elsewhere (``serve --no-plane``, and
every worker of ``serve --workers N``).

An API process records intent in the database and publishes the work on the bus, as the embedded plane's API
does; it runs no conductor, scheduler or agent. It keeps a runtime of its own for the clock and for the replies
it waits for (a console log's), and reads placement usage from SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from twinstack.cell_buses import cell_publisher
from twinstack.cloud import Cloud
from twinstack.compute_plane import bus_for, snapshot_images
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.service import ComputeService
from twinstack.core.image.protections import Protections
from twinstack.core.loadbalancer.provisioning import LoadBalancerService
from twinstack.core.scheduler.shared_placement import SharedPlacement
from twinstack.core.volume.service import VolumeService
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.stores.aggregates import SqlAggregateStore
from twinstack.db.stores.cell_wiring import cell_aware_stores
from twinstack.db.stores.compute import SqlHostStore
from twinstack.db.stores.migrations import SqlMigrationStore
from twinstack.processes.lifetime import require_amqp
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.bus import Bus
from twinstack.sim.runtime import LiveRuntime


@dataclass
class ApiPlane:
    runtime: LiveRuntime
    bus: Bus
    databases: CellDatabases | None = None
    cell_buses: CellBuses | None = None

    def stop(self) -> None:
        if isinstance(self.bus, AmqpBus):
            self.bus.close()
        if self.cell_buses is not None:
            self.cell_buses.close()
        self.runtime.stop()
        if self.databases is not None:
            self.databases.close()


def connect_api(cloud: Cloud) -> ApiPlane:
    """Give ``cloud``'s APIs a compute context and a volume service that reach the conductors over the bus."""
    settings = cloud.settings
    require_amqp(settings.bus, "an API process without the control plane")
    runtime = LiveRuntime()
    bus = bus_for(settings.bus, runtime)
    sessions = cloud.sessions
    stores = cell_aware_stores(sessions, settings.compute.cell_timeout)
    instances, quotas = stores.instances, stores.quotas
    snapshots = snapshot_images(cloud)
    # an instance's actions go to its cell's conductor, on its cell's bus, for a cell with a bus of its own
    cell_buses = CellBuses(stores.cells.transports, partial(cell_publisher, settings.bus), runtime.clock)
    cloud.compute = ComputeContext(
        service=ComputeService(runtime, bus, instances, admission=quotas, snapshots=snapshots, cell_buses=cell_buses),
        instances=instances, hosts=SqlHostStore(sessions), placement=SharedPlacement(sessions),
        aggregates=SqlAggregateStore(sessions), server_groups=stores.server_groups, quotas=quotas,
        service_down_time=settings.compute.service_down_time, migrations=SqlMigrationStore(sessions))
    cloud.volume = VolumeService(sessions, runtime.clock, settings.volume, bus,
                                 image_protections=Protections.from_settings(settings.image.property_protections))
    cloud.loadbalancer = LoadBalancerService(bus if settings.loadbalancer.amphora != "none" else None)
    runtime.start()
    return ApiPlane(runtime, bus, stores.databases, cell_buses)
