"""The plug-in path: a filter written per host, as Nova's are (``host_passes``), still works, more slowly.

Wrap it with :func:`per_host` and register it by name beside the column-wise filters::

    filters = {**FILTERS, "RackWhitelistFilter": per_host(RackWhitelistFilter)}

The adapter calls the plug-in once per host still passing after every column-wise filter (they run first),
each time with a :class:`~twinstack.core.scheduler.host_state.HostView` read out of the columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.filters.base import HostFilter
from twinstack.core.scheduler.host_state import HostState, HostView, Mask


class PerHostFilter(Protocol):
    def host_passes(self, host: HostView, spec: RequestSpec) -> bool:
        """Whether ``host`` may take the instance ``spec`` describes."""
        ...


class PerHostAdapter:
    per_host = True

    def __init__(self, plugin: PerHostFilter) -> None:
        self.plugin = plugin

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        mask = np.zeros(state.n, dtype=np.bool_)
        passing = decision.passing
        candidates: Iterable[int]
        if decision.candidates is not None:
            candidates = decision.candidates.tolist()
        else:
            candidates = range(state.n) if passing is None else np.flatnonzero(passing).tolist()
        spec, passes = decision.spec, self.plugin.host_passes
        for i in candidates:
            mask[i] = passes(state.view(i), spec)
        return mask


def per_host(plugin: Callable[[], PerHostFilter]) -> Callable[[], HostFilter]:
    """A registry entry for a per-host filter class (or any factory of one)."""
    return lambda: PerHostAdapter(plugin())
