"""RAMWeigher: free memory."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import Floats, HostState, Ints


class RAMWeigher:
    """Free MEMORY_MB (capacity after allocation ratio, minus usage): a positive multiplier spreads, a negative
    one stacks onto the fullest hosts (Nova's RAMWeigher)."""

    resource_class = "MEMORY_MB"

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Floats | None:
        row = state.resource_classes.get(self.resource_class)
        return None if row is None else state.free[row].take(hosts)
