"""Cinder's filters over pools: the shared :class:`~twinstack.core.scheduler.pipeline.ColumnFilter` protocol,
one rule each, answering for every pool at once (a mask) or None (no opinion).

``AvailabilityZoneFilter`` is compute's own class (:mod:`twinstack.core.scheduler.filters.availability_zone`):
a zone column is a zone column. :class:`BackendFilter` is not an operator's choice but a constraint of the
request (a clone stays in its source's back end), so the scheduler always runs it, whatever is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

from twinstack.core.scheduler.filters.availability_zone import AvailabilityZoneFilter
from twinstack.core.scheduler.filters.extra_specs_ops import match
from twinstack.core.scheduler.pipeline import ColumnFilter
from twinstack.core.volume.scheduler.pools import Mask, PoolSnapshot, PoolState
from twinstack.core.volume.scheduler.request import PoolDecision, VolumeRequest

PoolFilter: TypeAlias = ColumnFilter[PoolState, PoolDecision]

SCOPED_PREFIX = "capabilities:"
"""Extra specs the CapabilitiesFilter reads: unscoped keys and ``capabilities:<key>``; other scopes (``qos:``,
``provisioning:``...) belong to other consumers."""


class CapacityFilter:
    """Pools with room for the volume: a thick pool's free space (less what is reserved and promised), a thin
    pool's room under its oversubscription ratio, and in a thin pool also real free space (Cinder's rule)."""

    per_host = False

    def mask(self, state: PoolState, decision: PoolDecision) -> Mask | None:
        request = decision.request
        size = float(request.size_gb)
        thick = request.extra_specs.get("provisioning:type") == "thick"
        thin_ok = ((state.allocated + size) <= state.total * state.ratio) & ((state.free - state.reserved) > 0)
        thick_ok = state.thick_free() >= size
        mask: Mask = np.where(state.thin & (not thick), thin_ok, thick_ok)
        return mask


class CapabilitiesFilter:
    """Pools whose capabilities satisfy the type's extra specs, with Nova's and Cinder's operators (``<is>
    True``, ``<in>``, ``>=``...). A per-pool loop: pools are few and the specs are text."""

    per_host = False

    def mask(self, state: PoolState, decision: PoolDecision) -> Mask | None:
        wanted = {key.removeprefix(SCOPED_PREFIX): str(value) for key, value in decision.request.extra_specs.items()
                  if ":" not in key or key.startswith(SCOPED_PREFIX)}
        if not wanted:
            return None
        return np.array([all(_satisfies(caps.get(key), requirement) for key, requirement in wanted.items())
                         for caps in state.capabilities], dtype=np.bool_)


class BackendFilter:
    """Only the back end a clone or snapshot restore must stay on (the copy happens inside the back end)."""

    per_host = False

    def mask(self, state: PoolState, decision: PoolDecision) -> Mask | None:
        only = decision.request.only_backend
        if only is None:
            return None
        return np.array([name.split("#", 1)[0] == only for name in state.names], dtype=np.bool_)


def _satisfies(offered: object, requirement: str) -> bool:
    if requirement.startswith("<is> "):
        return str(offered).lower() == requirement.split(None, 1)[1].strip().lower()
    if isinstance(offered, bool):
        offered = str(offered)
    return match(None if offered is None else str(offered), requirement)


FILTERS: dict[str, Callable[[], PoolFilter]] = {
    "AvailabilityZoneFilter": AvailabilityZoneFilter,
    "CapacityFilter": CapacityFilter,
    "CapabilitiesFilter": CapabilitiesFilter,
}
"""What ``volume.scheduler_default_filters`` may name (Cinder's names)."""
DEFAULT_FILTERS = ("AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter")
"""Cinder's ``scheduler_default_filters``."""
ALWAYS: tuple[Callable[[], PoolFilter], ...] = (BackendFilter,)
"""Filters every decision runs first, configured or not: constraints of the request, not policies."""


def passes(pool_filter: PoolFilter, pool: PoolSnapshot, request: VolumeRequest) -> bool:
    """Whether one pool passes one filter (for checks on a volume's own pool: extend, retype in place)."""
    mask = pool_filter.mask(PoolState([pool]), PoolDecision(request))
    return mask is None or bool(mask[0])
