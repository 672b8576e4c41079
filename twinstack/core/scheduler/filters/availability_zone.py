"""AvailabilityZoneFilter: only hosts in the requested availability zone."""

from __future__ import annotations

import numpy as np

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask


class AvailabilityZoneFilter:
    """Hosts in the zone the request names (Nova's AvailabilityZoneFilter). A host's zone is that of the
    aggregate with an ``availability_zone`` it belongs to, else the zone it reports. No zone asked: all pass;
    a zone no host is in: none does."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        zone = decision.zone
        if zone is None:
            return None
        code = state.zones.get(zone)
        if code is None:
            return np.zeros(state.n, dtype=np.bool_)
        def compute() -> Mask:
            inside: Mask = state.zone == code
            return inside
        return state.memo(("zone", code), compute)
