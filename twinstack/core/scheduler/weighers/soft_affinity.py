"""ServerGroupSoftAffinityWeigher: members of a soft-affinity group together where they can be."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints


class ServerGroupSoftAffinityWeigher:
    """For a ``soft-affinity`` request: the number of group members already on the host (more is better)."""

    policy = "soft-affinity"

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Ints | None:
        if decision.spec.server_group_policy != self.policy:
            return None
        return decision.group_counts(state).take(hosts)
