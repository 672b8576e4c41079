"""Any interleaving of creates, deletes, resizes, confirms, reverts and failed moves, done as the conductor's
move flows do them (the source allocation handed to the migration, the destination claimed for the
instance), keeps every host's usage equal to the sum of its allocations and within capacity, and a revert
or a failure gives the server back exactly the allocation it held before the move (hypothesis stateful)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from twinstack.core.compute.stores import NoValidHost
from twinstack.rpc.compute import FlavorSpec

from .hosts import cloud, flavor, host, spec

FLAVORS = [flavor(1, 512, 1), flavor(2, 2048, 20), flavor(4, 4096, 40), flavor(8, 8192, 80)]


class MovingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        hosts = [host(f"h{i}", vcpus=8, ram_mb=16384, disk_gb=200, cpu_ratio=1.0) for i in range(4)]
        self.placement, self.scheduler = cloud(*hosts, seed=2)
        self.capacity = {h.host: {rc: int(inv["total"] - inv.get("reserved", 0)) for rc, inv in h.inventory.items()}
                         for h in hosts}
        self.servers: dict[str, FlavorSpec] = {}
        self.open: dict[str, tuple[str, dict[str, dict[str, int]]]] = {}
        """server -> (its migration consumer, its allocations before the move)"""
        self.serial = 0

    def _usage(self) -> dict[str, dict[str, int]]:
        return {h: {rc: n for rc, n in self.placement.usage(h).items() if n} for h in self.capacity}

    def _idle(self) -> list[str]:
        return sorted(s for s in self.servers if s not in self.open)

    @rule(choice=st.sampled_from(FLAVORS))
    def create(self, choice: FlavorSpec) -> None:
        self.serial += 1
        uuid = f"vm{self.serial}"
        try:
            self.scheduler.select_destinations(spec(choice, uuid=uuid))
        except NoValidHost:
            return
        self.servers[uuid] = choice

    @precondition(lambda self: bool(self._idle()))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        server = data.draw(st.sampled_from(self._idle()))
        self.placement.release(server)
        del self.servers[server]

    @precondition(lambda self: bool(self._idle()))
    @rule(data=st.data(), choice=st.sampled_from(FLAVORS))
    def resize(self, data: st.DataObject, choice: FlavorSpec) -> None:
        server = data.draw(st.sampled_from(self._idle()))
        before = self._usage()
        source = next(iter(self.placement.allocations(server)))
        migration = f"migration-of-{server}-{self.serial}"
        self.serial += 1
        assert self.placement.move(server, migration)
        assert self._usage() == before, "handing an allocation over changes no usage"
        request = replace(spec(choice, uuid=server), ignore_hosts=frozenset({source}))
        try:
            self.scheduler.select_destinations(request)
        except NoValidHost:  # the conductor's undo
            self.placement.release(server)
            assert self.placement.move(migration, server)
            assert self._usage() == before
            return
        self.open[server] = (migration, self.placement.allocations(migration))

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        server = data.draw(st.sampled_from(sorted(self.open)))
        migration, _before = self.open.pop(server)
        self.placement.release(migration)
        assert self.placement.allocations(migration) == {}

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        server = data.draw(st.sampled_from(sorted(self.open)))
        migration, held = self.open.pop(server)
        self.placement.release(server)
        assert self.placement.move(migration, server)
        assert self.placement.allocations(server) == held

    @invariant()
    def usage_is_the_sum_of_allocations_and_within_capacity(self) -> None:
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for consumer, where in self.placement.consumers().items():
            for rc, amount in self.placement.allocations(consumer)[where].items():
                totals[where][rc] += amount
        for name, capacity in self.capacity.items():
            used = self.placement.usage(name)
            assert {rc: v for rc, v in used.items() if v} == {rc: v for rc, v in totals[name].items() if v}
            assert all(used.get(rc, 0) <= cap for rc, cap in capacity.items())

    @invariant()
    def a_server_holds_at_most_its_claim_and_its_migrations(self) -> None:
        consumers = self.placement.consumers()
        assert set(self.servers) <= set(consumers)
        assert len(consumers) == len(self.servers) + len(self.open)


MovingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestMoving = MovingMachine.TestCase
