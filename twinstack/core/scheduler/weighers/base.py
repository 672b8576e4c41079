"""The weigher seam, and the handler that does Nova's shared work: normalise, multiply, sum.

A weigher returns raw numbers for the candidate hosts (higher = more wanted before its multiplier), or None
when it has nothing to say about this request (no group, no failed builds anywhere...). The handler
normalises, multiplies and sums with :func:`twinstack.core.scheduler.weighing.normalised_sum` (shared with the
volume scheduler). Weighers never see their multiplier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy.typing as npt

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import Floats, HostState, Ints
from twinstack.core.scheduler.weighing import normalised_sum


class HostWeigher(Protocol):
    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> npt.NDArray[Any] | None:
        """Raw weights of ``hosts`` (indices of the candidates, ascending), or None for no opinion."""
        ...


def weigh(weighers: Sequence[tuple[HostWeigher, float]], state: HostState, decision: Decision,
          hosts: Ints) -> Floats:
    """Each candidate's weight: the sum over weighers of multiplier * (raw - min) / (max - min)."""
    return normalised_sum([(weigher.weigh(state, decision, hosts), multiplier) for weigher, multiplier in weighers],
                          len(hosts))
