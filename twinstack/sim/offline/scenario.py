"""The scenario language: what a capacity planner writes, validated with errors that point at the line.

A scenario names a datacenter (the live mode's file format, a file path or inline, or a uniform fleet), a
flavor catalog, a workload (Poisson generators with diurnal and weekly patterns, bursts, trace replays), the
failures to inject, and the scheduler and conductor configuration exactly as the cloud takes them
(:class:`~twinstack.core.scheduler.settings.SchedulerSettings`, Nova's option names). ``variants`` are
what-ifs: each is merged over the base scenario and run beside it.

See ``scenarios/README.md`` for a tour and every shipped scenario.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.sim.datacenter import Behaviour, Cell, Datacenter, HostGroup, HostProfile, Rack, Zone
from twinstack.sim.distributions import Distribution
from twinstack.sim.offline.durations import Duration as Duration
from twinstack.sim.offline.durations import DurationDistribution, Forever, parse_duration
from twinstack.sim.offline.marked_yaml import MarkedYAMLError, Marks, load_marked


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlavorDef(_Strict):
    vcpus: int = Field(gt=0)
    ram_mb: int = Field(gt=0)
    disk_gb: int = Field(0, ge=0)


DEFAULT_FLAVORS: dict[str, FlavorDef] = {
    "m1.tiny": FlavorDef(vcpus=1, ram_mb=512, disk_gb=1),
    "m1.small": FlavorDef(vcpus=1, ram_mb=2048, disk_gb=20),
    "m1.medium": FlavorDef(vcpus=2, ram_mb=4096, disk_gb=40),
    "m1.large": FlavorDef(vcpus=4, ram_mb=8192, disk_gb=80),
    "m1.xlarge": FlavorDef(vcpus=8, ram_mb=16384, disk_gb=160),
}
"""Nova's classic flavors, the catalog of a scenario that names none."""

RATE_UNITS = {"s": 3600.0, "m": 60.0, "h": 1.0, "d": 1 / 24, "w": 1 / 168}


def parse_rate(value: object) -> float:
    """Arrivals per hour from a number (per hour) or a string such as ``"2/s"``, ``"120/h"``, ``"5000/d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str) and "/" in value:
        amount, unit = value.split("/", 1)
        if unit.strip() not in RATE_UNITS:
            raise ValueError(f"{value!r}: the unit after '/' is one of s, m, h, d, w")
        rate = float(amount) * RATE_UNITS[unit.strip()]
    else:
        raise ValueError(f"{value!r} is not a rate: write arrivals per hour, or e.g. '2/s', '5000/d'")
    if rate <= 0:
        raise ValueError("a rate must be positive")
    return rate


class Pattern(_Strict):
    """How the arrival rate swings: ``rate * (1 + diurnal * cos(2pi (hour - peak_hour) / 24))``, times
    ``(1 - weekly)`` on Saturdays and Sundays (the simulation starts on a Monday at midnight)."""

    diurnal: float = Field(0.0, ge=0, le=1, description="Amplitude of the daily swing (0: flat).")
    peak_hour: float = Field(14.0, ge=0, lt=24)
    weekly: float = Field(0.0, ge=0, le=1, description="How much quieter the weekend is (0.3: 30% fewer).")


class GroupSpec(_Strict):
    """Requests that come as server groups: ``size`` servers created together in a group of ``policy``."""

    policy: Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
    size: int = Field(2, ge=1)
    probability: float = Field(1.0, ge=0, le=1, description="Share of this generator's requests that are groups.")
    max_server_per_host: int | None = Field(None, ge=1, description="anti-affinity's rule (microversion 2.64).")


class _Demand(_Strict):
    """What every generator's requests look like."""

    flavors: dict[str, float] = Field(default_factory=lambda: {"m1.small": 1.0},
                                      description="Flavor names (from the catalog) and their weights.")
    lifetime: DurationDistribution = Field(default_factory=Forever)
    availability_zones: dict[str, float] = Field(
        default_factory=dict, description="Zones asked for, with weights; empty: no zone requested.")
    group: GroupSpec | None = None
    project: str = "demo"
    label: str | None = Field(None, description="Name in the per-workload breakdown (default: index and kind).")
    start: Duration = 0.0
    end: Duration | None = None

    @field_validator("flavors", "availability_zones")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()) or (value and sum(value.values()) <= 0):
            raise ValueError("weights cannot be negative or all zero")
        return value


