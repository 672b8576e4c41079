"""One scheduling request's working set: the request, the parts of it every filter and weigher reads
(parsed once), and the handful of facts that are not host columns (the time, where an instance is)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.host_state import HostState, Ints, Mask, Usage
from twinstack.core.scheduler.settings import SchedulerSettings


@dataclass
class Decision:
    spec: RequestSpec
    settings: SchedulerSettings
    now: float | None
    """The runtime's time, or None when the scheduler has no clock (heartbeats are then not judged)."""
    resources: dict[str, int]
    """The requested resources (``spec.resources``, derived once)."""
    usage: Usage | None
    """The requested resources against the state's rows; None if some class exists on no host."""
    locate: Callable[[str], str | None]
    """Where an instance (a placement consumer) holds its allocation."""
    passing: Mask | None = None
    """Hosts still passing Placement's part, as its filters so far left them (None: all)."""
    candidates: Ints | None = None
    """Once Placement's part is capped: the hosts still passing, as indices in ascending order (what per-host
    filters look at); None before."""
    _group_counts: Ints | None = field(default=None, repr=False)

    @property
    def zone(self) -> str | None:
        """The requested availability zone, without a forced ``:host`` part."""
        requested = self.spec.availability_zone
        return requested.split(":", 1)[0] or None if requested else None

    @property
    def forced_host(self) -> str | None:
        """The host an admin forced with ``zone:host``, ``zone:host:node`` or ``zone::node`` (a node is its
        host here: one hypervisor per compute host), if any. The compute API hands it over as the ``force_hosts``
        hint (the zone alone left in the request); a request spec from before that keeps it in its zone."""
        forced = self.spec.hints.get("force_hosts")
        if forced:
            return str(forced[0] if isinstance(forced, list) else forced)
        requested = self.spec.availability_zone
        if not requested or ":" not in requested:
            return None
        parts = requested.split(":")
        return parts[1] or (parts[2] if len(parts) > 2 else "") or None  # "zone::node" names the node

    def group_counts(self, state: HostState) -> Ints:
        """Per host, how many members of the request's server group already sit there."""
        if self._group_counts is None:
            counts = np.zeros(state.n, dtype=np.int64)
            spec = self.spec
            per_host: Mapping[str, int] = {**dict.fromkeys(spec.server_group_hosts, 1),
                                           **spec.server_group_host_counts}
            for host, count in per_host.items():
                i = state.index.get(host)
                if i is not None:
                    counts[i] = count
            self._group_counts = counts
        return self._group_counts


def hint_list(value: Any) -> list[str]:
    """A scheduler hint that may be one string or a list of them (Nova accepts both)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
