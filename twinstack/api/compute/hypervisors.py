"""Compute API (Nova v2.1): os-hypervisors — list, detail, show, statistics, the servers on each (admin).

Shaped per microversion up to 2.79: integer ids before 2.53 and uuids from it (with
``hypervisor_hostname_pattern`` and ``with_servers`` replacing /search and /servers), a JSON
``cpu_info`` from 2.28, paging from 2.33, and ``servers`` always present when asked for from 2.75.
The usage fields Nova dropped at 2.88 are all still here.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.compute.common import flag, limit_and_marker, next_link, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import CallerDep
from twinstack.core.compute import hosts_admin
from twinstack.core.compute.admin_policies import HYPERVISORS
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.hosts_admin import Hypervisor
from twinstack.core.errors import BadRequest, CloudError, NotFound

router = APIRouter(prefix="/v2.1")

HYPERVISOR_VERSION = 1000
"""What hosts report as their hypervisor's version until agents report one (Nova's fake driver's number)."""


class NotImplementedFault(CloudError):
    status = 501
    title = "Not Implemented"


def _cpu_info(hypervisor: Hypervisor, version: Version) -> dict[str, Any] | str:
    features = sorted(t.removeprefix("HW_CPU_X86_").lower() for t in hypervisor.host.traits
                      if t.startswith("HW_CPU_X86_"))
    info = {"arch": "x86_64", "model": "", "vendor": "",
            "topology": {"cells": 1, "sockets": 1, "cores": hypervisor.vcpus, "threads": 1}, "features": features}
    return info if version >= v(28) else json.dumps(info)


def render(hypervisor: Hypervisor, version: Version, detail: bool,
           servers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    host, service = hypervisor.host, hypervisor.service
    uuids = version >= v(53)
    body: dict[str, Any] = {
        "id": host.uuid if uuids else host.id,
        "hypervisor_hostname": host.hypervisor_hostname,
        "state": "up" if service.up else "down",
        "status": "disabled" if service.disabled else "enabled",
    }
    if detail:
        body |= {
            "vcpus": hypervisor.vcpus, "vcpus_used": hypervisor.vcpus_used,
            "memory_mb": hypervisor.memory_mb, "memory_mb_used": hypervisor.memory_mb_used,
            "free_ram_mb": hypervisor.free_ram_mb,
            "local_gb": hypervisor.local_gb, "local_gb_used": hypervisor.local_gb_used,
            "free_disk_gb": hypervisor.free_disk_gb, "disk_available_least": hypervisor.free_disk_gb,
            "running_vms": hypervisor.running_vms, "current_workload": hypervisor.current_workload,
            "hypervisor_type": host.hypervisor_type, "hypervisor_version": HYPERVISOR_VERSION,
            "host_ip": host.host_ip, "cpu_info": _cpu_info(hypervisor, version),
            "service": {"id": service.uuid if uuids else service.id, "host": host.host,
                        "disabled_reason": service.disabled_reason},
        }
    if servers or (servers is not None and version >= v(75)):
        body["servers"] = servers
    return body


def _servers(compute: ComputeContext, hypervisor: Hypervisor) -> list[dict[str, str]]:
    return [{"name": i.name, "uuid": i.uuid} for i in hosts_admin.servers_on(compute, hypervisor.host.host)]


def _list(request: Request, caller: CallerDep, version: Version, compute: ComputeContext,
          detail: bool) -> dict[str, Any]:
    caller.enforce(HYPERVISORS + ("list-detail" if detail else "list"))
    params = request.query_params
    pattern = params.get("hypervisor_hostname_pattern") if version >= v(53) else None
    with_servers = bool(flag(params.get("with_servers"), "with_servers")) if version >= v(53) else False
    limit, marker = limit_and_marker(request) if version >= v(33) else (None, None)
    if pattern is not None and ("limit" in params or marker is not None):
        raise BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not "
                         "supported.")
    found = hosts_admin.page(hosts_admin.list_hypervisors(compute, pattern), limit, marker)
    body: dict[str, Any] = {"hypervisors": [
        render(h, version, detail, _servers(compute, h) if with_servers else None) for h in found]}
    if limit is not None and found and len(found) == limit:
        last = found[-1].host
        body["hypervisors_links"] = next_link(request, "os-hypervisors/detail" if detail else "os-hypervisors",
                                              last.uuid if version >= v(53) else str(last.id))
    return body


