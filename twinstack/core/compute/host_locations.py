"""Where each host is, as a conductor reads it to record a placed server: node, cell and availability zone.

Read from the store for every build (``hosts.get``), these were a transaction per build for facts a host's agent
reports when it registers and that change only when it registers again. So the conductor keeps the ones it read
(the whole fleet's, three short columns a host, in one query), and reads them again when

* the copy is older than ``max_age`` runtime seconds: where several conductors share the conductor topic, a
  registration (``HostsRegistered``) reaches one of them only, and the others learn of a host registered again
  elsewhere this way, as their schedulers do (they re-read hosts every ``host_refresh_seconds``; the zone and cell
  recorded then agree with the hosts the scheduler placed by), the same as the aggregates
  (twinstack.core.compute.aggregate_view);
* a host is not in the copy (registered since, by an agent whose registration another conductor took): it alone
  is read, and kept.

The conductor that takes a registration puts the hosts it registers in its copy (:meth:`learn`) without reading
anything: an offline simulation (one conductor, which hears every registration, ``max_age`` None) never re-reads
its thousands of hosts. An operator's changes (``HostsChanged``: service flags, aggregates) move no host: the zone
an aggregate gives is the aggregate view's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.stores import HostLocation


class HostLocations:
    def __init__(self, read_all: Callable[[], Mapping[str, HostLocation]],
                 read_one: Callable[[str], ComputeHost | None], clock: Callable[[], float],
                 max_age: float | None) -> None:
        """``read_all``: every host's location (a store's ``locations``); ``read_one``: one host (a store's
        ``get``); ``clock``: the runtime's; ``max_age`` None: kept for good (every registration is learnt)."""
        self.read_all = read_all
        self.read_one = read_one
        self.clock = clock
        self.max_age = max_age
        self._known: dict[str, HostLocation] | None = None
        self._read_at = 0.0

    def of(self, host: str) -> HostLocation | None:
        """Where ``host`` is (None: no such host), from the copy unless it is stale or lacks the host."""
        now = self.clock()
        if self._known is None or (self.max_age is not None and now - self._read_at >= self.max_age):
            self._known, self._read_at = dict(self.read_all()), now
        found = self._known.get(host)
        if found is None and (read := self.read_one(host)) is not None:
            found = self._known[host] = HostLocation.of(read)
        return found

    def learn(self, hosts: Iterable[ComputeHost]) -> None:
        """These hosts registered (through this conductor): where they are now."""
        if self._known is not None:
            self._known.update((host.host, HostLocation.of(host)) for host in hosts)
