"""Durations as people write them in a scenario (``90``, ``"10m"``, ``"4h"``, ``"30d"``, ``"2w"``), in seconds.

Also the distributions of durations a scenario draws from (lifetimes, times between failures, repair times),
with those units, plus the empirical distribution the simulated hosts' own distributions lack.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([smhdw]?)\s*$")
_PARTS = re.compile(r"([0-9]*\.?[0-9]+)\s*([smhdw])")
_COMPOUND = re.compile(r"^\s*(?:[0-9]*\.?[0-9]+\s*[smhdw]\s*)+$")


def parse_duration(value: object) -> float:
    """Seconds from a number (already seconds) or a string with an optional unit s, m, h, d or w, or several
    such parts (``1d8h``, ``2h30m``)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '30m', '4h', '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    elif isinstance(value, str) and _COMPOUND.match(value):
        seconds = sum(float(amount) * UNITS[unit] for amount, unit in _PARTS.findall(value))
    else:
        raise ValueError(f"{value!r} is not a duration: write seconds or e.g. '30m', '4h', '7d', '2w'")
    if seconds < 0 or math.isnan(seconds):
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedDuration(_Dist):
    kind: Literal["fixed"] = "fixed"
    value: Duration

    def sample(self, rng: random.Random) -> float:
        return self.value


class ExponentialDuration(_Dist):
    kind: Literal["exponential"] = "exponential"
    mean: Duration = Field(gt=0)

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)


class UniformDuration(_Dist):
    kind: Literal["uniform"] = "uniform"
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> UniformDuration:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class LogNormalDuration(_Dist):
    """By its median and sigma (the spread of the underlying normal): heavy-tailed, like most VM lifetimes."""

    kind: Literal["lognormal"] = "lognormal"
    median: Duration = Field(gt=0)
    sigma: float = Field(ge=0)

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


class EmpiricalDuration(_Dist):
    """Drawn from observed values, each with a weight (equal weights if none are given)."""

    kind: Literal["empirical"] = "empirical"
    values: list[Duration] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> EmpiricalDuration:
        if self.weights is not None and (len(self.weights) != len(self.values) or min(self.weights) < 0
                                         or sum(self.weights) <= 0):
            raise ValueError("weights must be as many as values, not negative, and not all zero")
        return self

    def sample(self, rng: random.Random) -> float:
        if self.weights is None:
            return self.values[rng.randrange(len(self.values))]
        cumulative = list(itertools.accumulate(self.weights))
        return self.values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


class Forever(_Dist):
    """Never ends (an instance never deleted, a host never failing)."""

    kind: Literal["forever"] = "forever"

    def sample(self, rng: random.Random) -> float:
        return math.inf


DurationDistribution = Annotated[
    FixedDuration | ExponentialDuration | UniformDuration | LogNormalDuration | EmpiricalDuration | Forever,
    Field(discriminator="kind"),
]
