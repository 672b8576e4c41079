"""Nova's shared weighing arithmetic, for any scheduler (hosts for compute, pools for block storage).

Each weigher gives one raw number per candidate (or None: no opinion). Each row is normalised to 0..1 over the
candidates (min-max, as Nova's and Cinder's ``normalize``: all equal gives 0), multiplied by its multiplier
(negative: prefer the least, i.e. pack instead of spread) and the rows are summed. Weighers never see their
multiplier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def normalised_sum(rows: Sequence[tuple[npt.NDArray[Any] | None, float]], candidates: int) -> Floats:
    """Each candidate's weight: the sum over rows of multiplier * (raw - min) / (max - min)."""
    raws: list[npt.NDArray[Any]] = []
    multipliers: list[float] = []
    for raw, multiplier in rows:
        if raw is not None:
            raws.append(raw)
            multipliers.append(multiplier)
    if not raws:
        return np.zeros(candidates)
    matrix = np.array(raws, dtype=np.float64)  # one row per weigher, in one call (not a copy per row)
    lows: list[float] = np.minimum.reduce(matrix, axis=1).tolist()  # the ufuncs: ndarray.min's Python layer skipped
    highs: list[float] = np.maximum.reduce(matrix, axis=1).tolist()
    scale: list[float] = []
    offset = 0.0  # summed left to right, one term per row in order (what sum() of a generator gave, with no generator)
    for m, low, high in zip(multipliers, lows, highs, strict=True):
        s = m / (high - low) if high > low else 0.0
        scale.append(s)
        offset += s * low
    weights: Floats = np.asarray(scale) @ matrix
    weights -= offset
    return weights
