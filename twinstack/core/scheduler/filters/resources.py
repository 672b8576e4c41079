"""ResourcesFilter: only hosts with room for the request, by Placement's inventory rules."""

from __future__ import annotations

import numpy as np

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask


class ResourcesFilter:
    """Hosts where each requested resource class has at least the amount free ((total - reserved) *
    allocation_ratio - used) and the amount is within min_unit..max_unit and a multiple of step_size: the
    hosts a claim would succeed on (what Nova asks Placement's allocation candidates for)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        usage = decision.usage
        if usage is None:
            return np.zeros(state.n, dtype=np.bool_)
        mask = state.room_for(usage)
        for r, amount in usage:
            units = state.unit_mask(r, amount)
            if units is not None:
                mask = mask & units  # a new array: the room mask is the state's
        return mask
