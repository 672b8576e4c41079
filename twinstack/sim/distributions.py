"""Durations drawn from configurable distributions, seeded, so a simulation is repeatable."""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fixed(_Dist):
    kind: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def sample(self, rng: random.Random) -> float:
        return self.value


class Exponential(_Dist):
    kind: Literal["exponential"] = "exponential"
    mean: float = Field(gt=0)

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)


class Uniform(_Dist):
    kind: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class LogNormal(_Dist):
    """Parameterised by the median and the multiplicative spread (sigma of the underlying normal)."""

    kind: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


Distribution = Annotated[Fixed | Exponential | Uniform | LogNormal, Field(discriminator="kind")]
