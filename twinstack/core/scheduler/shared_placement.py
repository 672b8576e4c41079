"""Placement and scheduling for a conductor that shares the database with other conductors (``twinstack conductor``
run several times, DESIGN.md rule 5).

Each conductor holds its own scheduler columns, and only the SQL claim is shared: a claim is a compare-and-swap
on the provider's generation, so two conductors can never overcommit a host whatever their columns say. What
the columns do not see by themselves is the other conductors' work: the hosts they registered, the room they
took and the room they gave back. So the columns catch up with SQL:

* with the scheduler's host refresh (every ``host_refresh_seconds``): hosts, then every allocation;
* on a lost claim: that host's allocations, at once, so it is not offered again while full;
* before a NoValidHost is answered: everything, then the decision is made again. A conductor therefore
  refuses a build only when the database itself has no room, never because its columns were behind (the
  room another conductor freed a moment ago counts).

The same placement serves the scheduler service (``twinstack scheduler``, twinstack.core.scheduler.service),
whose claims are made under the request's id, and the conductors that ask it, which hand such a claim to the
instance (:meth:`SqlBackedPlacement.adopt`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from twinstack.core.compute.stores import NoValidHost, Placement, RequestSpec
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.filter_scheduler import FilterScheduler, HostSources
from twinstack.core.scheduler.host_state import Usage
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.db.models.compute import ComputeHostRow
from twinstack.db.models.placement import Allocation, ResourceProvider


class SharedPlacement(SqlBackedPlacement):
    """A SqlBackedPlacement whose columns catch up with the claims and releases of other processes."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.resyncs = 0
        """Full catch-ups made (a figure for benchmarks)."""
        self.refresh_hosts: Callable[[], None] | None = None
        """Reads the hosts into the columns (the scheduler's refresh, set by shared_scheduler_factory): called before
        claiming on a host the columns do not know. Why: hosts register with one conductor of several (their
        message reaches one), and a conductor that never schedules (a cell's, claiming alternates) never refreshes."""

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        if host not in self.state.index and self.refresh_hosts is not None:
            self.refresh_hosts()
        return super().claim(consumer, project_id, user_id, host, resources)

    def provider_of(self, host: str) -> str | None:
        """The host's provider: registered here, or by another conductor (read from SQL once)."""
        known = super().provider_of(host)
        if known is not None:
            return known
        with self.sessions() as session:
            found = session.scalar(
                select(ResourceProvider.uuid)
                .join(ComputeHostRow, ComputeHostRow.hypervisor_hostname == ResourceProvider.name)
                .where(ComputeHostRow.host == host))
        if found is not None:
            self._uuid_of[host] = found
        return found

    def claim_at(self, consumer: str, i: int, usage: Usage, resources: Mapping[str, int], project_id: str = "",
                 user_id: str = "") -> bool:
        """As SqlBackedPlacement's, but a host the columns think full is read again from SQL first: the room another
        process gave back counts (a conductor claiming an alternate holds columns no scheduler refreshes)."""
        if not self.state.fits_at(i, usage) and self.host_of(consumer) is None:
            self.lost_claim(self.state.names[i])
        return super().claim_at(consumer, i, usage, resources, project_id, user_id)

    def lost_claim(self, host: str) -> None:
        """Another conductor took the room: read the host's allocations, so it is not offered again while full."""
        uuid = self.provider_of(host)
        if uuid is None:
            return
        with self.sessions() as session:
            rows = session.execute(_allocations().where(ResourceProvider.uuid == uuid)).all()
        self.reload(_held(rows, {host: host}), hosts=[host])

    def resync(self) -> None:
        """Every provider and allocation of the hosts known here, as SQL holds them now."""
        with self.sessions() as session:
            host_of = {name: host for host, name in session.execute(
                select(ComputeHostRow.host, ComputeHostRow.hypervisor_hostname))}
            for name, uuid in session.execute(select(ResourceProvider.name, ResourceProvider.uuid)):
                if name in host_of:
                    self._uuid_of[host_of[name]] = uuid
            rows = session.execute(_allocations()).all()
        self.reload(_held(rows, host_of))
        self.resyncs += 1

    def usage(self, host: str) -> dict[str, int]:
        """What SQL holds on the host (the API's processes hold no columns of their own)."""
        uuid = self.provider_of(host)
        if uuid is None:
            return {}
        with self.sessions() as session:
            _provider, used = sql.provider_usages(session, uuid)
        return dict(used)