class PoissonArrivals(_Demand):
    kind: Literal["poisson"] = "poisson"
    rate: Annotated[float, Field(description="Arrivals per hour, or e.g. '2/s', '5000/d'.")]
    pattern: Pattern = Field(default_factory=Pattern)

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> float:
        return parse_rate(value)


class Burst(_Demand):
    """``count`` requests spread evenly over ``over`` from ``at`` (all at once if ``over`` is 0)."""

    kind: Literal["burst"] = "burst"
    at: Duration
    count: int = Field(gt=0)
    over: Duration = 0.0


class TraceReplay(_Strict):
    """Requests read from a CSV file (relative to the scenario): ``submit_time`` (seconds from the start, or
    with a unit), then ``flavor`` (a catalog name) or ``vcpus``, ``ram_mb``, ``disk_gb``; optional ``lifetime``
    (empty: forever) and ``availability_zone``. Rows must come in submit order."""

    kind: Literal["trace"] = "trace"
    file: str
    project: str = "trace"
    label: str | None = None
    time_scale: float = Field(1.0, gt=0, description="Multiply every submit time and lifetime by this.")


Workload = Annotated[PoissonArrivals | Burst | TraceReplay, Field(discriminator="kind")]


class RackOutage(_Strict):
    """Every host of ``rack`` loses power at ``at``; power comes back after ``duration`` (never if omitted)."""

    rack: str
    at: Duration
    duration: Duration | None = None


class HostFailures(_Strict):
    """Each host independently fails after a time drawn from ``mtbf`` and is repaired after one from ``mttr``."""

    mtbf: DurationDistribution
    mttr: DurationDistribution


class Failures(_Strict):
    hosts: HostFailures | None = None
    rack_power_loss: list[RackOutage] = Field(default_factory=list)
    spawn_failure_probability: float | None = Field(None, ge=0, le=1,
                                                    description="Overrides the datacenter's behaviour.")
    evacuate: bool = Field(False, description="Rebuild a failed host's instances elsewhere (when the conductor "
                                              "offers evacuate); off: they are lost and their users delete them.")


class UniformFleet(_Strict):
    """``hosts`` identical hosts in racks of ``racks_of``, the racks dealt round-robin over ``zones`` zones."""

    hosts: int = Field(gt=0)
    racks_of: int = Field(40, gt=0)
    zones: int = Field(1, gt=0)
    profile: HostProfile = Field(default_factory=HostProfile)


class BehaviourOverride(_Strict):
    """Changes to the datacenter's host behaviour (any field of its ``behaviour`` section)."""

    boot_seconds: Distribution | None = None
    delete_seconds: Distribution | None = None
    power_seconds: Distribution | None = None
    spawn_failure_probability: float | None = Field(None, ge=0, le=1)
    heartbeat_seconds: float | None = Field(None, gt=0)


class ConductorConfig(_Strict):
    """The conductor's options (:class:`~twinstack.core.compute.conductor.ConductorSettings`)."""

    max_attempts: int = Field(3, ge=1)
    build_timeout: Duration = 600.0
    service_down_time: Duration = Field(
        900.0, description="Offline default 15 min with 5 min heartbeats (a cloud's 60 s / 10 s would spend the "
        "run reading heartbeats of idle hosts); lower both to study failure detection.")
    check_interval: Duration = 60.0
    alternates: int = Field(2, ge=0)


