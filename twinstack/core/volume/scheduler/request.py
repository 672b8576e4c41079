"""What one volume asks of the scheduler, and the decision's working set over it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class VolumeRequest:
    """A volume of ``size_gb`` of a type with ``extra_specs``, in ``availability_zone`` if given; ``only_backend``
    confines it to the back end (``host@backend``) of a source it is cloned from."""

    size_gb: int
    extra_specs: Mapping[str, Any] = field(default_factory=dict)
    availability_zone: str | None = None
    only_backend: str | None = None


@dataclass
class PoolDecision:
    """One volume decision's working set, as compute's :class:`~twinstack.core.scheduler.decision.Decision`:
    the request, and the pools still passing (what the shared pipeline leaves for its later filters)."""

    request: VolumeRequest
    candidates: npt.NDArray[np.int64] | None = None

    @property
    def zone(self) -> str | None:
        """The zone asked for (what the shared AvailabilityZoneFilter reads)."""
        return self.request.availability_zone or None
