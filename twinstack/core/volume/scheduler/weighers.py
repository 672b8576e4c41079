"""Cinder's weighers over pools (the shared :class:`~twinstack.core.scheduler.pipeline.ColumnWeigher`): raw
numbers per candidate pool; the shared pipeline normalises, multiplies and sums."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from twinstack.core.scheduler.pipeline import ColumnWeigher, Ints
from twinstack.core.volume.scheduler.pools import Floats, PoolState
from twinstack.core.volume.scheduler.request import PoolDecision

PoolWeigher: TypeAlias = ColumnWeigher[PoolState, PoolDecision]


class CapacityWeigher:
    """Virtual free capacity (a thin pool's room under its ratio): a positive ``capacity_weight_multiplier``
    (Cinder's default 1.0) spreads, a negative one stacks."""

    def weigh(self, state: PoolState, decision: PoolDecision, pools: Ints) -> Floats | None:
        free: Floats = state.virtual_free().take(pools)
        return free


class AllocatedCapacityWeigher:
    """Capacity already promised; Cinder's ``allocated_capacity_weight_multiplier`` -1.0 prefers the least."""

    def weigh(self, state: PoolState, decision: PoolDecision, pools: Ints) -> Floats | None:
        allocated: Floats = state.allocated.take(pools)
        return allocated


class VolumeNumberWeigher:
    """How many volumes a pool holds; Cinder's ``volume_number_multiplier`` -1.0 spreads volumes by count (the
    pool with the fewest wins), whatever their sizes."""

    def weigh(self, state: PoolState, decision: PoolDecision, pools: Ints) -> Floats | None:
        volumes: Floats = state.volumes.take(pools)
        return volumes


WEIGHERS: dict[str, Callable[[], PoolWeigher]] = {
    "CapacityWeigher": CapacityWeigher,
    "AllocatedCapacityWeigher": AllocatedCapacityWeigher,
    "VolumeNumberWeigher": VolumeNumberWeigher,
}
"""What ``volume.scheduler_default_weighers`` may name (Cinder's names)."""
DEFAULT_WEIGHERS = ("CapacityWeigher",)
"""Cinder's ``scheduler_default_weighers``."""
MULTIPLIER_OPTIONS = {
    "CapacityWeigher": "capacity_weight_multiplier",
    "AllocatedCapacityWeigher": "allocated_capacity_weight_multiplier",
    "VolumeNumberWeigher": "volume_number_multiplier",
}
"""Each weigher's multiplier option (Cinder's names)."""
