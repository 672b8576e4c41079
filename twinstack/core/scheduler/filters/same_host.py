"""SameHostFilter: the ``same_host`` scheduler hint."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision, hint_list
from twinstack.core.scheduler.host_state import HostState, Mask


class SameHostFilter:
    """With a ``same_host`` hint (instance UUIDs): only hosts holding at least one of those instances; an
    instance placed nowhere counts on no host, so hinting only such instances leaves none (Nova's filter)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        uuids = hint_list(decision.spec.hints.get("same_host"))
        if not uuids:
            return None
        return state.mask_of(host for host in map(decision.locate, uuids) if host is not None)