class Scenario(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    duration: Duration
    warmup: Duration = Field(0.0, description="Left out of the summary's averages (the fleet filling up).")
    sample_every: Duration = Field(3600.0, gt=0, description="Time between metric samples.")
    datacenter: str | UniformFleet | Datacenter
    behaviour: BehaviourOverride = Field(default_factory=BehaviourOverride)
    heartbeat_seconds: Duration = Field(300.0, gt=0, description="How often the simulated hosts heartbeat.")
    flavors: dict[str, FlavorDef] = Field(default_factory=lambda: dict(DEFAULT_FLAVORS))
    workload: list[Workload] = Field(min_length=1)
    failures: Failures = Field(default_factory=Failures)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    conductor: ConductorConfig = Field(default_factory=ConductorConfig)
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="What-ifs: name -> changes merged over this scenario.")

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What a field-by-field validation cannot see: (where, what) for each problem."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for index, load in enumerate(self.workload):
            if isinstance(load, TraceReplay):
                continue
            for name in load.flavors:
                if name not in self.flavors:
                    found.append((("workload", index, "flavors", name),
                                  f"flavor {name!r} is not in the catalog ({', '.join(self.flavors)})"))
        if self.warmup >= self.duration:
            found.append((("warmup",), "warmup must be shorter than duration"))
        if self.duration <= 0:
            found.append((("duration",), "duration must be positive"))
        return found


class ScenarioError(ValueError):
    """A scenario that cannot run, with the file and the line the problem is on."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario, its datacenter resolved, and where it came from (for relative file names)."""

    scenario: Scenario
    datacenter: Datacenter
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.scenario.name


def merge(base: Any, changes: Any) -> Any:
    """``changes`` deep-merged over ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(changes, dict):
        merged = dict(base)
        for key, value in changes.items():
            merged[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(changes)


def set_path(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``dotted`` (``a.b.0.c``; list indices as numbers) set to ``value``."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    changes: Any = value
    for part in reversed(parts):
        if isinstance(part, int):
            raise ValueError(f"{dotted}: list items cannot be set by index here; name a mapping key")
        changes = {part: changes}
    result: dict[str, Any] = merge(data, changes)
    return result


def read_scenario(path: Path) -> tuple[dict[str, Any], Marks]:
    """The scenario file as data, with its line marks; ScenarioError if it is not a YAML mapping."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(path, None, f"cannot read: {exc.strerror}") from exc
    try:
        data, marks = load_marked(text)
    except MarkedYAMLError as exc:
        raise ScenarioError(path, exc.line, str(exc)) from exc
    if not isinstance(data, dict):
        raise ScenarioError(path, 1, "a scenario is a YAML mapping (name:, duration:, datacenter:, workload:...)")
    return data, marks


def validate(data: dict[str, Any], path: Path, marks: Marks, prefix: tuple[str | int, ...] = ()) -> LoadedScenario:
    """Validate scenario data read from ``path``; errors name the line (looked up under ``prefix`` first, for a
    variant's own changes, then in the base document)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = marks.line_of((*prefix, *loc)) if prefix and (*prefix, *loc[:1]) in marks.lines else None
        line = line or marks.line_of(loc)
        where = (marks.describe(loc) if loc else "") or "scenario"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(path, line, f"{where}: {first['msg']}{more}") from exc
    for loc, message in scenario.problems():
        raise ScenarioError(path, marks.line_of((*prefix, *loc)) if prefix else marks.line_of(loc),
                            f"{marks.describe(loc)}: {message}")
    datacenter = resolve_datacenter(scenario, path, marks)
    return LoadedScenario(scenario, datacenter, path)


def resolve_datacenter(scenario: Scenario, path: Path, marks: Marks) -> Datacenter:
    """The scenario's datacenter with its behaviour overrides applied."""
    spec = scenario.datacenter
    line = marks.line_of(("datacenter",))
    if isinstance(spec, str):
        datacenter = load_datacenter_file(path.parent / spec)
    elif isinstance(spec, UniformFleet):
        datacenter = uniform_fleet(spec)
    else:
        datacenter = spec
    try:
        datacenter.host_reports()
    except ValueError as exc:
        raise ScenarioError(path, line, str(exc)) from exc
    changes = {k: v for k, v in scenario.behaviour.model_dump(exclude_none=True).items()}
    changes["heartbeat_seconds"] = scenario.heartbeat_seconds
    if scenario.failures.spawn_failure_probability is not None:
        changes["spawn_failure_probability"] = scenario.failures.spawn_failure_probability
    behaviour = Behaviour.model_validate({**datacenter.behaviour.model_dump(), **changes})
    return datacenter.model_copy(update={"behaviour": behaviour})


