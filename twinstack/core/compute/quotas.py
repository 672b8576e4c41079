"""Nova's quotas: per-project limits over defaults, usage counted from what exists, and the checks.

Usage is counted, never tracked (as Nova counts since Pike): a project's instances, cores and RAM
are what its live instances add up to, so a delete frees quota the moment it is recorded and
nothing can drift. The checks are pure functions over a snapshot (limits, usage, request); the
stores (:class:`~twinstack.core.compute.stores.Admission`) run them inside one atomic step with the
writes they guard, so two requests racing for the last slot cannot both pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import QuotaStore
from twinstack.core.errors import BadRequest, Forbidden
from twinstack.rpc.compute import FlavorSpec

UNLIMITED = -1

DEFAULT_LIMITS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "metadata_items": 128,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    # nova-network's, shown (unlimited, unenforced) before microversion 2.36 as Nova still does
    "fixed_ips": UNLIMITED,
    "floating_ips": UNLIMITED,
    "security_groups": UNLIMITED,
    "security_group_rules": UNLIMITED,
}
"""Nova's [quota] defaults, for every resource a quota set shows."""

NETWORK_RESOURCES = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
"""Gone from quota sets and limits from microversion 2.36."""
FILE_RESOURCES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
"""Gone from quota sets and limits from microversion 2.57."""
COUNTED = ("instances", "cores", "ram", "server_groups")
"""Resources whose usage a project accrues (the others are checked per request, or per user or group)."""


class QuotaExceeded(Forbidden):
    """Over quota: Nova answers 403 on its API (its 413 is the EC2 API's)."""


def limits_of(store: QuotaStore, project_id: str) -> dict[str, int]:
    """The project's effective limits: the defaults, overridden by what was set for it."""
    return {**DEFAULT_LIMITS, **store.overrides(project_id)}


def _room(limit: int, used: int) -> float:
    return float("inf") if limit == UNLIMITED else limit - used


@dataclass(frozen=True)
class InstanceDemand:
    """What one create request asks of the quotas."""

    vcpus: int
    ram_mb: int
    min_count: int
    max_count: int
    metadata_items: int = 0

    def per_instance(self) -> dict[str, int]:
        return {"instances": 1, "cores": self.vcpus, "ram": self.ram_mb}


def usage_matters(limits: Mapping[str, int]) -> bool:
    """Whether admitting instances needs the project's usage: not when instances, cores and RAM are all
    unlimited (any usage leaves infinite room), which spares counting a big project's every instance."""
    return any(limits[resource] != UNLIMITED for resource in InstanceDemand(0, 0, 0, 0).per_instance())


def instances_allowed(limits: Mapping[str, int], usage: Mapping[str, int], demand: InstanceDemand) -> int:
    """How many instances of the request to create: ``max_count`` if they fit, else as many as fit if that
    is at least ``min_count`` (as Nova shrinks a multiple create); else QuotaExceeded in Nova's words:
    "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"."""
    check_metadata_items(limits, demand.metadata_items)
    per = demand.per_instance()
    allowed = float(demand.max_count)
    for resource, amount in per.items():
        if amount:
            allowed = min(allowed, _room(limits[resource], usage.get(resource, 0)) // amount)
    if allowed >= demand.min_count:
        return int(min(allowed, demand.max_count))
    overs = [r for r, amount in per.items()
             if amount * demand.max_count > _room(limits[r], usage.get(r, 0))]
    asked = (str(demand.min_count) if demand.min_count == demand.max_count
             else f"{demand.min_count}-{demand.max_count}")
    requested = {"instances": asked, "cores": str(demand.vcpus * demand.max_count),
                 "ram": str(demand.ram_mb * demand.max_count)}
    names = ", ".join(overs)
    raise QuotaExceeded(
        f"Quota exceeded for {names}: Requested {', '.join(requested[r] for r in overs)}, but already used "
        f"{', '.join(str(usage.get(r, 0)) for r in overs)} of {', '.join(str(limits[r]) for r in overs)} {names}")


def counted_flavor(instance: Instance) -> tuple[int, int]:
    """The (cores, ram) an instance counts for: its flavor's, or during a resize the larger of each among
    the flavors involved (so both hosts' worth is held until confirm or revert, as Placement holds it)."""
    flavors = [f for f in (instance.flavor, instance.old_flavor, instance.new_flavor) if f is not None]
    return max(f.vcpus for f in flavors), max(f.ram_mb for f in flavors)


def check_resize(limits: Mapping[str, int], usage: Mapping[str, int], old: FlavorSpec, new: FlavorSpec) -> None:
    """A resize's growth (cores and ram only; a smaller flavor needs nothing) must fit the project's room;
    else QuotaExceeded in Nova's words."""
    growth = {"cores": max(0, new.vcpus - old.vcpus), "ram": max(0, new.ram_mb - old.ram_mb)}
    overs = [r for r, amount in growth.items() if amount and amount > _room(limits[r], usage.get(r, 0))]
    if overs:
        names = ", ".join(overs)
        raise QuotaExceeded(
            f"Quota exceeded for {names}: Requested {', '.join(str(growth[r]) for r in overs)}, but already used "
            f"{', '.join(str(usage.get(r, 0)) for r in overs)} of {', '.join(str(limits[r]) for r in overs)} "
            f"{names}")


def check_metadata_items(limits: Mapping[str, int], count: int) -> None:
    limit = limits["metadata_items"]
    if limit != UNLIMITED and count > limit:
        raise QuotaExceeded(f"Maximum number of metadata items exceeds {limit}")


def check_group_members(limits: Mapping[str, int], members: int, adding: int) -> None:
    """A server group may hold at most ``server_group_members`` live servers."""
    limit = limits["server_group_members"]
    if limit != UNLIMITED and members + adding > limit:
        raise QuotaExceeded("Quota exceeded, too many servers in group")


def check_server_groups(limits: Mapping[str, int], groups: int) -> None:
    """One more server group must fit the project's ``server_groups`` limit."""
    if groups + 1 > _room(limits["server_groups"], 0):
        raise QuotaExceeded("Quota exceeded, too many server groups.")


def check_new_limits(limits: Mapping[str, int], usage: Mapping[str, int]) -> None:
    """Nova refuses (unless forced) a limit below what the project already uses, and one below -1."""
    for resource, limit in limits.items():
        if limit < UNLIMITED:
            raise BadRequest(f"Quota limit {limit} for {resource} must be -1 or greater.")
        used = usage.get(resource, 0)
        if limit != UNLIMITED and limit < used:
            raise BadRequest(f"Quota limit {limit} for {resource} must be greater than or equal to already used "
                             f"and reserved {used}.")


def set_limits(store: QuotaStore, project_id: str, limits: Mapping[str, int], force: bool = False) -> dict[str, int]:
    """Set some of the project's limits (checked against its usage unless forced); returns them all."""
    unknown = sorted(set(limits) - set(DEFAULT_LIMITS))
    if unknown:
        raise BadRequest(f"Bad key(s) {', '.join(unknown)} in quota_set")
    if force:
        check_new_limits(limits, {})
    else:
        check_new_limits(limits, store.usage(project_id))
    store.set_limits(project_id, limits)
    return limits_of(store, project_id)


def detail(store: QuotaStore, project_id: str) -> dict[str, dict[str, int]]:
    """Every resource's limit, in_use and reserved (always 0: usage is counted, nothing is reserved)."""
    limits = limits_of(store, project_id)
    usage = store.usage(project_id)
    return {r: {"limit": limit, "in_use": usage.get(r, 0), "reserved": 0} for r, limit in limits.items()}
