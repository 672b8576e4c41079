"""Any interleaving of creates, deletes and resizes keeps every host's usage equal to the sum of its
allocations and within (total - reserved) * allocation_ratio (hypothesis stateful)."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from twinstack.core.compute.stores import NoValidHost
from twinstack.rpc.compute import FlavorSpec

from .hosts import cloud, flavor, host, spec

FLAVORS = [flavor(1, 512, 1), flavor(2, 2048, 20), flavor(4, 4096, 40), flavor(8, 16384, 80),
           flavor(3, 3000, 7, **{"trait:HW_CPU_X86_AVX2": "required"})]


class SchedulingMachine(RuleBasedStateMachine):
    servers = Bundle("servers")

    def __init__(self) -> None:
        super().__init__()
        hosts = [host(f"h{i}", vcpus=4 + 2 * (i % 3), ram_mb=8192 + 4096 * (i % 2), disk_gb=100, cpu_ratio=1.5,
                      traits=["HW_CPU_X86_AVX2"] if i % 2 else [], cell=f"cell{i % 2}",
                      MEMORY_MB={"total": 8192 + 4096 * (i % 2), "reserved": 512})
                 for i in range(5)]
        self.placement, self.scheduler = cloud(*hosts, seed=1, host_subset_size=2)
        self.capacity = {h.host: {rc: int((inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1))
                                  for rc, inv in h.inventory.items()} for h in hosts}
        self.serial = 0

    def _place(self, flavor_spec: FlavorSpec, **fields: object) -> str | None:
        self.serial += 1
        request = spec(flavor_spec, uuid=f"vm{self.serial}", **fields)
        try:
            chosen = self.scheduler.select_destinations(request)
        except NoValidHost:
            assert self.placement.allocations(request.instance_uuid) == {}
            return None
        assert self.placement.allocations(request.instance_uuid) == {chosen[0]: request.resources}
        assert chosen[0] not in chosen[1:]
        return request.instance_uuid

    @rule(target=servers, choice=st.sampled_from(FLAVORS), policy=st.sampled_from([None, "soft-anti-affinity"]))
    def create(self, choice: FlavorSpec, policy: str | None) -> str:
        return self._place(choice, server_group_policy=policy) or "refused"

    @rule(server=consumes(servers))
    def delete(self, server: str) -> None:
        self.placement.release(server)
        assert self.placement.allocations(server) == {}

    @rule(target=servers, server=consumes(servers), choice=st.sampled_from(FLAVORS))
    def resize(self, server: str, choice: FlavorSpec) -> str:
        """Release the old size, claim the new one (wherever it now fits best); refused resizes end the server."""
        self.placement.release(server)
        return self._place(choice) or "refused"

    @invariant()
    def usage_is_the_sum_of_allocations_and_within_capacity(self) -> None:
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        counts: dict[str, int] = defaultdict(int)
        for consumer, where in self.placement.consumers().items():
            counts[where] += 1
            for rc, amount in self.placement.allocations(consumer)[where].items():
                totals[where][rc] += amount
        state = self.placement.state
        for name, capacity in self.capacity.items():
            used = self.placement.usage(name)
            assert {rc: v for rc, v in used.items() if v} == {rc: v for rc, v in totals[name].items() if v}
            assert all(used.get(rc, 0) <= cap for rc, cap in capacity.items())
            i = state.index[name]
            assert state.instances[i] == counts[name]
            for r in range(len(state.resource_classes)):
                assert state.free[r, i] == state.capacity[r, i] - state.used[r, i]


SchedulingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestScheduling = SchedulingMachine.TestCase
