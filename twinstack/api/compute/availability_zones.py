"""Compute API (Nova v2.1): os-availability-zone — the zones (anyone) and their hosts' services (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinstack.api.compute.common import nova_datetime
from twinstack.api.compute.deps import ComputeDep
from twinstack.api.compute.services import control_host
from twinstack.api.deps import CallerDep
from twinstack.core.compute.admin_policies import ZONES
from twinstack.core.compute.availability_zones import list_zones

router = APIRouter(prefix="/v2.1")


@router.get("/os-availability-zone")
def list_availability_zones(caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(ZONES + "list")
    return {"availabilityZoneInfo": [{"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": None}
                                     for z in list_zones(compute, control_host())]}


@router.get("/os-availability-zone/detail")
def list_availability_zones_detail(caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(ZONES + "detail")
    zones = []
    for zone in list_zones(compute, control_host(), detailed=True):
        hosts = {host: {s.binary: {"available": s.up, "active": not s.disabled,
                                   "updated_at": nova_datetime(s.updated_at)} for s in services}
                 for host, services in zone.hosts.items()} if zone.available else None
        zones.append({"zoneName": zone.name, "zoneState": {"available": zone.available}, "hosts": hosts})
    return {"availabilityZoneInfo": zones}
