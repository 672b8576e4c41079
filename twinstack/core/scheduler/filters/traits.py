"""TraitsFilter: required and forbidden traits, as Nova asks Placement for them."""

from __future__ import annotations

import numpy as np

from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask

PREFIX = "trait:"
_NONE: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def wanted_traits(spec: RequestSpec) -> tuple[frozenset[str], frozenset[str]]:
    """(required, forbidden): flavor extra specs ``trait:NAME=required|forbidden`` and image properties
    ``trait:NAME=required``."""
    if not spec.flavor.extra_specs and (spec.image is None or not spec.image.properties):
        return _NONE
    required: set[str] = set()
    forbidden: set[str] = set()
    sources = [spec.flavor.extra_specs]
    if spec.image is not None:
        sources.append({k: v for k, v in spec.image.properties.items() if v == "required"})
    for source in sources:
        for key, value in source.items():
            if key.startswith(PREFIX):
                if value == "required":
                    required.add(key[len(PREFIX):])
                elif value == "forbidden":
                    forbidden.add(key[len(PREFIX):])
    return frozenset(required), frozenset(forbidden)


class TraitsFilter:
    """Hosts carrying every required trait and no forbidden one. A trait no host has: nobody passes if it
    is required, everybody (as far as this trait goes) if it is forbidden."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        required, forbidden = wanted_traits(decision.spec)
        if not required and not forbidden:
            return None
        return state.memo(("traits", required, forbidden), lambda: _carrying(state, required, forbidden))


def _carrying(state: HostState, required: frozenset[str], forbidden: frozenset[str]) -> Mask:
    mask = np.ones(state.n, dtype=np.bool_)
    for trait in required:
        row = state.traits.get(trait)
        if row is None:
            return np.zeros(state.n, dtype=np.bool_)
        mask &= state.trait_rows[row]
    for trait in forbidden:
        row = state.traits.get(trait)
        if row is not None:
            mask &= ~state.trait_rows[row]
    return mask
