"""ServerGroupAffinityFilter: members of an affinity group on one host."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask


class ServerGroupAffinityFilter:
    """For a request in an ``affinity`` group whose members already sit somewhere: only those hosts. The first
    member may go anywhere; requests in no such group pass every host (Nova's filter)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        spec = decision.spec
        if spec.server_group_policy != "affinity" or not (spec.server_group_hosts or spec.server_group_host_counts):
            return None
        return decision.group_counts(state) > 0
