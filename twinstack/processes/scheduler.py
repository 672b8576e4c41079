"""``twinstack scheduler``: the scheduler service as a process of its own, one of several (Nova's nova-scheduler).

Schedulers share the database and RabbitMQ with the conductors that ask them (``[compute] scheduler = "remote"``):

* the ``scheduler`` topic is one durable queue their consumers compete on: each SelectDestinations is decided by
  one of them and acknowledged once answered, so the requests a killed scheduler held go to the others;
* each holds the production FilterScheduler over its own columns of host state, kept in line with SQL
  (:class:`~twinstack.core.scheduler.shared_placement.ServiceFilterScheduler`): hosts and allocations are re-read
  every ``host_refresh_seconds``, a host is re-read when its claim is lost, and everything before a NoValidHost;
  heartbeats are judged against the newest recorded (the conductors record them behind their queue);
* each claims in SQL, where a claim is a compare-and-swap on the provider's generation: whichever scheduler or
  conductor claims, no host is double-booked.

A scheduler holds no state worth keeping: killed, it loses nothing (its unacknowledged requests are redelivered,
and handling one again releases what it had claimed); restarted, it reads everything afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.cloud import Cloud
from twinstack.compute_plane import bus_for
from twinstack.core.scheduler.filter_scheduler import HostSources
from twinstack.core.scheduler.service import SchedulerService
from twinstack.core.scheduler.shared_placement import (
    ServiceFilterScheduler,
    SharedFilterScheduler,
    SharedPlacement,
    shared_scheduler_factory,
)
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.stores.aggregates import SqlAggregateStore
from twinstack.db.stores.cells import SqlCellStore
from twinstack.db.stores.compute import SqlHostStore
from twinstack.processes.lifetime import require_amqp
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.bus import Bus
from twinstack.sim.runtime import LiveRuntime


@dataclass
class SchedulerProcess:
    name: str
    runtime: LiveRuntime
    bus: Bus
    scheduler: SharedFilterScheduler
    service: SchedulerService

    def stop(self) -> None:
        if isinstance(self.bus, AmqpBus):  # before the runtime, so requests under way are answered and acknowledged
            self.bus.close()
        self.runtime.stop()


def start_scheduler(cloud: Cloud, name: str) -> SchedulerProcess:
    """Start answering the ``scheduler`` topic on ``cloud``'s database and RabbitMQ."""
    settings = cloud.settings
    require_amqp(settings.bus, "a scheduler")
    runtime = LiveRuntime()
    bus = bus_for(settings.bus, runtime)
    sessions = cloud.sessions
    placement = SharedPlacement(sessions)
    databases = CellDatabases(sessions, timeout=settings.compute.cell_timeout)  # cells whose database is down: closed
    aggregates, cells = SqlAggregateStore(sessions), SqlCellStore(sessions, databases)
    sources = HostSources(SqlHostStore(sessions), aggregates.all, cells.all, runtime.clock)
    make = shared_scheduler_factory(settings.scheduler, seed=settings.compute.seed, kind=ServiceFilterScheduler)
    scheduler = make(placement, sources)
    service = SchedulerService(bus, scheduler, placement.release, placement.holds)
    runtime.call_soon(service.start)
    runtime.start()
    return SchedulerProcess(name, runtime, bus, scheduler, service)
