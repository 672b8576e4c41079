"""ServerGroupAntiAffinityFilter: members of an anti-affinity group on different hosts."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask


class ServerGroupAntiAffinityFilter:
    """For a request in an ``anti-affinity`` group: hosts holding fewer members than the group's
    ``max_server_per_host`` rule (1 unless set). Any other request passes every host (Nova's filter)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        spec = decision.spec
        if spec.server_group_policy != "anti-affinity":
            return None
        limit = spec.server_group_rules.get("max_server_per_host", 1)
        return decision.group_counts(state) < limit
