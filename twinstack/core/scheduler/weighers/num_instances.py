"""NumInstancesWeigher: how many instances a host holds."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints


class NumInstancesWeigher:
    """Instances on the host (consumers holding an allocation there); positive prefers fuller hosts, negative
    emptier ones; Nova's default multiplier is 0 (off)."""

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Ints | None:
        return state.instances.take(hosts)
