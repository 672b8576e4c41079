"""The volume filter scheduler: the shared pipeline narrows the pools, weighs the survivors, the best one wins.

A pure decision over a snapshot of the pools; claiming the chosen pool's capacity is the caller's (the volume
manager's) atomic step, which retries with a fresh snapshot if another decision got there first. The filter and
weigher loop is :class:`~twinstack.core.scheduler.pipeline.Pipeline`, the one the compute scheduler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from twinstack.core.errors import CloudError
from twinstack.core.scheduler.pipeline import Pipeline, best
from twinstack.core.volume.scheduler.filters import ALWAYS, FILTERS, PoolFilter
from twinstack.core.volume.scheduler.pools import PoolSnapshot, PoolState
from twinstack.core.volume.scheduler.request import PoolDecision, VolumeRequest
from twinstack.core.volume.scheduler.settings import VolumeSchedulerSettings
from twinstack.core.volume.scheduler.weighers import WEIGHERS, PoolWeigher


class NoValidBackend(CloudError):
    """Cinder's NoValidBackend: no pool passed the filters."""

    status = 400
    title = "Bad Request"

    def __init__(self, reason: str) -> None:
        super().__init__(f"No valid backend was found. {reason}")


class VolumeScheduler:
    def __init__(self, settings: VolumeSchedulerSettings | None = None, *,
                 filters: Mapping[str, Callable[[], PoolFilter]] = FILTERS,
                 weighers: Mapping[str, Callable[[], PoolWeigher]] = WEIGHERS) -> None:
        """The filters and weighers ``settings`` names (Cinder's defaults without), from ``filters`` and
        ``weighers`` (the built-in registries unless a deployment extends them); an unknown name raises
        :class:`~twinstack.core.scheduler.pipeline.UnknownPlugins`."""
        self.settings = settings or VolumeSchedulerSettings()
        always = {f"_always{i}": make for i, make in enumerate(ALWAYS)}
        self.pipeline: Pipeline[PoolState, PoolDecision] = Pipeline(
            [*always, *self.settings.scheduler_default_filters], self.settings.weigher_multipliers(),
            {**filters, **always}, weighers, what="volume scheduler filters or weighers")

    def select(self, pools: Sequence[PoolSnapshot], request: VolumeRequest) -> PoolSnapshot:
        """The best pool for ``request``, or NoValidBackend."""
        state = PoolState(pools)
        decision = PoolDecision(request)
        candidates = self.pipeline.narrow(state, decision, np.arange(state.n, dtype=np.int64))
        if candidates.size == 0:
            raise NoValidBackend("No weighed backends available")
        weights = self.pipeline.weigh(state, decision, candidates)
        return state.pools[int(candidates[best(weights)])]
