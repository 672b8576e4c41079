"""Cinder's weighers: raw numbers per candidate pool; :func:`normalised_sum` does the shared arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from twinstack.core.volume.scheduler.pools import Floats, PoolState
from twinstack.core.volume.scheduler.request import VolumeRequest

Ints = npt.NDArray[np.int64]


class PoolWeigher(Protocol):
    def weigh(self, state: PoolState, request: VolumeRequest, pools: Ints) -> Floats | None: ...


class CapacityWeigher:
    """Virtual free capacity (a thin pool's room under its ratio): positive multiplier spreads, as Cinder's
    ``capacity_weight_multiplier`` 1.0."""

    def weigh(self, state: PoolState, request: VolumeRequest, pools: Ints) -> Floats | None:
        free: Floats = state.virtual_free().take(pools)
        return free


class AllocatedCapacityWeigher:
    """Capacity already promised; Cinder's ``allocated_capacity_weight_multiplier`` -1.0 prefers the least."""

    def weigh(self, state: PoolState, request: VolumeRequest, pools: Ints) -> Floats | None:
        allocated: Floats = state.allocated.take(pools)
        return allocated


WEIGHERS: dict[str, Callable[[], PoolWeigher]] = {
    "CapacityWeigher": CapacityWeigher,
    "AllocatedCapacityWeigher": AllocatedCapacityWeigher,
}
DEFAULT_WEIGHERS: dict[str, float] = {"CapacityWeigher": 1.0, "AllocatedCapacityWeigher": 0.0}
