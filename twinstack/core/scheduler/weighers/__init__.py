"""The weighers, registered explicitly by name; multipliers come from SchedulerSettings.weighers."""

from __future__ import annotations

from collections.abc import Callable

from twinstack.core.scheduler.weighers.base import HostWeigher, weigh
from twinstack.core.scheduler.weighers.build_failure import BuildFailureWeigher
from twinstack.core.scheduler.weighers.cpu import CPUWeigher
from twinstack.core.scheduler.weighers.disk import DiskWeigher
from twinstack.core.scheduler.weighers.io_ops import IoOpsWeigher
from twinstack.core.scheduler.weighers.num_instances import NumInstancesWeigher
from twinstack.core.scheduler.weighers.ram import RAMWeigher
from twinstack.core.scheduler.weighers.soft_affinity import ServerGroupSoftAffinityWeigher
from twinstack.core.scheduler.weighers.soft_anti_affinity import ServerGroupSoftAntiAffinityWeigher

WEIGHERS: dict[str, Callable[[], HostWeigher]] = {
    "RAMWeigher": RAMWeigher,
    "CPUWeigher": CPUWeigher,
    "DiskWeigher": DiskWeigher,
    "IoOpsWeigher": IoOpsWeigher,
    "NumInstancesWeigher": NumInstancesWeigher,
    "ServerGroupSoftAffinityWeigher": ServerGroupSoftAffinityWeigher,
    "ServerGroupSoftAntiAffinityWeigher": ServerGroupSoftAntiAffinityWeigher,
    "BuildFailureWeigher": BuildFailureWeigher,
}

__all__ = ["WEIGHERS", "HostWeigher", "weigh"]
