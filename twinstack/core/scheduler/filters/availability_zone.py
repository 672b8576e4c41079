"""AvailabilityZoneFilter: only candidates in the requested availability zone, for hosts and pools alike.

One class serves Nova's filter (over hosts) and Cinder's (over pools): all it needs is a zone column coded
with :class:`~twinstack.core.scheduler.host_state.Codes` and a request that names a zone (:class:`Zoned` and
:class:`ZoneAsked`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from twinstack.core.scheduler.host_state import Codes, Mask

T = TypeVar("T")


class Zoned(Protocol):
    """A column-wise state with a zone code per candidate."""

    @property
    def n(self) -> int: ...
    @property
    def zones(self) -> Codes: ...
    @property
    def zone(self) -> npt.NDArray[Any]: ...
    def memo(self, key: Hashable, compute: Callable[[], T]) -> T: ...


class ZoneAsked(Protocol):
    @property
    def zone(self) -> str | None:
        """The zone the request asks for; None: any."""
        ...


class AvailabilityZoneFilter:
    """Candidates in the zone the request names (Nova's and Cinder's AvailabilityZoneFilter). A host's zone is
    that of the aggregate with an ``availability_zone`` it belongs to, else the zone it reports; a pool's is its
    back end's. No zone asked: all pass; a zone no candidate is in: none does."""

    per_host = False

    def mask(self, state: Zoned, decision: ZoneAsked) -> Mask | None:
        zone = decision.zone
        if zone is None:
            return None
        return in_zone(state, zone)


def in_zone(state: Zoned, zone: str) -> Mask:
    """The candidates in ``zone`` (memoised: a zone's members change only with the state's structure)."""
    code = state.zones.get(zone)
    if code is None:
        return np.zeros(state.n, dtype=np.bool_)

    def compute() -> Mask:
        inside: Mask = state.zone == code
        return inside
    return state.memo(("zone", code), compute)
