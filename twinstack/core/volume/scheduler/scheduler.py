"""The volume filter scheduler: filters mask the pools, weighers rank the survivors, the best pool wins.

A pure decision over a snapshot of the pools; claiming the chosen pool's capacity is the caller's (the volume
manager's) atomic step, which retries with a fresh snapshot if another decision got there first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from twinstack.core.errors import CloudError
from twinstack.core.scheduler.weighing import normalised_sum
from twinstack.core.volume.scheduler.filters import DEFAULT_FILTERS, FILTERS, PoolFilter
from twinstack.core.volume.scheduler.pools import PoolSnapshot, PoolState
from twinstack.core.volume.scheduler.request import VolumeRequest
from twinstack.core.volume.scheduler.weighers import DEFAULT_WEIGHERS, WEIGHERS, PoolWeigher


class NoValidBackend(CloudError):
    """Cinder's NoValidBackend: no pool passed the filters."""

    status = 400
    title = "Bad Request"

    def __init__(self, reason: str) -> None:
        super().__init__(f"No valid backend was found. {reason}")


class VolumeScheduler:
    def __init__(self, filters: Sequence[str] = DEFAULT_FILTERS,
                 weighers: Mapping[str, float] | None = None) -> None:
        self.filters: list[PoolFilter] = [FILTERS[name]() for name in filters]
        self.weighers: list[tuple[PoolWeigher, float]] = [
            (WEIGHERS[name](), multiplier) for name, multiplier in (weighers or DEFAULT_WEIGHERS).items()
            if multiplier]

    def select(self, pools: Sequence[PoolSnapshot], request: VolumeRequest) -> PoolSnapshot:
        """The best pool for ``request``, or NoValidBackend."""
        state = PoolState(pools)
        passing = np.ones(state.n, dtype=np.bool_)
        for pool_filter in self.filters:
            mask = pool_filter.mask(state, request)
            if mask is not None:
                passing &= mask
        candidates = np.flatnonzero(passing)
        if candidates.size == 0:
            raise NoValidBackend("No weighed backends available")
        weights = normalised_sum([(w.weigh(state, request, candidates), m) for w, m in self.weighers],
                                 candidates.size)
        return state.pools[int(candidates[int(np.argmax(weights))])]