def load_datacenter_file(path: Path) -> Datacenter:
    """A live-mode datacenter file, with line-numbered errors like a scenario's."""
    try:
        data, marks = load_marked(path.read_text())
    except OSError as exc:
        raise ScenarioError(path, None, f"cannot read datacenter file: {exc.strerror}") from exc
    except MarkedYAMLError as exc:
        raise ScenarioError(path, exc.line, str(exc)) from exc
    try:
        return Datacenter.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        raise ScenarioError(path, marks.line_of(loc), f"{marks.describe(loc)}: {first['msg']}") from exc


def uniform_fleet(fleet: UniformFleet) -> Datacenter:
    """A uniform fleet as a datacenter: racks ``r000``, ``r001``... dealt over zones ``az1``..``azN``."""
    from twinstack.sim.datacenter import HostGroup, Rack

    racks: list[list[Rack]] = [[] for _ in range(fleet.zones)]
    for number, start in enumerate(range(0, fleet.hosts, fleet.racks_of)):
        count = min(fleet.racks_of, fleet.hosts - start)
        racks[number % fleet.zones].append(Rack(name=f"r{number:03d}", hosts=HostGroup(count=count)))
    names = ["nova"] if fleet.zones == 1 else [f"az{z + 1}" for z in range(fleet.zones)]
    zones = [Zone(name=name, racks=zone_racks) for name, zone_racks in zip(names, racks, strict=True) if zone_racks]
    return Datacenter(cells=[Cell(zones=zones)], profiles={"standard": fleet.profile})


def load_scenario(path: Path, overrides: dict[str, Any] | None = None) -> LoadedScenario:
    """Read and validate the base scenario of ``path`` (``overrides``: dotted paths set before validating)."""
    data, marks = read_scenario(path)
    for dotted, value in (overrides or {}).items():
        data = set_path(data, dotted, value)
    return validate(data, path, marks)


def load_variants(path: Path, overrides: dict[str, Any] | None = None) -> list[LoadedScenario]:
    """The base scenario, then one per variant (named ``<name>/<variant>``), each validated."""
    data, marks = read_scenario(path)
    for dotted, value in (overrides or {}).items():
        data = set_path(data, dotted, value)
    base = validate(data, path, marks)
    loaded = [base]
    for variant, changes in base.scenario.variants.items():
        if not isinstance(changes, dict):
            raise ScenarioError(path, marks.line_of(("variants", variant)), f"variants.{variant}: a mapping of changes")
        merged = merge({k: v for k, v in data.items() if k != "variants"}, changes)
        merged["name"] = f"{base.name}/{variant}"
        loaded.append(validate(merged, path, marks, prefix=("variants", variant)))
    return loaded


def scale_hosts(datacenter: Datacenter, hosts: int) -> Datacenter:
    """The datacenter with ``hosts`` hosts in all, every rack scaled in proportion (largest remainders first),
    for sweeps over the fleet size. Racks keep their names, zones and profiles; a rack may end up empty and is
    then dropped."""
    racks = [rack for cell in datacenter.cells for zone in cell.zones for rack in zone.racks]
    total = sum(rack.hosts.count for rack in racks)
    shares = [rack.hosts.count * hosts / total for rack in racks]
    counts = [int(share) for share in shares]
    order = sorted(range(len(racks)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[:hosts - sum(counts)]:
        counts[i] += 1
    new_counts = {rack.name: count for rack, count in zip(racks, counts, strict=True)}
    cells = []
    for cell in datacenter.cells:
        zones = []
        for zone in cell.zones:
            kept = [rack.model_copy(update={"hosts": HostGroup(profile=rack.hosts.profile,
                                                               count=new_counts[rack.name])})
                    for rack in zone.racks if new_counts[rack.name] > 0]
            if kept:
                zones.append(zone.model_copy(update={"racks": kept}))
        if zones:
            cells.append(cell.model_copy(update={"zones": zones}))
    return datacenter.model_copy(update={"cells": cells})


__all__ = ["Duration", "LoadedScenario", "Scenario", "ScenarioError", "load_scenario", "load_variants",
           "parse_duration", "scale_hosts"]
