"""How the volume scheduler is configured: Cinder's option names, in the ``[volume]`` section.

Compute's :class:`~twinstack.core.scheduler.settings.SchedulerSettings` carries Nova's names; this carries
Cinder's (``scheduler_default_filters``, ``scheduler_default_weighers`` and each weigher's
``*_weight_multiplier``), so a cinder.conf translates one to one. A name no registry holds is refused when the
settings are read, i.e. before the cloud starts, naming the culprit and what is known.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from twinstack.core.volume.scheduler.filters import DEFAULT_FILTERS, FILTERS
from twinstack.core.volume.scheduler.weighers import DEFAULT_WEIGHERS, MULTIPLIER_OPTIONS, WEIGHERS


def _known(names: tuple[str, ...], registry: dict[str, object], what: str) -> tuple[str, ...]:
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ValueError(f"unknown volume scheduler {what}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(registry))})")
    return names


class VolumeSchedulerSettings(BaseModel):
    scheduler_default_filters: tuple[str, ...] = Field(
        DEFAULT_FILTERS, description="Filters the volume scheduler runs, by Cinder's names, in this order "
        f"(known: {', '.join(FILTERS)}). A clone or a snapshot restore stays in its source's back end whatever "
        "is listed.")
    scheduler_default_weighers: tuple[str, ...] = Field(
        DEFAULT_WEIGHERS, description=f"Weighers the volume scheduler runs (known: {', '.join(WEIGHERS)}).")
    capacity_weight_multiplier: float = Field(
        1.0, description="CapacityWeigher: positive spreads volumes onto the pool with the most (virtual) free "
        "space, negative stacks them onto the fullest.")
    allocated_capacity_weight_multiplier: float = Field(
        -1.0, description="AllocatedCapacityWeigher: negative prefers the pool with the least capacity already "
        "allocated, positive the most.")
    volume_number_multiplier: float = Field(
        -1.0, description="VolumeNumberWeigher: negative prefers the pool holding the fewest volumes, positive "
        "the most.")

    @field_validator("scheduler_default_filters")
    @classmethod
    def _filters_known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _known(names, dict(FILTERS), "filters")

    @field_validator("scheduler_default_weighers")
    @classmethod
    def _weighers_known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _known(names, dict(WEIGHERS), "weighers")

    def weigher_multipliers(self) -> dict[str, float]:
        """The enabled weighers with their multipliers (the shape the shared pipeline takes)."""
        return {name: float(getattr(self, MULTIPLIER_OPTIONS[name])) for name in self.scheduler_default_weighers}
