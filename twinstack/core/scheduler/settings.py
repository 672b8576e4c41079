"""How the filter scheduler is configured: one small typed value, passed in, never read from a global.

The names are Nova's (``enabled_filters``, the weighers' ``*_weight_multiplier`` options, ``host_subset_size``),
so an operator's Nova configuration translates one to one. A pydantic model so that the cloud's settings file
and a simulation scenario validate it the same way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FILTERS: tuple[str, ...] = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "SameHostFilter",
    "DifferentHostFilter",
    "TraitsFilter",
    "ResourcesFilter",
)
"""Nova's default filters, plus what Nova leaves to Placement (traits, resources) and the host hints; the
aggregate filters are opt-in, as in Nova."""

DEFAULT_WEIGHERS: dict[str, float] = {
    "RAMWeigher": 1.0,
    "CPUWeigher": 1.0,
    "DiskWeigher": 1.0,
    "IoOpsWeigher": -1.0,
    "NumInstancesWeigher": 0.0,
    "ServerGroupSoftAffinityWeigher": 1.0,
    "ServerGroupSoftAntiAffinityWeigher": 1.0,
    "BuildFailureWeigher": 1_000_000.0,
}
"""Every weigher with Nova's default multiplier. Positive spreads (prefers more of what it measures), negative
packs: ``{"RAMWeigher": -1.0, ...}`` stacks instances on the fullest hosts."""


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled_filters: tuple[str, ...] = Field(
        DEFAULT_FILTERS, description="Filters run for every request, by registered name, in this order "
        "(per-host plug-in filters always run after the column-wise ones).")
    weighers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHERS),
        description="Weighers to run, by registered name, with their multipliers (0 disables one).")
    host_subset_size: int = Field(
        1, ge=1, description="Pick at random among this many best-weighed hosts (spreads racing schedulers).")
    max_placement_results: int | None = Field(
        1000, ge=1, description="At most this many candidate hosts come out of Placement's part of the request "
        "(resources and required traits) into the other filters and the weighers, as Nova's option of the same "
        "name asks of GET /allocation_candidates; None: every host that fits.")
    randomize_allocation_candidates: bool = Field(
        False, description="With more fitting hosts than max_placement_results, take a random sample of them "
        "(Placement's option of the same name) instead of the first ones in provider order, which fills the "
        "first hosts of a large cloud before the others, as Placement does by default.")
    max_alternates: int = Field(
        2, ge=0, description="At most this many alternates per decision, whatever the request asks.")
    service_down_time: float = Field(
        60.0, gt=0, description="Seconds without a heartbeat after which ComputeFilter sees a host as down.")
    host_refresh_seconds: float | None = Field(
        10.0, ge=0, description="How often (in runtime seconds) the scheduler re-reads enabled/forced-down/"
        "heartbeat flags from the host store; None: never (the caller keeps HostState current).")
    default_architecture: str = Field(
        "x86_64", description="Architecture of a host that reports no HW_ARCH_* trait (ImagePropertiesFilter).")
