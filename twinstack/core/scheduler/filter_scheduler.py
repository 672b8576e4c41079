"""Nova's FilterScheduler over column-wise host state: filters, weighers, a claim, alternates.

``select_destinations(spec)``:

1. Candidates are every known host but ``spec.ignore_hosts``. An admin's forced host (``zone:host``) is the
   only candidate and, as in Nova, skips the filters (the claim still checks its room).
2. Each enabled filter narrows a boolean mask over all hosts: Placement's part first (resources, required
   traits), capped at ``max_placement_results`` hosts as Nova caps GET /allocation_candidates; then the other
   column-wise filters; per-host plug-ins last, on the survivors. Nothing left: :class:`NoValidHost`. The
   filters after Placement's part and the weighers run in the :class:`~twinstack.core.scheduler.pipeline.Pipeline`
   the volume scheduler uses too (see that module for what is shared and why Placement's part is not).
3. The weighers rank the survivors (normalised, multiplied, summed; ties go to the host registered first).
   One of the best ``host_subset_size`` is drawn with the RNG passed in.
4. That host is claimed through Placement (for ``spec.consumer``, the instance unless told otherwise); if the
   claim loses (the host filled since it was read, e.g. another scheduler won the race on the SQL Placement),
   the next best is tried, and so on. None won: NoValidHost.
5. The answer is ``[claimed host, *alternates]``: the next best survivors in the claimed host's cell, at most
   ``min(spec.alternates, settings.max_alternates)``. Alternates are not claimed; the conductor claims one when
   it reschedules.

Nothing global is read: settings, registries, RNG, clock and stores are all passed in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from twinstack.core.clock import Clock
from twinstack.core.compute.cells import Cell, closed_cells
from twinstack.core.compute.model import Aggregate
from twinstack.core.compute.stores import HostStore, NoValidHost, Placement, RequestSpec
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.filters import FILTERS, HostFilter
from twinstack.core.scheduler.host_state import Floats, HostState, Ints, Mask
from twinstack.core.scheduler.pipeline import Pipeline
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.scheduler.weighers import WEIGHERS, HostWeigher

_EAGER_PULLS = 16
"""Best hosts found one argmax at a time; past this many, by partition in chunks of _CHUNK."""
_CHUNK = 64
_HINT_MARGIN = 64
"""Slots read past a quarter more than the last decision needed, so a small cloud's hint covers it all."""
_PLACEMENT_FILTERS = frozenset({"ResourcesFilter", "TraitsFilter"})
"""What Nova leaves to Placement's GET /allocation_candidates: these run first, and ``max_placement_results``
caps the hosts they let through before any other filter or weigher sees them."""
_CELL_MISSES = 8
"""Alternates from another cell skipped one by one before the other cells are dropped in one vector step."""


AggregateSource = Callable[[], Iterable[Aggregate]]
"""Where the scheduler reads the host aggregates from (e.g. an aggregate store's listing)."""
CellSource = Callable[[], Iterable[Cell]]
"""Where the scheduler reads which cells are disabled from (e.g. a cell store's listing)."""


@dataclass(frozen=True)
class HostSources:
    """What a compute plane hands its scheduler: where hosts, aggregates and cells are read from, and the
    runtime's clock, which paces the re-reads (every ``host_refresh_seconds``, or sooner when told)."""

    hosts: HostStore
    aggregates: AggregateSource | None = None
    cells: CellSource | None = None
    clock: Clock | None = None


