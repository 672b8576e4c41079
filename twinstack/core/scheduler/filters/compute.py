"""ComputeFilter: only hosts whose compute service is enabled and up."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints, Mask


class ComputeFilter:
    """Hosts neither disabled nor forced down, heard from within ``service_down_time`` (Nova's ComputeFilter:
    the service is enabled and the servicegroup sees it up). Without a clock only the flags count."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        if decision.now is None:
            return state.eligible
        alive = state.last_heartbeat >= decision.now - decision.settings.service_down_time
        alive &= state.eligible
        return alive

    def mask_at(self, state: HostState, decision: Decision, candidates: Ints) -> Mask | None:
        """:meth:`mask` for ``candidates`` only: after Placement's cap a thousand hosts, not the fleet."""
        if decision.now is None:
            return state.eligible.take(candidates)
        alive = state.last_heartbeat.take(candidates) >= decision.now - decision.settings.service_down_time
        alive &= state.eligible.take(candidates)
        return alive
