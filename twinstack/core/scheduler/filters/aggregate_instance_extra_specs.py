"""AggregateInstanceExtraSpecsFilter: flavor extra specs matched against host aggregate metadata."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twinstack.core.compute.model import Aggregate
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.filters.extra_specs_ops import match
from twinstack.core.scheduler.host_state import HostState, Mask

SCOPE = "aggregate_instance_extra_specs"


def requirements(extra_specs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The (key, requirement) pairs this filter checks: keys scoped ``aggregate_instance_extra_specs:`` and,
    as in Nova, unscoped ones; any other scope (``hw:``, ``trait:``, ``resources:``...) is not ours."""
    found = []
    for key, requirement in extra_specs.items():
        scope, _, rest = key.partition(":")
        if rest:
            if scope != SCOPE:
                continue
            key = rest
        found.append((key, requirement))
    return tuple(sorted(found))


def aggregate_values(aggregate: Aggregate, key: str) -> list[str]:
    """The values an aggregate offers for ``key`` (comma-separated in its metadata, as Nova reads them)."""
    raw = aggregate.metadata.get(key)
    return [] if raw is None else [v.strip() for v in raw.split(",")]


class AggregateInstanceExtraSpecsFilter:
    """Hosts where, for each extra spec of the flavor, some aggregate of the host has that key with a value
    matching the requirement (Nova's extra-spec operators). A flavor without such specs passes every host;
    a host in no aggregate with the key fails."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        wanted = requirements(decision.spec.flavor.extra_specs)
        if not wanted:
            return None
        return state.memo((SCOPE, wanted), lambda: _hosts_matching(state, wanted))


def _hosts_matching(state: HostState, wanted: tuple[tuple[str, str], ...]) -> Mask:
    mask = np.ones(state.n, dtype=np.bool_)
    for key, requirement in wanted:
        good = [a for a, aggregate in enumerate(state.aggregates)
                if any(match(value, requirement) for value in aggregate_values(aggregate, key))]
        if not good:
            return np.zeros(state.n, dtype=np.bool_)
        mask &= state.member[good].any(axis=0)
    return mask
