"""The filters, registered explicitly by name (never found by walking a directory).

A deployment adds its own by passing an extended registry to the FilterScheduler; a per-host plug-in goes
through :func:`~twinstack.core.scheduler.filters.per_host.per_host`.
"""

from __future__ import annotations

from collections.abc import Callable

from twinstack.core.scheduler.filters.aggregate_instance_extra_specs import AggregateInstanceExtraSpecsFilter
from twinstack.core.scheduler.filters.aggregate_multitenancy_isolation import AggregateMultiTenancyIsolation
from twinstack.core.scheduler.filters.availability_zone import AvailabilityZoneFilter
from twinstack.core.scheduler.filters.base import HostFilter
from twinstack.core.scheduler.filters.compute import ComputeFilter
from twinstack.core.scheduler.filters.different_host import DifferentHostFilter
from twinstack.core.scheduler.filters.image_properties import ImagePropertiesFilter
from twinstack.core.scheduler.filters.per_host import PerHostAdapter, PerHostFilter, per_host
from twinstack.core.scheduler.filters.resources import ResourcesFilter
from twinstack.core.scheduler.filters.same_host import SameHostFilter
from twinstack.core.scheduler.filters.server_group_affinity import ServerGroupAffinityFilter
from twinstack.core.scheduler.filters.server_group_anti_affinity import ServerGroupAntiAffinityFilter
from twinstack.core.scheduler.filters.traits import TraitsFilter

FILTERS: dict[str, Callable[[], HostFilter]] = {
    "ComputeFilter": ComputeFilter,
    "AvailabilityZoneFilter": AvailabilityZoneFilter,
    "AggregateInstanceExtraSpecsFilter": AggregateInstanceExtraSpecsFilter,
    "AggregateMultiTenancyIsolation": AggregateMultiTenancyIsolation,
    "ImagePropertiesFilter": ImagePropertiesFilter,
    "ServerGroupAntiAffinityFilter": ServerGroupAntiAffinityFilter,
    "ServerGroupAffinityFilter": ServerGroupAffinityFilter,
    "SameHostFilter": SameHostFilter,
    "DifferentHostFilter": DifferentHostFilter,
    "TraitsFilter": TraitsFilter,
    "ResourcesFilter": ResourcesFilter,
}

__all__ = ["FILTERS", "HostFilter", "PerHostAdapter", "PerHostFilter", "per_host"]
