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
    raws = [raw for raw, _multiplier in rows if raw is not None]
    if not raws:
        return np.zeros(candidates)
    multipliers = [multiplier for raw, multiplier in rows if raw is not None]
    matrix = np.array(raws, dtype=np.float64)  # one row per weigher, in one call (not a copy per row)
    lows: list[float] = np.minimum.reduce(matrix, axis=1).tolist()  # the ufuncs: ndarray.min's Python layer skipped
    highs: list[float] = np.maximum.reduce(matrix, axis=1).tolist()
    scale = [m / (high - low) if high > low else 0.0 for m, low, high in zip(multipliers, lows, highs, strict=True)]
    weights: Floats = np.asarray(scale) @ matrix
    weights -= sum(s * low for s, low in zip(scale, lows, strict=True))
    return weights
