"""Placement held in the scheduler's own columns: the memory (simulation) placement.

Its truth is a :class:`~twinstack.core.scheduler.host_state.HostState`: a claim checks and writes one slot per
resource class of one host, so the FilterScheduler reads capacity that is always current, with nothing to
synchronise. It keeps the contract of :class:`twinstack.core.compute.stores.Placement`, as
:class:`twinstack.core.compute.memory.MemoryPlacement` (its simple executable spec) does, and adds Placement's
inventory rules: a claim is all or nothing and never takes a host past (total - reserved) * allocation_ratio
(rounded down), nor asks an amount outside min_unit..max_unit or off step_size.

A process has one writer (the runtime's loop), so the compare-and-swap of DESIGN.md rule 5 is trivially the
check-then-write of :meth:`claim`; the SQL Placement service is the one that races.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twinstack.core.compute.model import ComputeHost
from twinstack.core.scheduler.host_state import HostState, Usage


class ColumnarPlacement:
    def __init__(self, state: HostState | None = None) -> None:
        self.state = state or HostState()
        self._consumers: dict[str, tuple[int, Usage, dict[str, int]]] = {}
        """consumer -> (host index, usage rows, the resources as asked)"""

    def register_host(self, host: ComputeHost) -> None:
        """Make or update the host's provider (inventory, traits, zone); its allocations stay."""
        self.state.upsert_host(host)

    def register_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        for host in hosts:
            self.state.upsert_host(host)

    def learn_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        """Hosts found in the host store, registered before this process knew them (by another process, or by an
        earlier run of this one): their columns, and where allocations are kept elsewhere, what they hold there.
        Nothing is written. Here, where the columns are the truth, that is their registration."""
        for host in hosts:
            self.state.upsert_host(host)

    def fits(self, host: str, resources: Mapping[str, int]) -> bool:
        i = self.state.index.get(host)
        if i is None:
            return False
        usage = self.state.usage_rows(resources)
        return usage is not None and self.state.fits_at(i, usage)

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        """Allocate ``resources`` on ``host`` to ``consumer``: True, or False with nothing changed (no room, an
        amount the inventory refuses, an unknown host, or a consumer that already holds an allocation)."""
        i = self.state.index.get(host)
        usage = self.state.usage_rows(resources)
        return i is not None and usage is not None and self.claim_at(consumer, i, usage, resources, project_id, user_id)

    def claim_at(self, consumer: str, i: int, usage: Usage, resources: Mapping[str, int], project_id: str = "",
                 user_id: str = "") -> bool:
        """:meth:`claim` for a host index and usage already resolved against the state (the scheduler's way);
        who claims (``project_id``, ``user_id``) matters to a placement that records it (SQL's consumers)."""
        if consumer in self._consumers or not self.state.fits_at(i, usage):
            return False
        self.state.add_usage(i, usage)
        self._consumers[consumer] = (i, usage, {rc: amount for rc, amount in resources.items() if amount})
        return True

    def reload(self, held: Mapping[str, tuple[str, Mapping[str, int]]], hosts: Sequence[str] | None = None) -> None:
        """Take ``held`` (consumer -> (host, resources)) as the allocations of ``hosts`` (None: of every host),
        dropping what was recorded there before: how a placement shared with other writers catches up with
        their claims and releases. Usage is replayed without a room check (the truth may be over-full after an
        inventory shrank); a host or resource class unknown here is skipped."""
        state = self.state
        wanted = None if hosts is None else {state.index[h] for h in hosts if h in state.index}
        if wanted is None or wanted:
            stale = [consumer for consumer, (i, _usage, _resources) in self._consumers.items()
                     if wanted is None or i in wanted or consumer in held]
        else:  # no host named (a claim handed over): only the consumers in ``held``, not a pass over every one
            stale = [consumer for consumer in held if consumer in self._consumers]
        for consumer in stale:
            i, usage, _resources = self._consumers.pop(consumer)
            state.add_usage(i, usage, sign=-1)
        for consumer, (host, resources) in held.items():
            at, rows = state.index.get(host), state.usage_rows(resources)
            if at is not None and rows is not None:
                state.add_usage(at, rows)
                self._consumers[consumer] = (at, rows, {rc: amount for rc, amount in resources.items() if amount})

    def release(self, consumer: str) -> None:
        """Drop the consumer's allocation; releasing twice (or what was never claimed) is harmless."""
        held = self._consumers.pop(consumer, None)
        if held is not None:
            self.state.add_usage(held[0], held[1], sign=-1)

    def move(self, source: str, target: str) -> bool:
        """Hand ``source``'s allocation to ``target`` (which holds none): the host's usage stays as it is."""
        if source not in self._consumers or target in self._consumers:
            return False
        self._consumers[target] = self._consumers.pop(source)
        return True

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]:
        held = self._consumers.get(consumer)
        return {} if held is None else {self.state.names[held[0]]: dict(held[2])}

    def host_of(self, consumer: str) -> str | None:
        """Where the consumer holds its allocation, if anywhere."""
        held = self._consumers.get(consumer)
        return None if held is None else self.state.names[held[0]]

    def consumers(self) -> dict[str, str]:
        """Every consumer and the host it holds resources on."""
        names = self.state.names
        return {consumer: names[held[0]] for consumer, held in self._consumers.items()}

    def usage(self, host: str) -> dict[str, int]:
        """What is allocated on ``host`` per resource class (classes it has inventory or usage of); nothing for
        a host not registered here (yet), as MemoryPlacement answers."""
        return self.state.usage_of(host) if host in self.state.index else {}
