"""Compute API (Nova v2.1): os-simple-tenant-usage — every project's usage over a window (admin), or one's.

``start`` and ``end`` default to now and take Nova's three timestamp forms; servers are paged with
``limit``/``marker`` from 2.40 (the links point at the next page).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.compute.common import flag, limit_and_marker, next_link, nova_datetime, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import CallerDep
from twinstack.core.compute import usage
from twinstack.core.compute.admin_policies import USAGE
from twinstack.core.compute.context import ComputeContext
from twinstack.core.errors import BadRequest

router = APIRouter(prefix="/v2.1")

FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse_moment(text: str | None, now: float) -> float:
    if not text:
        return now
    for form in FORMATS:
        try:
            return dt.datetime.strptime(text, form).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    raise BadRequest("Invalid datetime string: Datetime is in invalid format")


def render(tenant: usage.TenantUsage, detailed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": tenant.project_id, "total_hours": tenant.total_hours,
        "total_vcpus_usage": tenant.total_vcpus_usage, "total_memory_mb_usage": tenant.total_memory_mb_usage,
        "total_local_gb_usage": tenant.total_local_gb_usage,
        "start": nova_datetime(tenant.start), "stop": nova_datetime(tenant.stop),
    }
    if detailed:
        body["server_usages"] = [{
            "instance_id": s.instance.uuid, "name": s.instance.name, "tenant_id": s.instance.project_id,
            "hours": s.hours, "vcpus": s.instance.flavor.vcpus, "memory_mb": s.instance.flavor.ram_mb,
            "local_gb": s.local_gb, "flavor": s.instance.flavor.name,
            "started_at": nova_datetime(s.instance.launched_at), "ended_at": nova_datetime(s.instance.terminated_at),
            "state": s.state, "uptime": s.uptime,
        } for s in tenant.servers]
    return body


def _usages(request: Request, version: Version, compute: ComputeContext,
            project_id: str | None) -> tuple[list[usage.TenantUsage], str | None]:
    now = compute.now()
    params = request.query_params
    start, stop = parse_moment(params.get("start"), now), parse_moment(params.get("end"), now)
    limit, marker = limit_and_marker(request) if version >= v(40) else (None, None)
    return usage.tenant_usages(compute.instances, start, stop, now, project_id, limit, marker)


@router.get("/os-simple-tenant-usage")
def list_tenant_usage(request: Request, caller: CallerDep, version: MicroversionDep,
                      compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(USAGE + "list")
    detailed = bool(flag(request.query_params.get("detailed"), "detailed"))
    found, following = _usages(request, version, compute, None)
    body: dict[str, Any] = {"tenant_usages": [render(t, detailed) for t in found]}
    if following is not None:
        body["tenant_usages_links"] = next_link(request, "os-simple-tenant-usage", following)
    return body


@router.get("/os-simple-tenant-usage/{tenant_id}")
def show_tenant_usage(tenant_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                      compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(USAGE + "show", {"project_id": tenant_id})
    found, following = _usages(request, version, compute, tenant_id)
    body: dict[str, Any] = {"tenant_usage": render(found[0], True) if found else {}}
    if following is not None:
        body["tenant_usage_links"] = next_link(request, f"os-simple-tenant-usage/{tenant_id}", following)
    return body