class FilterScheduler:
    """Nova's FilterScheduler, implementing the compute Scheduler protocol (see the module docstring)."""

    def __init__(
        self,
        placement: Placement,
        settings: SchedulerSettings | None = None,
        *,
        state: HostState | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        hosts: HostStore | None = None,
        aggregates: AggregateSource | None = None,
        cells: CellSource | None = None,
        filters: Mapping[str, Callable[[], HostFilter]] = FILTERS,
        weighers: Mapping[str, Callable[[], HostWeigher]] = WEIGHERS,
    ) -> None:
        """``placement`` is where claims go. With a :class:`ColumnarPlacement` its state is the scheduler's;
        with another Placement pass (or let it make) a HostState, which then learns hosts from ``hosts`` and
        records the scheduler's own claims. ``hosts`` is re-read every ``settings.host_refresh_seconds`` of
        ``clock`` time for service flags and heartbeats (at every decision when there is no clock; then
        heartbeats are not judged, only the flags), and ``aggregates`` and ``cells`` with it."""
        self.placement = placement
        self.settings = settings or SchedulerSettings()
        columnar = placement if isinstance(placement, ColumnarPlacement) else None
        self.state = state or (columnar.state if columnar is not None else HostState())
        self._mirror_claims = columnar is None or columnar.state is not self.state
        self._columnar = None if self._mirror_claims else columnar
        self._locate: Callable[[str], str | None] = (
            columnar.host_of if columnar is not None else lambda c: next(iter(placement.allocations(c)), None))
        self.rng = rng or random.Random(0)
        self.clock = clock
        self.hosts = hosts
        self.aggregates = aggregates
        self.cells = cells
        self._synced_at = -math.inf
        self._scan_hint = 0
        """How much of Placement's mask the next decision reads first (see _first_set)."""
        self.pipeline: Pipeline[HostState, Decision] = Pipeline(
            self.settings.enabled_filters, self.settings.weighers, filters, weighers,
            leading=_PLACEMENT_FILTERS)
        self.filters: list[HostFilter] = [*self.pipeline.leading_filters, *self.pipeline.filters]
        self.weighers: list[tuple[HostWeigher, float]] = self.pipeline.weighers

    def invalidate(self) -> None:
        """Something an operator changes (a service, an aggregate) or a host registering changed the hosts:
        re-read them before the next decision rather than at the next ``host_refresh_seconds`` tick."""
        self._synced_at = -math.inf

    def refresh(self) -> None:
        """Re-read service flags and heartbeats from the host store, the aggregates and the cells, now."""
        if self.hosts is not None:
            # a host new to the columns is placement's to take in (its provider, what it holds), not only the
            # columns': a claim there needs both
            self.state.sync_hosts(self.hosts.all(), None if self._columnar is None else self._columnar.learn_hosts)
        if self.aggregates is not None:
            self.state.set_aggregates(self.aggregates())
        if self.cells is not None:
            self.state.set_closed_cells(closed_cells(self.cells()))
        self._synced_at = self.clock.now() if self.clock is not None else -math.inf

    def _maybe_refresh(self, now: float | None) -> None:
        every = self.settings.host_refresh_seconds
        if (self.hosts is None and self.aggregates is None and self.cells is None) or every is None:
            return
        if now is None or now - self._synced_at >= every:
            self.refresh()

    # the decision --------------------------------------------------------------------------------

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        now = self.clock.now() if self.clock is not None else None
        self._maybe_refresh(now)
        state = self.state
        resources = spec.resources
        decision = Decision(spec, self.settings, self.judging_time(now), resources, state.usage_rows(resources),
                            self._locate)
        hosts = self.filter(decision)
        if hosts.size == 0:
            raise NoValidHost()
        weights = self.pipeline.weigh(state, decision, hosts) if hosts.size > 1 else np.zeros(1)
        return self._claim(decision, hosts, weights)

    def judging_time(self, now: float | None) -> float | None:
        """The time hosts' heartbeats are judged against (ComputeFilter): the clock's."""
        return now

    def filter(self, decision: Decision) -> Ints:
        """The hosts passing every enabled filter, as indices in ascending order.

        Placement's part sees every host (as one boolean mask); once capped, the survivors are a short list of
        indices, and each later filter's mask is read at those only: at 10,000 hosts the rest of the decision
        costs what it would at ``max_placement_results``."""
        state, spec = self.state, decision.spec
        mask: Mask | None = ~state.mask_of(spec.ignore_hosts) if spec.ignore_hosts else None
        owned = mask is not None  # False: ``mask`` is a filter's or the state's (read it, never write into it)
        open_cells = state.open_cells_mask()  # not a filter: a disabled cell is closed to every build
        if open_cells is not None:
            mask, owned = (open_cells, False) if mask is None else (mask & open_cells, True)
        forced = decision.forced_host
        if forced is not None:
            only = state.mask_of([forced])
            chosen: Ints = (only if mask is None else only & mask).nonzero()[0]
            return chosen
        for host_filter in self.pipeline.leading_filters:
            decision.passing = mask
            passing = host_filter.mask(state, decision)
            if passing is None:
                continue
            if mask is None:
                mask = passing  # the common case, one mask (the room for the flavor): no copy of it
            elif owned:
                np.logical_and(mask, passing, out=mask)
            else:
                mask, owned = mask & passing, True
        return self.pipeline.narrow(state, decision, self._placement_limit(mask))

    def _placement_limit(self, mask: Mask | None) -> Ints:
        """At most ``max_placement_results`` of the hosts that Placement's part let through (as indices): the
        first ones in provider (registration) order, or a random sample of them, as Placement answers a
        ``limit``.

        Why keep Nova's cap rather than weigh every host: it is how Nova behaves (a planner asking "what would
        my cloud do" must see the first hosts fill first at Placement's defaults), and it is Nova's own answer
        to scale: at 10,000 hosts the weighers then rank a thousand candidates, not ten thousand."""
        limit = self.settings.max_placement_results
        if mask is not None and limit is not None and not self.settings.randomize_allocation_candidates:
            found = _first_set(mask, limit, self._scan_hint)
            self._scan_hint = _next_hint(found, limit, mask.size)
            return found
        fitting: Ints = np.arange(self.state.n) if mask is None else mask.nonzero()[0]  # flatnonzero, less wrapping
        if limit is None or fitting.size <= limit:
            return fitting
        if self.settings.randomize_allocation_candidates:
            chosen = np.asarray(sorted(self.rng.sample(range(fitting.size), limit)))
            sampled: Ints = fitting[chosen]
            return sampled
        return fitting[:limit]

    def _claim_on(self, decision: Decision, i: int) -> bool:
        spec = decision.spec
        consumer = spec.consumer or spec.instance_uuid
        if self._columnar is not None and decision.usage is not None:
            return self._columnar.claim_at(consumer, i, decision.usage, decision.resources, spec.project_id,
                                           spec.user_id)
        return self.placement.claim(consumer, spec.project_id, spec.user_id, self.state.names[i], decision.resources)

    def _claim(self, decision: Decision, hosts: Ints, weights: Floats) -> list[str]:
        spec, state, names = decision.spec, self.state, self.state.names
        ranking = _Ranking(weights)
        pool = ranking.take(self.settings.host_subset_size)
        queue = [pool.pop(self.rng.randrange(len(pool))), *pool] if len(pool) > 1 else pool
        while True:
            position = queue.pop(0) if queue else ranking.next()
            if position is None:
                raise NoValidHost("Every host that passed the filters lost its claim.")
            i = int(hosts[position])
            if self._claim_on(decision, i):
                break
        if self._mirror_claims and decision.usage is not None:
            state.add_usage(i, decision.usage)
        wanted = min(spec.alternates, self.settings.max_alternates)
        alternates: list[str] = []
        one_cell, cell, misses = len(state.cells) == 1, state.cell[i], 0
        while len(alternates) < wanted:
            position = queue.pop(0) if queue else ranking.next()
            if position is None:
                break
            other = int(hosts[position])
            if one_cell or state.cell[other] == cell:
                alternates.append(names[other])
            else:
                misses += 1
                if misses == _CELL_MISSES:  # the best are mostly elsewhere: drop other cells at once
                    ranking.drop(state.cell.take(hosts) != cell)
                    queue = [p for p in queue if state.cell[hosts[p]] == cell]
        return [names[i], *alternates]

    # what the conductor reports back (the SchedulerFeedback protocol), for the IoOps and BuildFailure weighers

    def task_started(self, host: str) -> None:
        self.state.task_started(host)

    def task_finished(self, host: str) -> None:
        self.state.task_finished(host)

    def build_finished(self, host: str, ok: bool) -> None:
        self.state.build_finished(host, ok)


