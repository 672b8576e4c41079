"""One simulation: a scenario's plane, users and failures run to the end, measured.

Deterministic for a seed: every random draw comes from an RNG seeded from the scenario's seed (the agent's,
the scheduler's, each workload's, the failures'), the runtime orders simultaneous events first come first
served, and nothing read from the wall clock reaches the results.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from twinstack.core.compute import states
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.core.compute.model import Instance
from twinstack.sim.offline.failures import FailureInjector
from twinstack.sim.offline.metrics import Metrics
from twinstack.sim.offline.plane import OfflinePlane, build_offline_plane
from twinstack.sim.offline.progress import Progress
from twinstack.sim.offline.scenario import LoadedScenario, ScenarioError, TraceReplay
from twinstack.sim.offline.trace import TraceError, check_trace
from twinstack.sim.offline.users import Users
from twinstack.sim.offline.workload import catalog_of, flavor_mix, generators


@dataclass
class RunResult:
    name: str
    summary: dict[str, Any]
    series: dict[str, list[float]]
    zones: list[dict[str, Any]]
    racks: list[dict[str, Any]]
    latency_histogram: list[dict[str, float]]
    failures: list[dict[str, Any]]
    wall_seconds: float = 0.0
    """Not part of the outputs (they must not depend on the machine)."""
    events: int = 0
    plane: OfflinePlane | None = field(default=None, repr=False)


def check(loaded: LoadedScenario) -> None:
    """What can be checked before running: every trace row (ScenarioError pointing at the bad one)."""
    catalog = catalog_of(loaded.scenario)
    for load in loaded.scenario.workload:
        if isinstance(load, TraceReplay):
            try:
                check_trace(loaded.base_dir / load.file, catalog)
            except TraceError as exc:
                raise ScenarioError(exc.path, exc.line, exc.message) from exc


class _ErrorCounter(logging.Handler):
    """Counts errors the runtime logged and swallowed (a failing callback must not pass unnoticed)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def simulate(loaded: LoadedScenario, progress: Progress | None = None, keep_plane: bool = False) -> RunResult:
    """Run the scenario to its end; ``keep_plane`` keeps the control plane in the result (for tests to inspect)."""
    scenario = loaded.scenario
    conductor = ConductorSettings(**scenario.conductor.model_dump())
    plane = build_offline_plane(loaded.datacenter, scenario.scheduler, conductor, scenario.seed)
    runtime = plane.runtime
    warnings: list[str] = []
    runtime.run(until=0)  # hosts registered before anything else happens
    metrics = Metrics(plane.placement.state, flavor_mix(scenario, loaded.base_dir), conductor.service_down_time)
    users = Users(runtime, plane.service, plane.instances, plane.server_groups)

    def observe(instance: Instance) -> None:
        metrics.observe(instance)
        if instance.vm_state == states.ERROR and instance.task_state is None:
            uuid = instance.uuid
            runtime.call_soon(lambda: users.delete(uuid))

    def lost(uuids: list[str]) -> None:
        metrics.lost(len(uuids))
        for uuid in uuids:
            users.delete(uuid)

    plane.instances.observer = observe
    if scenario.failures.evacuate:
        warnings.append("evacuate was asked for, but the conductor offers no evacuation yet: instances on a failed "
                        "host are lost (their users delete them once the host is reported down)")
    injector = FailureInjector(runtime, plane.agent, scenario.failures, scenario.seed,
                               conductor.service_down_time + conductor.check_interval, lost)
    injector.start()
    for stream in generators(scenario, loaded.base_dir):
        users.follow(stream)
    every, end = scenario.sample_every, scenario.duration
    times = [k * every for k in range(int(end // every) + 1)]
    if times[-1] < end:
        times.append(end)
    for at in times:
        runtime.call_later(at, _sampler(metrics, at))

    errors = _ErrorCounter()
    root = logging.getLogger("twinstack")
    root.addHandler(errors)
    started = time.perf_counter()
    try:
        with _quiet_collector():
            events = runtime.env.run_until(end, None if progress is None else
                                           lambda now, count: progress.update(float(now), count))
    finally:
        root.removeHandler(errors)
    wall = time.perf_counter() - started
    if progress is not None:
        progress.finish(events, metrics.counts.arrivals)
    if errors.messages:
        warnings.append(f"{len(errors.messages)} errors were logged during the run; first: {errors.messages[0]}")
    summary = _summary(loaded, plane, metrics, injector, warnings, events)
    failures = [vars(record) for record in injector.records]
    return RunResult(scenario.name, summary, metrics.series.columns, metrics.zone_rows,
                     metrics.rack_rows(scenario.sample_every), metrics.latency_histogram(), failures, wall, events,
                     plane if keep_plane else None)


@contextmanager
def _quiet_collector() -> Iterator[None]:
    """Run with the cyclic garbage collector asleep.

    Why: a run holds millions of live objects (instances, allocations, events), and every young collection
    walks the objects made since the last one that are still alive: in profiles that showed up as time
    charged to whichever function allocated (pydantic validation, scheduling an event), 5 to 10% of a run
    even with the thresholds raised to 200,000. What a run makes is freed by reference counting: a run of
    10,000 hosts over two days with the collector off left no garbage in cycles at its end (``gc.collect``
    found none), so nothing the collector would free piles up meanwhile. The objects alive before the run
    (the fleet, the plane) are frozen out of collections altogether.

    What the run leaves alive is frozen too when it ends: with the collector awake again, the next
    allocations would otherwise start a full collection walking every one of those objects only to find
    them alive (seconds at 10,000 hosts). The next run unfreezes and collects first, when what this run
    left is garbage, so a process running many scenarios (a sweep) does not keep them.
    """
    enabled = gc.isenabled()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _sampler(metrics: Metrics, at: float) -> Callable[[], None]:
    return lambda: metrics.sample(at)


def audit(plane: OfflinePlane) -> dict[str, int]:
    """Conservation checks at the end of a run: every allocation is a live instance's, usage equals the sum of
    the allocations, and no host holds more than its capacity (after allocation ratios)."""
    placement, state = plane.placement, plane.placement.state
    consumers = placement.consumers()
    orphans = sum(1 for consumer in consumers if plane.instances.get(consumer) is None)
    summed = {(host, rc): 0 for host in state.names for rc in state.resource_classes.names}
    for consumer, host in consumers.items():
        for rc, amount in placement.allocations(consumer).get(host, {}).items():
            summed[(host, rc)] += amount
    mismatched = over = 0
    for i, host in enumerate(state.names):
        for r, rc in enumerate(state.resource_classes.names):
            used = int(state.used[r, i])
            mismatched += used != summed[(host, rc)]
            over += used > int(state.capacity[r, i])
    return {"orphan_allocations": orphans, "usage_mismatches": mismatched, "over_capacity": over,
            "allocations": len(consumers)}


def _summary(loaded: LoadedScenario, plane: OfflinePlane, metrics: Metrics, injector: FailureInjector,
             warnings: list[str], events: int) -> dict[str, Any]:
    scenario, state, counts = loaded.scenario, plane.placement.state, metrics.counts
    arrivals = counts.arrivals
    kinds = Counter(record.kind for record in injector.records)
    capacity = {short: int(state.capacity[state.resource_classes.get(rc) or 0].sum())
                for short, rc in (("vcpu", "VCPU"), ("ram_mb", "MEMORY_MB"), ("disk_gb", "DISK_GB"))}
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "duration_days": scenario.duration / 86400.0,
        "warmup_days": scenario.warmup / 86400.0,
        "hosts": state.n,
        "racks": len(state.racks),
        "zones": sorted(set(state.zones.names[int(z)] for z in state.zone)),
        "capacity": capacity,
        "requests": {
            "arrivals": arrivals, "accepted": counts.accepted, "refused": counts.refused, "failed": counts.failed,
            "cancelled": counts.cancelled, "in_flight": metrics.in_flight, "deleted": counts.deleted,
            "lost": counts.lost, "active_at_end": metrics.active,
        },
        "refusal_rate": counts.refused / arrivals if arrivals else 0.0,
        "by_workload": {name: {"arrivals": c.arrivals, "accepted": c.accepted, "refused": c.refused,
                               "failed": c.failed, "refusal_rate": c.refused / c.arrivals if c.arrivals else 0.0}
                        for name, c in sorted(metrics.by_workload.items())},
        "failure_rate": counts.failed / arrivals if arrivals else 0.0,
        "utilisation": metrics.utilisation_summary(scenario.warmup),
        "boot_latency_seconds": metrics.latency_summary(),
        "failures": {"events": dict(sorted(kinds.items())), "instances_lost": counts.lost},
        "audit": audit(plane),
        "events": events,
        "messages": plane.bus.delivered,
        "warnings": warnings,
    }
