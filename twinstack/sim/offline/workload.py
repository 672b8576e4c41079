"""Workload generators: streams of requests in time order, drawn from a scenario's seeded RNGs.

Each generator is an iterator of ``(time, Request)`` pulled one arrival at a time, so a million-request
month never sits in memory (nor in the event queue) at once. Poisson arrivals with a daily and weekly
pattern are drawn by thinning: candidates at the peak rate, each kept with probability rate(t) / peak.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from twinstack.rpc.compute import FlavorSpec
from twinstack.sim.offline.durations import DurationDistribution
from twinstack.sim.offline.scenario import (
    Burst,
    FlavorDef,
    GroupSpec,
    Pattern,
    PoissonArrivals,
    Scenario,
    TraceReplay,
    _Demand,
)
from twinstack.sim.offline.trace import read_trace


@dataclass(slots=True)
class Request:
    """One user's request: ``count`` servers of ``flavor`` (more than one only for a group). Read-only once made
    (not ``frozen``, whose per-field ``object.__setattr__`` costs a microsecond per request)."""

    flavor: FlavorSpec
    lifetime: float
    """Seconds from submission to the user's delete; inf: never deleted."""
    zone: str | None = None
    group: GroupSpec | None = None
    project: str = "demo"
    source: str = ""
    """The workload entry it came from (its label), for the per-workload breakdown."""

    @property
    def count(self) -> int:
        return self.group.size if self.group is not None else 1


Arrivals = Iterator[tuple[float, Request]]


def flavor_spec(name: str, flavor: FlavorDef) -> FlavorSpec:
    return FlavorSpec(id=name, name=name, vcpus=flavor.vcpus, ram_mb=flavor.ram_mb, disk_gb=flavor.disk_gb)


class _Weighted:
    """Draws keys in proportion to their weights (in the order given, so a seed always means the same draw)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.keys = [key for key, weight in weights.items() if weight > 0]
        self.cumulative = list(itertools.accumulate(weights[key] for key in self.keys))

    def draw(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


class _Demander:
    """What a generator's requests are made of: flavor mix, lifetime, zone and group draws."""

    def __init__(self, demand: _Demand, catalog: Mapping[str, FlavorSpec], rng: random.Random) -> None:
        self.rng = rng
        self.flavors = _Weighted(demand.flavors)
        self.catalog = catalog
        self.lifetime: DurationDistribution = demand.lifetime
        self.zones = _Weighted(demand.availability_zones) if demand.availability_zones else None
        self.group = demand.group
        self.project = demand.project
        self.source = ""

    def request(self) -> Request:
        rng = self.rng
        flavor = self.catalog[self.flavors.draw(rng)]
        lifetime = self.lifetime.sample(rng)
        zone = self.zones.draw(rng) if self.zones is not None else None
        group = self.group if self.group is not None and rng.random() < self.group.probability else None
        return Request(flavor, lifetime, zone, group, self.project, self.source)


def rate_factor(pattern: Pattern, t: float) -> float:
    """The pattern's multiplier of the base rate at ``t`` seconds after Monday 00:00."""
    hour = (t / 3600.0) % 24.0
    factor = 1.0 + pattern.diurnal * math.cos(2 * math.pi * (hour - pattern.peak_hour) / 24.0)
    if pattern.weekly and (t // 86400.0) % 7 >= 5:
        factor *= 1.0 - pattern.weekly
    return factor


def poisson(spec: PoissonArrivals, catalog: Mapping[str, FlavorSpec], rng: random.Random, until: float,
            source: str = "") -> Arrivals:
    demand = _Demander(spec, catalog, rng)
    demand.source = source
    peak = spec.rate / 3600.0 * (1.0 + spec.pattern.diurnal)
    flat = spec.pattern.diurnal == 0 and spec.pattern.weekly == 0
    end = until if spec.end is None else min(until, spec.end)
    t = spec.start
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return
        if flat or rng.random() * (1.0 + spec.pattern.diurnal) < rate_factor(spec.pattern, t):
            yield t, demand.request()


def burst(spec: Burst, catalog: Mapping[str, FlavorSpec], rng: random.Random, until: float,
          source: str = "") -> Arrivals:
    demand = _Demander(spec, catalog, rng)
    demand.source = source
    step = spec.over / spec.count
    for n in range(spec.count):
        t = spec.at + n * step
        if t >= until:
            return
        yield t, demand.request()


def replay(spec: TraceReplay, catalog: Mapping[str, FlavorSpec], base_dir: Path, until: float,
           source: str = "") -> Arrivals:
    for row in read_trace(base_dir / spec.file, catalog):
        t = row.submit_time * spec.time_scale
        if t >= until:
            return
        yield t, Request(row.flavor, row.lifetime * spec.time_scale, row.availability_zone, None, spec.project,
                      source)


def label_of(index: int, load: PoissonArrivals | Burst | TraceReplay) -> str:
    return load.label or f"{index}:{load.kind}"


def catalog_of(scenario: Scenario) -> dict[str, FlavorSpec]:
    return {name: flavor_spec(name, flavor) for name, flavor in scenario.flavors.items()}


def generators(scenario: Scenario, base_dir: Path) -> list[Arrivals]:
    """One arrival stream per workload entry, each with its own RNG stream derived from the scenario's seed."""
    catalog = catalog_of(scenario)
    streams: list[Arrivals] = []
    for index, load in enumerate(scenario.workload):
        rng = random.Random(f"{scenario.seed}:workload:{index}")
        source = label_of(index, load)
        if isinstance(load, PoissonArrivals):
            streams.append(poisson(load, catalog, rng, scenario.duration, source))
        elif isinstance(load, Burst):
            streams.append(burst(load, catalog, rng, scenario.duration, source))
        else:
            streams.append(replay(load, catalog, base_dir, scenario.duration, source))
    return streams


def flavor_mix(scenario: Scenario, base_dir: Path) -> list[FlavorSpec]:
    """Every distinct flavor the workload can ask for: what "stranded" capacity is measured against."""
    catalog = catalog_of(scenario)
    mix: dict[tuple[int, int, int], FlavorSpec] = {}
    for load in scenario.workload:
        if isinstance(load, TraceReplay):
            flavors = [row.flavor for row in read_trace(base_dir / load.file, catalog)]
        else:
            flavors = [catalog[name] for name, weight in load.flavors.items() if weight > 0]
        for flavor in flavors:
            mix.setdefault((flavor.vcpus, flavor.ram_mb, flavor.disk_gb), flavor)
    return list(mix.values())