def _first_set(mask: Mask, limit: int, hint: int) -> Ints:
    """The indices of the first ``limit`` True slots of ``mask`` (all of them if fewer), ascending.

    ``hint`` is where they probably end (the last decision's answer, with a margin): only ``mask[:hint]`` is
    read when it holds enough, else the whole mask. Why: in a steady cloud of 10,000 hosts about 65% full, the
    thousandth host with room sits at position 2,500 to 5,900 and moves little from one decision to the next,
    so the rest of the mask need not be scanned; reading it in fixed chunks instead cost more than one scan
    whenever the answer crossed a chunk (a second scan and a concatenation). The hint never changes the
    answer, only what is read to find it."""
    if hint < mask.size:
        part: Ints = mask[:hint].nonzero()[0]
        if part.size >= limit:
            return part[:limit]
    whole: Ints = mask.nonzero()[0]
    return whole[:limit]


def _next_hint(found: Ints, limit: int, size: int) -> int:
    """Where to stop reading Placement's mask next time: a quarter past where ``limit`` hosts were found (the
    whole mask when fewer were)."""
    if found.size < limit:
        return size
    return int(found[-1]) * 5 // 4 + _HINT_MARGIN


class _Ranking:
    """Positions of the weights, best first (ties: lowest position first), produced lazily: the first few by
    repeated argmax, then (rarely needed: many lost claims, alternates in another cell) in sorted chunks found
    by partition, never by sorting everything. Consumes ``weights``."""

    def __init__(self, weights: Floats) -> None:
        self._work = weights
        self._left = len(weights)
        self._pulled = 0
        self._chunk: list[int] = []

    def next(self) -> int | None:
        if self._chunk:
            return self._chunk.pop()
        if self._left == 0:
            return None
        if self._pulled >= _EAGER_PULLS:
            self._refill()
            return self._chunk.pop()
        work = self._work
        position = int(work.argmax())
        work[position] = -np.inf
        self._pulled += 1
        self._left -= 1
        return position

    def _refill(self) -> None:
        """The next ``_CHUNK`` best positions, kept in order (reversed, to pop from the end)."""
        work = self._work
        count = min(_CHUNK, self._left)
        threshold = np.partition(work, len(work) - count)[len(work) - count]
        above = np.flatnonzero(work > threshold)
        level = np.flatnonzero(work == threshold)[:count - len(above)]
        chosen = np.concatenate([above, level])
        order = chosen[np.lexsort((chosen, -work[chosen]))]
        work[chosen] = -np.inf
        self._left -= len(chosen)
        self._chunk = order[::-1].tolist()

    def drop(self, positions: Mask) -> None:
        """Never yield these positions."""
        if self._chunk:
            self._chunk = [p for p in self._chunk if not positions[p]]
        work = self._work
        np.copyto(work, -np.inf, where=positions)
        self._left = int(np.count_nonzero(work != -np.inf))

    def take(self, count: int) -> list[int]:
        taken: list[int] = []
        while len(taken) < count:
            position = self.next()
            if position is None:
                break
            taken.append(position)
        return taken


def scheduler_factory(settings: SchedulerSettings | None = None,
                      seed: int = 0) -> Callable[[Placement, HostSources], FilterScheduler]:
    """What a compute plane's ``scheduler_factory`` takes: a FilterScheduler over its placement and hosts."""
    def make(placement: Placement, sources: HostSources) -> FilterScheduler:
        return FilterScheduler(placement, settings, rng=random.Random(seed), clock=sources.clock,
                               hosts=sources.hosts, aggregates=sources.aggregates, cells=sources.cells)
    return make