def _allocations() -> Any:
    return (select(Allocation.consumer_uuid, ResourceProvider.name, Allocation.resource_class, Allocation.used)
            .join(ResourceProvider, ResourceProvider.id == Allocation.provider_id))


def _held(rows: Any, host_of: Mapping[str, str]) -> dict[str, tuple[str, Mapping[str, int]]]:
    """consumer -> (host, resources) from allocation rows; a consumer spread over several providers (an operator's
    PUT) is counted on the first host only until the next full catch-up."""
    held: dict[str, tuple[str, dict[str, int]]] = {}
    for consumer, provider, resource_class, used in rows:
        host = host_of.get(provider)
        if host is None:
            continue
        entry = held.setdefault(consumer, (host, {}))
        if entry[0] == host:
            entry[1][resource_class] = int(used)
    return dict(held)


class SharedFilterScheduler(FilterScheduler):
    """The FilterScheduler over a :class:`SharedPlacement`: its refresh catches the columns up with SQL too, and
    it answers NoValidHost only after deciding again on what SQL holds."""

    def __init__(self, placement: SharedPlacement, settings: SchedulerSettings | None = None,
                 **kwargs: Any) -> None:
        super().__init__(placement, settings, **kwargs)
        self.shared = placement

    def refresh(self) -> None:
        super().refresh()  # hosts first: a host another conductor registered gets its columns
        self.shared.resync()

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        try:
            return super().select_destinations(spec)
        except NoValidHost:
            self.refresh()
            return super().select_destinations(spec)


class ServiceFilterScheduler(SharedFilterScheduler):
    """The scheduler of a scheduler service (``twinstack scheduler``): heartbeats are judged against the newest
    one recorded, not the wall clock.

    Why: a scheduler in its own process learns of heartbeats from the database, where the conductors record them
    as they reach them in their queue, late behind a burst (35 s late in a 1,200-boot burst on a lightly loaded
    machine; past ``service_down_time`` on a busy one, where every host then looks down and builds are refused
    with room left). A conductor scheduling in-process is spared: its clock is its runtime's, as late as the
    heartbeats it handles. Judged against the newest heartbeat recorded, a host is down when it has been silent
    while others were heard, which is what ComputeFilter asks. (A fleet silent as a whole is then not judged
    down here; the conductors, on their own clocks, give up commands to hosts that do not answer.)"""

    def judging_time(self, now: float | None) -> float | None:
        state = self.state
        if now is None or state.n == 0:
            return now
        return min(now, float(state.last_heartbeat.max()))


def shared_scheduler_factory(settings: SchedulerSettings | None = None, seed: int = 0,
                             kind: type[SharedFilterScheduler] = SharedFilterScheduler,
                             ) -> Callable[[Placement, HostSources], SharedFilterScheduler]:
    """A compute plane's ``scheduler_factory`` for a conductor sharing its database: a SharedFilterScheduler (the
    plane must be built over a :class:`SharedPlacement`); ``kind`` ServiceFilterScheduler for a scheduler service."""
    def make(placement: Placement, sources: HostSources) -> SharedFilterScheduler:
        if not isinstance(placement, SharedPlacement):
            raise TypeError("a shared scheduler needs a SharedPlacement")
        scheduler = kind(placement, settings, rng=random.Random(seed), clock=sources.clock, hosts=sources.hosts,
                         aggregates=sources.aggregates, cells=sources.cells)
        placement.refresh_hosts = scheduler.refresh
        return scheduler
    return make
