"""The host aggregates as a conductor reads them to record a placed server's availability zone.

Read from the store for every build, they were a transaction per build for a list that changes when an operator
edits an aggregate: rarely. So the conductor keeps the list it read, and reads it again when

* told the aggregates changed: the API sends ``HostsChanged`` after every aggregate update, delete, host added or
  removed and metadata set (twinstack.api.compute.aggregates; a new aggregate holds no host, so it changes no
  zone), and the conductor that takes it drops its view, so the next build it places sees the change;
* the view is older than ``max_age`` runtime seconds: where several conductors share the conductor topic, the
  ``HostsChanged`` reaches one of them only, and the others learn of the change this way, as their schedulers do
  (they re-read hosts and aggregates every ``host_refresh_seconds``; the zone recorded then agrees with the zones
  the scheduler placed by).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twinstack.core.compute.model import Aggregate


class AggregateView:
    def __init__(self, source: Callable[[], Iterable[Aggregate]], clock: Callable[[], float],
                 max_age: float | None) -> None:
        """``source`` lists the aggregates (a store's ``all``); ``clock`` is the runtime's; ``max_age`` None: kept
        until :meth:`invalidate`."""
        self.source = source
        self.clock = clock
        self.max_age = max_age
        self._aggregates: list[Aggregate] | None = None
        self._read_at = 0.0

    def all(self) -> list[Aggregate]:
        """The aggregates, read again if told they changed or if read more than ``max_age`` ago."""
        now = self.clock()
        if self._aggregates is None or (self.max_age is not None and now - self._read_at >= self.max_age):
            self._aggregates, self._read_at = list(self.source()), now
        return self._aggregates

    def invalidate(self) -> None:
        """The aggregates changed: the next :meth:`all` reads them."""
        self._aggregates = None
