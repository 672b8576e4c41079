"""What the back ends look like from the API: pools (scheduler-stats), availability zones, services, and the
user messages that explain asynchronous failures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from twinstack.api.deps import CallerDep
from twinstack.api.volume.common import at_least, flag, is_admin, project_of, service, timestamp
from twinstack.core.errors import NotFound
from twinstack.core.volume import user_messages
from twinstack.core.volume.pool_records import zones
from twinstack.db.models.volume import PoolRow, UserMessageRow

router = APIRouter(prefix="/v3")


@router.get("/scheduler-stats/get_pools")
def pools(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("scheduler_extension:scheduler_stats:get_pools")
    detail = flag(request.query_params.get("detail", "false"))
    with caller.cloud.transaction() as session:
        rows = list(session.scalars(select(PoolRow).order_by(PoolRow.name)))
    found: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {"name": row.name}
        if detail:
            entry["capabilities"] = {
                "pool_name": row.name.split("#", 1)[-1], "volume_backend_name": row.volume_backend_name,
                "total_capacity_gb": row.total_capacity_gb, "free_capacity_gb": row.free_capacity_gb,
                "allocated_capacity_gb": row.allocated_capacity_gb,
                "provisioned_capacity_gb": row.allocated_capacity_gb,
                "thin_provisioning_support": row.thin_provisioning,
                "thick_provisioning_support": not row.thin_provisioning,
                "max_over_subscription_ratio": row.max_over_subscription_ratio,
                "reserved_percentage": row.reserved_percentage, "storage_protocol": "iSCSI",
                "vendor_name": "Twinstack", "driver_version": "1.0", "timestamp": timestamp(row.updated_at),
                **row.capabilities}
        found.append(entry)
    return {"pools": found}


@router.get("/os-availability-zone")
def availability_zones(caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        names = zones(session) or sorted({b.availability_zone for b in caller.cloud.settings.volume.backends})
    return {"availabilityZoneInfo": [{"zoneName": name, "zoneState": {"available": True}} for name in names]}


@router.get("/os-services")
def services(caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:services:index")
    with caller.cloud.transaction() as session:
        rows = list(session.scalars(select(PoolRow)))
    backends = sorted({(r.backend, r.availability_zone, r.updated_at) for r in rows}, key=lambda b: b[0])
    running = caller.cloud.volume is not None
    found = [{"binary": "cinder-scheduler", "host": service(caller.cloud).host_name, "zone": "nova",
              "status": "enabled", "state": "up" if running else "down", "updated_at": None,
              "disabled_reason": None}]
    found += [{"binary": "cinder-volume", "host": name, "zone": zone, "status": "enabled",
               "state": "up" if running else "down", "updated_at": timestamp(updated), "disabled_reason": None}
              for name, zone, updated in backends]
    return {"services": found}


def _message_view(row: UserMessageRow) -> dict[str, Any]:
    return {"id": row.id, "resource_type": row.resource_type, "resource_uuid": row.resource_uuid,
            "event_id": row.event_id, "message_level": row.message_level, "user_message": row.user_message,
            "request_id": row.request_id, "created_at": timestamp(row.created_at),
            "guaranteed_until": timestamp(row.expires_at), "links": []}


@router.get("/messages")
def messages(request: Request, caller: CallerDep) -> dict[str, Any]:
    if not at_least(request, 3):
        raise NotFound("The resource could not be found.")
    project = None if is_admin(caller) and flag(request.query_params.get("all_tenants", "false")) else (
        project_of(caller))
    caller.enforce("message:get_all", {"project_id": project or project_of(caller)})
    with caller.cloud.transaction() as session:
        rows = user_messages.list_messages(session, project, service(caller.cloud).now())
        return {"messages": [_message_view(r) for r in rows]}


@router.get("/messages/{message_id}")
def message(request: Request, message_id: str, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        row = session.get(UserMessageRow, message_id)
        if row is None or (not is_admin(caller) and row.project_id != project_of(caller)):
            raise NotFound(f"Message {message_id} could not be found.")
        return {"message": _message_view(row)}


@router.delete("/messages/{message_id}", status_code=204)
def delete_message(message_id: str, caller: CallerDep) -> Response:
    with caller.cloud.transaction() as session:
        row = session.get(UserMessageRow, message_id)
        if row is None or (not is_admin(caller) and row.project_id != project_of(caller)):
            raise NotFound(f"Message {message_id} could not be found.")
        session.delete(row)
    return Response(status_code=204)
