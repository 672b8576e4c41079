"""What-ifs: several scenarios (or one scenario's variants) side by side, and sweeps that find the smallest
value of a parameter meeting a target, by bisection over a grid.

A sweep assumes the target, once met, stays met as the parameter grows (more hosts never refuse more); it
evaluates both ends, then halves the grid until the boundary is found, so 11 fleet sizes cost 4 to 5 runs.
Every evaluated point is kept as the curve; ``full`` evaluates every grid point instead.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinstack.sim.offline.scenario import LoadedScenario, load_scenario, scale_hosts

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class SweepSpec:
    parameter: str
    values: list[float]


@dataclass(frozen=True)
class Target:
    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def value(self, summary: dict[str, Any]) -> float:
        found: Any = summary
        for part in self.metric.split("."):
            if not isinstance(found, dict) or part not in found:
                raise KeyError(f"the summary has no {self.metric!r}")
            found = found[part]
        return float(found)

    def met(self, summary: dict[str, Any]) -> bool:
        return OPERATORS[self.op](self.value(summary), self.threshold)


def parse_sweep(text: str) -> SweepSpec:
    """``name=low..high:step`` (``hosts=1500..2500:100``; ``name`` is ``hosts`` or a dotted scenario path)."""
    match = re.fullmatch(r"\s*([\w.]+)\s*=\s*([0-9.eE+-]+)\s*\.\.\s*([0-9.eE+-]+)\s*(?::\s*([0-9.eE+-]+))?\s*", text)
    if not match:
        raise ValueError(f"{text!r}: write a sweep as name=low..high:step, e.g. hosts=1500..2500:100")
    name, low, high, step = match.group(1), float(match.group(2)), float(match.group(3)), float(match.group(4) or 1)
    if step <= 0 or high < low:
        raise ValueError(f"{text!r}: the step must be positive and high at least low")
    count = round((high - low) / step) + 1
    return SweepSpec(name, [round(low + i * step, 10) for i in range(count)])


def parse_target(text: str) -> Target:
    """``metric<value`` (or <=, >, >=); the metric is a dotted path in summary.json (``refusal_rate``,
    ``utilisation.ram.mean_util``, ``boot_latency_seconds.p99``...)."""
    match = re.fullmatch(r"\s*([\w.]+)\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*", text)
    if not match:
        raise ValueError(f"{text!r}: write a target as metric<value, e.g. refusal_rate<0.01")
    return Target(match.group(1), match.group(2), float(match.group(3)))


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def at_value(path: Path, parameter: str, value: float) -> LoadedScenario:
    """The scenario of ``path`` with the parameter set: ``hosts`` scales the fleet, anything else is a dotted path
    set in the scenario before validation."""
    if parameter == "hosts":
        loaded = load_scenario(path)
        scenario = loaded.scenario.model_copy(update={"name": f"{loaded.name} hosts={_number(value)}"})
        return LoadedScenario(scenario, scale_hosts(loaded.datacenter, int(value)), loaded.path)
    loaded = load_scenario(path, {parameter: _number(value)})
    scenario = loaded.scenario.model_copy(update={"name": f"{loaded.name} {parameter}={_number(value)}"})
    return LoadedScenario(scenario, loaded.datacenter, loaded.path)


Evaluate = Callable[[LoadedScenario], dict[str, Any]]


def bisect_sweep(path: Path, spec: SweepSpec, target: Target, evaluate: Evaluate,
                 full: bool = False) -> tuple[float | None, dict[float, dict[str, Any]]]:
    """The smallest grid value whose run meets ``target`` (None if none does), and every run's summary by value."""
    runs: dict[float, dict[str, Any]] = {}

    def met(index: int) -> bool:
        value = spec.values[index]
        if value not in runs:
            runs[value] = evaluate(at_value(path, spec.parameter, value))
        return target.met(runs[value])

    last = len(spec.values) - 1
    if full:
        for index in range(last + 1):
            met(index)
        passing = [v for v in spec.values if target.met(runs[v])]
        return (min(passing) if passing else None), runs
    if not met(last):
        met(0)
        return None, runs
    if met(0):
        return spec.values[0], runs
    low, high = 0, last  # low misses, high meets
    while high - low > 1:
        middle = (low + high) // 2
        if met(middle):
            high = middle
        else:
            low = middle
    return spec.values[high], runs