@router.get("/os-hypervisors")
def list_hypervisors(request: Request, caller: CallerDep, version: MicroversionDep,
                     compute: ComputeDep) -> dict[str, Any]:
    return _list(request, caller, version, compute, detail=False)


@router.get("/os-hypervisors/detail")
def list_hypervisors_detail(request: Request, caller: CallerDep, version: MicroversionDep,
                            compute: ComputeDep) -> dict[str, Any]:
    return _list(request, caller, version, compute, detail=True)


@router.get("/os-hypervisors/statistics")
def hypervisor_statistics(caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(HYPERVISORS + "statistics")
    stats = hosts_admin.statistics(compute)
    return {"hypervisor_statistics": {
        "count": stats.count, "vcpus": stats.vcpus, "vcpus_used": stats.vcpus_used, "memory_mb": stats.memory_mb,
        "memory_mb_used": stats.memory_mb_used, "free_ram_mb": stats.free_ram_mb, "local_gb": stats.local_gb,
        "local_gb_used": stats.local_gb_used, "free_disk_gb": stats.free_disk_gb,
        "disk_available_least": stats.free_disk_gb, "running_vms": stats.running_vms,
        "current_workload": stats.current_workload}}


def _find(compute: ComputeContext, version: Version, hypervisor_id: str) -> Hypervisor:
    """Nova's _validate_id: from 2.53 the id must be a uuid (400), before it a number (404 otherwise)."""
    if version >= v(53):
        try:
            uuidlib.UUID(hypervisor_id)
        except ValueError:
            raise BadRequest(f"Invalid uuid {hypervisor_id}") from None
    elif not hypervisor_id.isdigit():
        raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    return hosts_admin.get_hypervisor(compute, hypervisor_id)


@router.get("/os-hypervisors/{hypervisor_id}")
def show_hypervisor(hypervisor_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                    compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(HYPERVISORS + "show")
    with_servers = version >= v(53) and bool(flag(request.query_params.get("with_servers"), "with_servers"))
    hypervisor = _find(compute, version, hypervisor_id)
    return {"hypervisor": render(hypervisor, version, True, _servers(compute, hypervisor) if with_servers else None)}


@router.get("/os-hypervisors/{hypervisor_id}/uptime")
def hypervisor_uptime(hypervisor_id: str, caller: CallerDep, version: MicroversionDep,
                      compute: ComputeDep) -> dict[str, Any]:
    """Agents do not report uptimes: 501, which clients (``hypervisor show``) take as "not available"."""
    caller.enforce(HYPERVISORS + "uptime")
    _find(compute, version, hypervisor_id)
    raise NotImplementedFault("Not implemented: the hosts' agents do not report their uptime.")


def _legacy(version: Version) -> None:
    if version >= v(53):
        raise NotFound("The resource could not be found.")


@router.get("/os-hypervisors/{pattern}/search")
def search_hypervisors(pattern: str, caller: CallerDep, version: MicroversionDep,
                       compute: ComputeDep) -> dict[str, Any]:
    """Before 2.53 only (then ``?hypervisor_hostname_pattern``)."""
    _legacy(version)
    caller.enforce(HYPERVISORS + "search")
    return {"hypervisors": [render(h, version, False) for h in hosts_admin.list_hypervisors(compute, pattern)]}


@router.get("/os-hypervisors/{pattern}/servers")
def hypervisor_servers(pattern: str, caller: CallerDep, version: MicroversionDep,
                       compute: ComputeDep) -> dict[str, Any]:
    """Before 2.53 only (then ``?with_servers=true``); a hypervisor without servers has no ``servers`` key."""
    _legacy(version)
    caller.enforce(HYPERVISORS + "servers")
    return {"hypervisors": [render(h, version, False, _servers(compute, h))
                            for h in hosts_admin.list_hypervisors(compute, pattern)]}
