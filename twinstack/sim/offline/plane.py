"""The offline compute plane: the served cloud's wiring, on memory stores and the offline SimPy runtime.

It is assembled as :mod:`twinstack.compute_plane` assembles a live one, so a simulated request takes the
production path: ComputeService -> in-process bus -> Conductor -> FilterScheduler -> ColumnarPlacement ->
bus -> SimAgent. What differs is only what must for speed: the runtime jumps from event to event, the stores
are in memory and keep no history, and the scheduler is never asked to re-read the host store on a timer
(``host_refresh_seconds=None``): the host store pushes every heartbeat and service change into the
scheduler's columns as it records it, so its view is always current at no periodic cost.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore
from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.service import ComputeService
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.host_state import HostState
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Datacenter
from twinstack.sim.ids import SeededUuids
from twinstack.sim.offline.stores import Observer, OfflineInstanceStore, OfflineServerGroupStore
from twinstack.sim.runtime import SimRuntime


class PushingHostStore(MemoryHostStore):
    """A memory host store whose heartbeats live in a scheduler's HostState column, the one place both read.

    A batched heartbeat is one vector assignment (the row indices of an unchanged host list are reused)
    instead of a loop over 10,000 host objects; :meth:`get` and :meth:`all` copy the column back into the
    hosts they return, so the conductor's ``is_up`` reads the same time the ComputeFilter does. Service flags
    set by an operator are pushed into the columns as they are recorded.
    """

    def __init__(self, state: HostState) -> None:
        super().__init__()
        self.state = state
        self._names: list[str] = []
        self._rows: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def heartbeat(self, hosts: Iterable[str], at: float) -> None:
        names = hosts if isinstance(hosts, list) else list(hosts)
        # the list changes when a host fails or comes back (about 100 times a day); an in-process agent sends
        # its very list again while none does, so most beats compare nothing
        if names is not self._names and names != self._names:
            index = self.state.index
            self._names = names
            try:
                self._rows = np.fromiter(map(index.__getitem__, names), dtype=np.int64, count=len(names))
            except KeyError:  # a host the scheduler has not registered yet
                self._rows = np.fromiter((index[n] for n in names if n in index), dtype=np.int64)
        self.state.last_heartbeat[self._rows] = at

    def get(self, host: str) -> ComputeHost | None:
        known = super().get(host)
        if known is not None:
            i = self.state.index.get(host)
            if i is not None:
                known.last_heartbeat = float(self.state.last_heartbeat[i])
        return known

    def all(self) -> list[ComputeHost]:
        hosts = super().all()
        index, column = self.state.index, self.state.last_heartbeat
        for host in hosts:
            i = index.get(host.host)
            if i is not None:
                host.last_heartbeat = float(column[i])
        return hosts

    def set_service(self, host: str, disabled: bool | None = None, disabled_reason: str | None = None,
                    forced_down: bool | None = None) -> ComputeHost | None:
        known = super().set_service(host, disabled, disabled_reason, forced_down)
        if known is not None and host in self.state.index:
            self.state.set_service(host, disabled=known.disabled, forced_down=known.forced_down)
        return known


@dataclass
class OfflinePlane:
    runtime: SimRuntime
    bus: InProcessBus
    instances: OfflineInstanceStore
    hosts: PushingHostStore
    placement: ColumnarPlacement
    scheduler: FilterScheduler
    conductor: Conductor
    service: ComputeService
    server_groups: OfflineServerGroupStore
    agent: SimAgent


def build_offline_plane(datacenter: Datacenter, scheduler: SchedulerSettings | None = None,
                        conductor: ConductorSettings | None = None, seed: int = 0,
                        observer: Observer | None = None) -> OfflinePlane:
    """Assemble the plane and start its conductor and agent; the caller runs the runtime.

    ``scheduler`` is taken exactly as a cloud takes it, except ``host_refresh_seconds``, forced to None
    (see the module docstring), and ``service_down_time``, the conductor's unless the scheduler's is set
    explicitly (offline heartbeats are sparser than a cloud's, see ``Scenario.heartbeat_seconds``).
    Hosts are registered once the runtime has run its first instant.
    """
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    instances = OfflineInstanceStore(observer)
    groups = OfflineServerGroupStore(instances)
    placement = ColumnarPlacement()
    hosts = PushingHostStore(placement.state)
    # its one conductor hears every registration and aggregate change: nothing it keeps is re-read on a timer
    conductor = replace(conductor or ConductorSettings(), aggregate_refresh_seconds=None)
    settings = scheduler or SchedulerSettings()
    changes: dict[str, object] = {"host_refresh_seconds": None}
    if "service_down_time" not in settings.model_fields_set:
        changes["service_down_time"] = conductor.service_down_time
    settings = settings.model_copy(update=changes)
    filter_scheduler = FilterScheduler(placement, settings, rng=random.Random(seed), clock=runtime.clock,
                                       hosts=hosts)
    control = Conductor(runtime, bus, instances, hosts, placement, filter_scheduler, conductor,
                        server_groups=groups.get)
    service = ComputeService(runtime, bus, instances, new_uuid=SeededUuids(f"servers-{seed}"))
    agent = SimAgent("sim-agent-1", runtime, bus, datacenter, seed=seed)
    control.start()
    agent.start()
    return OfflinePlane(runtime, bus, instances, hosts, placement, filter_scheduler, control, service, groups,
                        agent)
