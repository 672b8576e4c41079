"""Percentiles for the benchmarks' latency figures, one definition for all of them."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of values sorted ascending: never below the median, even
    for a handful of samples (where p99 is the largest)."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
