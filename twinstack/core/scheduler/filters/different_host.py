"""DifferentHostFilter: the ``different_host`` scheduler hint."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision, hint_list
from twinstack.core.scheduler.host_state import HostState, Mask


class DifferentHostFilter:
    """With a ``different_host`` hint (instance UUIDs): only hosts holding none of those instances (Nova's
    filter)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        uuids = hint_list(decision.spec.hints.get("different_host"))
        if not uuids:
            return None
        return ~state.mask_of(host for host in map(decision.locate, uuids) if host is not None)
