"""The compute filter seam: the shared :class:`~twinstack.core.scheduler.pipeline.ColumnFilter` over hosts.

A filter returns a boolean mask over all hosts (``True``: the host may take the instance), or None when the
request asks nothing of it (no zone requested, no group policy...), so an idle filter costs one call. Masks
that depend only on structure (zones, traits, aggregates) are memoised in the HostState; the handler never
writes into a mask a filter returns. The volume scheduler's filters are the same protocol over pools.
"""

from __future__ import annotations

from typing import TypeAlias

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState
from twinstack.core.scheduler.pipeline import ColumnFilter

HostFilter: TypeAlias = ColumnFilter[HostState, Decision]
