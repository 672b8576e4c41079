"""Availability zones as Nova lists them: the zones of the services, available while one is enabled.

A host's zone is its aggregate's (:func:`~twinstack.core.compute.aggregates.effective_zones`) or the
one its agent reported; the control services sit in the internal zone, which only the detailed
(admin) listing shows. A zone whose every service is disabled is listed as not available.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstack.core.compute.aggregates import INTERNAL_ZONE, effective_zones
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.hosts_admin import Service, list_services


@dataclass(frozen=True)
class Zone:
    name: str
    available: bool
    hosts: dict[str, list[Service]] = field(default_factory=dict)
    """The enabled services of each host in the zone (what the detailed listing shows)."""


def list_zones(compute: ComputeContext, control_host: str, detailed: bool = False) -> list[Zone]:
    """Available zones (sorted) then those with only disabled services; the internal zone only if detailed."""
    services = list_services(compute, control_host)
    enabled: dict[str, dict[str, list[Service]]] = {}
    for service in services:
        if not service.disabled:
            enabled.setdefault(service.zone, {}).setdefault(service.host, []).append(service)
    unavailable = sorted({s.zone for s in services} - enabled.keys())
    zones = [Zone(name, True, enabled[name]) for name in sorted(enabled)]
    zones += [Zone(name, False) for name in unavailable]
    return [z for z in zones if detailed or z.name != INTERNAL_ZONE]


def zone_names(compute: ComputeContext) -> set[str]:
    """The zones a server may be asked into: those some compute host is in now."""
    return set(effective_zones(compute.hosts.all(), compute.aggregates.all()).values())
