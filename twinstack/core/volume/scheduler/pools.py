"""What the volume scheduler knows of every pool, column-wise (one NumPy array per fact, one slot per pool).

Block storage has tens of pools where compute has thousands of hosts, but holding them the same way lets the
filters be the same kind of object (a mask over every pool at once) and lets weighing share its arithmetic
with compute (:mod:`twinstack.core.scheduler.weighing`). Zones are coded with compute's :class:`Codes`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from twinstack.core.scheduler.host_state import Codes

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
T = TypeVar("T")


@dataclass(frozen=True)
class PoolSnapshot:
    """One pool as the control plane last heard of it, plus what it has promised from it (``allocated_gb``)."""

    name: str
    volume_backend_name: str
    availability_zone: str
    total_gb: int
    free_gb: int
    allocated_gb: int
    thin: bool = False
    max_over_subscription_ratio: float = 1.0
    reserved_percentage: int = 0
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    volumes: int = 0
    """Volumes recorded on the pool (VolumeNumberWeigher)."""


class PoolState:
    """The pools as columns: ``total``, ``free`` (reported), ``allocated``, ``reserved`` (GiB kept back),
    ``thin``, ``ratio`` (max oversubscription), ``volumes`` (how many) and ``zone`` codes; ``capabilities`` per
    pool for the one filter that compares text."""

    def __init__(self, pools: Sequence[PoolSnapshot]) -> None:
        self.pools = list(pools)
        self.names = [p.name for p in self.pools]
        self.zones = Codes()
        self.zone = np.array([self.zones.code(p.availability_zone) for p in self.pools], dtype=np.int32)
        self.total = np.array([p.total_gb for p in self.pools], dtype=np.float64)
        self.free = np.array([p.free_gb for p in self.pools], dtype=np.float64)
        self.allocated = np.array([p.allocated_gb for p in self.pools], dtype=np.float64)
        self.reserved = np.floor(self.total * np.array([p.reserved_percentage for p in self.pools]) / 100.0)
        self.thin = np.array([p.thin for p in self.pools], dtype=np.bool_)
        self.ratio = np.array([p.max_over_subscription_ratio for p in self.pools], dtype=np.float64)
        self.volumes = np.array([p.volumes for p in self.pools], dtype=np.float64)
        self.capabilities = [{"volume_backend_name": p.volume_backend_name, **p.capabilities} for p in self.pools]
        self._memo: dict[Hashable, Any] = {}

    @property
    def n(self) -> int:
        return len(self.pools)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per state (a state is one decision's snapshot of the pools), as HostState memoises
        structural masks: what lets the shared zone filter run over pools too."""
        if key not in self._memo:
            self._memo[key] = compute()
        value: T = self._memo[key]
        return value

    def thick_free(self) -> Floats:
        """Space a thick volume may still take: what is neither promised nor reserved (nor, per the last
        report, written)."""
        free: Floats = np.minimum(self.free, self.total - self.allocated) - self.reserved
        return free

    def virtual_free(self) -> Floats:
        """Cinder's 'virtual free capacity': a thin pool's room under its oversubscription ratio, a thick
        pool's free space."""
        thin_room: Floats = self.total * self.ratio - self.allocated - self.reserved
        return np.where(self.thin, thin_room, self.thick_free())
