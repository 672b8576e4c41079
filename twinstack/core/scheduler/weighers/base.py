"""The weigher seam, and the handler that does Nova's shared work: normalise, multiply, sum.

A weigher returns raw numbers for the candidate hosts (higher = more wanted before its multiplier), or None
when it has nothing to say about this request (no group, no failed builds anywhere...). The handler
normalises, multiplies and sums (:func:`twinstack.core.scheduler.pipeline.weigh`, shared with the volume
scheduler). Weighers never see their multiplier.
"""

from __future__ import annotations

from typing import TypeAlias

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState
from twinstack.core.scheduler.pipeline import ColumnWeigher, weigh

HostWeigher: TypeAlias = ColumnWeigher[HostState, Decision]

__all__ = ["HostWeigher", "weigh"]
