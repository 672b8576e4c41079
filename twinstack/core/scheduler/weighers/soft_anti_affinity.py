"""ServerGroupSoftAntiAffinityWeigher: members of a soft-anti-affinity group apart where they can be."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints


class ServerGroupSoftAntiAffinityWeigher:
    """For a ``soft-anti-affinity`` request: minus the number of group members on the host (fewer is better)."""

    policy = "soft-anti-affinity"

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Ints | None:
        if decision.spec.server_group_policy != self.policy:
            return None
        return -decision.group_counts(state).take(hosts)
