"""AggregateMultiTenancyIsolation: hosts in a tenant-tagged aggregate take only those tenants' instances."""

from __future__ import annotations

import numpy as np

from twinstack.core.compute.model import Aggregate
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask

KEY = "filter_tenant_id"


def tenants(aggregate: Aggregate) -> set[str]:
    """Projects an aggregate is reserved for: the comma-separated values of every ``filter_tenant_id*`` key."""
    return {value.strip() for key, values in aggregate.metadata.items() if key.startswith(KEY)
            for value in values.split(",") if value.strip()}


class AggregateMultiTenancyIsolation:
    """A host in aggregates tagged ``filter_tenant_id`` (or ``filter_tenant_id_2``...) passes only for the
    projects those tags list; a host in no tagged aggregate passes for every project (Nova's filter)."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        tagged = state.memo(KEY, lambda: [(a, tenants(aggregate)) for a, aggregate in enumerate(state.aggregates)
                                          if tenants(aggregate)])
        if not tagged:
            return None
        project = decision.spec.project_id

        def compute() -> Mask:
            isolated = np.asarray(state.member[[a for a, _ in tagged]].any(axis=0), dtype=np.bool_)
            allowed = np.asarray(state.member[[a for a, projects in tagged if project in projects]].any(axis=0),
                                 dtype=np.bool_)
            passing: Mask = ~isolated | allowed
            return passing
        return state.memo((KEY, project), compute)
