"""The weigher seam, and the handler that does Nova's shared work: normalise, multiply, sum.

A weigher returns raw numbers for the candidate hosts (higher = more wanted before its multiplier), or None
when it has nothing to say about this request (no group, no failed builds anywhere...). The handler
normalises each weigher's numbers to 0..1 over the candidates (min-max, as Nova's ``normalize``: all equal
gives 0), multiplies by the configured multiplier (negative: prefer the least, i.e. pack instead of spread)
and sums. Weighers never see their multiplier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import Floats, HostState, Ints


class HostWeigher(Protocol):
    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> npt.NDArray[Any] | None:
        """Raw weights of ``hosts`` (indices of the candidates, ascending), or None for no opinion."""
        ...


def weigh(weighers: Sequence[tuple[HostWeigher, float]], state: HostState, decision: Decision,
          hosts: Ints) -> Floats:
    """Each candidate's weight: the sum over weighers of multiplier * (raw - min) / (max - min)."""
    matrix = np.empty((len(weighers), len(hosts)))
    multipliers: list[float] = []
    for weigher, multiplier in weighers:
        raw = weigher.weigh(state, decision, hosts)
        if raw is not None:
            matrix[len(multipliers)] = raw
            multipliers.append(multiplier)
    if not multipliers:
        return np.zeros(len(hosts))
    matrix = matrix[:len(multipliers)]
    lows: list[float] = matrix.min(axis=1).tolist()
    highs: list[float] = matrix.max(axis=1).tolist()
    scale = [m / (high - low) if high > low else 0.0 for m, low, high in zip(multipliers, lows, highs, strict=True)]
    weights: Floats = np.asarray(scale) @ matrix
    weights -= sum(s * low for s, low in zip(scale, lows, strict=True))
    return weights
