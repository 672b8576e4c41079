"""The filter seam: one rule, one small class, answering for every host at once.

A filter returns a boolean mask over all hosts (``True``: the host may take the instance), or None when the
request asks nothing of it (no zone requested, no group policy...), so an idle filter costs one call. Masks
that depend only on structure (zones, traits, aggregates) are memoised in the HostState; the handler never
writes into a mask a filter returns.
"""

from __future__ import annotations

from typing import Protocol

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask


class HostFilter(Protocol):
    per_host: bool
    """True for a filter that calls Python once per host: the handler runs those last, on the survivors."""

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        """Hosts that pass (shape ``(state.n,)``), or None when every host does."""
        ...
