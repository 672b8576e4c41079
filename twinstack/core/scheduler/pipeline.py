"""The filter-and-weigh machinery every Twinstack scheduler shares: compute's (hosts) and block storage's (pools).

Both schedulers hold their candidates column-wise (one NumPy array per fact: :class:`HostState` for compute,
:class:`~twinstack.core.volume.scheduler.pools.PoolState` for volumes), so one piece serves both:

* the plug-in protocols, generic in the state and the request: :class:`ColumnFilter` (a boolean mask over every
  candidate, or None for "no opinion") and :class:`ColumnWeigher` (raw numbers for the surviving candidates);
* :class:`Pipeline`: filters and weighers chosen *by name* from an explicit registry, as an operator's
  configuration lists them (Nova's ``enabled_filters``, Cinder's ``scheduler_default_filters``), an unknown
  name refused at start with one error naming every culprit, and column-wise filters always before per-host
  plug-ins;
* the loop itself: :meth:`Pipeline.narrow` (each filter's mask read at the survivors only) and
  :meth:`Pipeline.weigh` (normalise, multiply, sum: :func:`~twinstack.core.scheduler.weighing.normalised_sum`).

What stays each service's own is what genuinely differs, not the loop: compute first runs Placement's part
(resources and traits) as one mask over *every* host and caps it at ``max_placement_results`` (Nova's GET
/allocation_candidates), then hands the capped survivors to :meth:`Pipeline.narrow`; it then claims through
Placement with alternates. The volume scheduler narrows every pool and takes the best; its claim is the volume
manager's compare-and-swap.

Why the compute hot path does not slow down: the loop is the very one compute ran before (the same NumPy
``take`` per filter, no per-candidate Python), and the pipeline is built once per scheduler, not per decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt

from twinstack.core.scheduler.weighing import normalised_sum

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

S = TypeVar("S", contravariant=True)
R = TypeVar("R", contravariant=True)
State = TypeVar("State")
Request = TypeVar("Request", bound="Narrowing")
Asked = TypeVar("Asked")


class ColumnFilter(Protocol[S, R]):
    """One rule, one small class, answering for every candidate at once."""

    per_host: bool
    """True for a filter that calls Python once per candidate: the pipeline runs those last, on the survivors."""

    def mask(self, state: S, request: R) -> Mask | None:
        """Candidates that pass (shape ``(state.n,)``), or None when every candidate does. The pipeline never
        writes into a returned mask, so a filter may hand back a memoised one."""
        ...


class NarrowingFilter(Protocol[S, R]):
    """A column filter that can also judge only some candidates, which :meth:`Pipeline.narrow` then prefers.

    Why: a filter whose answer changes with every request (ComputeFilter compares every heartbeat with the
    time) would otherwise judge all 10,000 hosts to have 1,000 of them read; judging the 1,000 alone gives the
    same survivors for a tenth of the work."""

    def mask_at(self, state: S, request: R, candidates: Ints) -> Mask | None:
        """Which of ``candidates`` pass (shape ``candidates.shape``, aligned with them), or None when all do;
        always the very answer :meth:`ColumnFilter.mask` gives read at ``candidates``."""
        ...


class ColumnWeigher(Protocol[S, R]):
    def weigh(self, state: S, request: R, candidates: Ints) -> npt.NDArray[Any] | None:
        """Raw weights of ``candidates`` (indices, ascending; higher = more wanted before the multiplier), or
        None for no opinion. Weighers never see their multiplier."""
        ...


class Narrowing(Protocol):
    """What the pipeline needs of a request's working set: where to leave the candidates still passing, for the
    per-host filters (which look only at those)."""

    candidates: Ints | None


class UnknownPlugins(ValueError):
    """A configuration names filters or weighers no registry holds: refused when the scheduler is built, i.e.
    when the cloud starts, never at the first request."""

    def __init__(self, what: str, names: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"unknown {what}: {', '.join(names)} (known: {', '.join(sorted(known))})")
        self.names = list(names)


def unknown_names(wanted: Sequence[str], registry: Mapping[str, object]) -> list[str]:
    return [name for name in wanted if name not in registry]


class Pipeline(Generic[State, Request]):
    """The configured filters (in the configured order, per-host ones moved last) and weighers (with their
    multipliers; 0 drops one) of one scheduler. ``leading`` names filters that the owner runs itself before
    :meth:`narrow` (compute's Placement part): they are kept apart in :attr:`leading_filters`."""

    def __init__(
        self,
        filter_names: Sequence[str],
        multipliers: Mapping[str, float],
        filters: Mapping[str, Callable[[], ColumnFilter[State, Request]]],
        weighers: Mapping[str, Callable[[], ColumnWeigher[State, Request]]],
        *,
        what: str = "scheduler filters or weighers",
        leading: frozenset[str] = frozenset(),
    ) -> None:
        unknown = unknown_names(filter_names, filters) + unknown_names(list(multipliers), weighers)
        if unknown:
            raise UnknownPlugins(what, unknown, [*filters, *weighers])
        made = [(name in leading, filters[name]()) for name in filter_names]
        self.leading_filters: list[ColumnFilter[State, Request]] = [f for lead, f in made if lead]
        self.filters: list[ColumnFilter[State, Request]] = (
            [f for lead, f in made if not lead and not f.per_host] + [f for lead, f in made if not lead and f.per_host])
        self._narrowing: list[tuple[ColumnFilter[State, Request], NarrowingFilter[State, Request] | None]] = [
            (f, cast("NarrowingFilter[State, Request]", f) if callable(getattr(f, "mask_at", None)) else None)
            for f in self.filters]
        self.weighers: list[tuple[ColumnWeigher[State, Request], float]] = [
            (weighers[name](), multiplier) for name, multiplier in multipliers.items() if multiplier]

    def narrow(self, state: State, request: Request, candidates: Ints) -> Ints:
        """The ``candidates`` (indices, ascending) passing every filter of the pipeline, in ascending order.
        Each mask is read at the survivors only, so a filter late in the list costs what the survivors do (and
        a :class:`NarrowingFilter` judges nothing else)."""
        for column_filter, narrowing in self._narrowing:
            request.candidates = candidates
            if narrowing is not None:
                judged = narrowing.mask_at(state, request, candidates)
                if judged is not None:
                    candidates = candidates[judged]
                continue
            passing = column_filter.mask(state, request)
            if passing is not None:
                candidates = candidates[passing.take(candidates)]
        request.candidates = candidates
        return candidates

    def weigh(self, state: State, request: Request, candidates: Ints) -> Floats:
        """Each candidate's weight: the sum over weighers of multiplier * (raw - min) / (max - min)."""
        return weigh(self.weighers, state, request, candidates)


def weigh(weighers: Sequence[tuple[ColumnWeigher[State, Asked], float]], state: State, request: Asked,
          candidates: Ints) -> Floats:
    """Each candidate's weight: the sum over weighers of multiplier * (raw - min) / (max - min)."""
    return normalised_sum([(w.weigh(state, request, candidates), multiplier) for w, multiplier in weighers],
                          len(candidates))


def best(weights: Floats) -> int:
    """The position of the highest weight; ties go to the lowest position (the candidate registered first), as
    compute's ranking breaks them."""
    return int(np.argmax(weights))
