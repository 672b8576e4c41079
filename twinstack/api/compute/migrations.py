"""Compute API (Nova v2.1): migration records — ``GET /os-migrations`` (every move, admin) and
``GET /servers/{id}/migrations[/{migration_id}]`` (a server's live migrations in progress, from 2.23).

Fields follow Nova per microversion: ``migration_type`` and, for a live migration in progress, ``links``
from 2.23; ``uuid``, paging (limit, marker by uuid, ``migrations_links``) and ``changes-since`` from 2.59;
``changes-before`` from 2.66. Flavors show as their table ids (Nova's ``old_instance_type_id``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from twinstack.api.compute.common import (
    find_server,
    limit_and_marker,
    next_link,
    nova_datetime,
    parse_time,
    resource_links,
    since,
    v,
)
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.core.compute import flavors
from twinstack.core.compute.model import Migration
from twinstack.core.compute.move_requests import IN_PROGRESS_LIVE
from twinstack.core.compute.stores import MigrationQuery
from twinstack.core.errors import BadRequest, NotFound

router = APIRouter(prefix="/v2.1")

MiB = 1024 * 1024


def _flavor_ids(caller: Caller, migrations: list[Migration]) -> dict[str, int]:
    wanted = {m.old_flavor.id for m in migrations} | {m.new_flavor.id for m in migrations}
    with caller.cloud.sessions() as session:
        return flavors.database_ids(session, wanted)


def render(migration: Migration, request: Request, version: Version, flavor_ids: dict[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": migration.id, "source_node": migration.source_node, "dest_node": migration.dest_node,
        "source_compute": migration.source_compute, "dest_compute": migration.dest_compute,
        "dest_host": migration.dest_host, "status": migration.status, "instance_uuid": migration.instance_uuid,
        "old_instance_type_id": flavor_ids.get(migration.old_flavor.id),
        "new_instance_type_id": flavor_ids.get(migration.new_flavor.id),
        "created_at": nova_datetime(migration.created_at), "updated_at": nova_datetime(migration.updated_at),
    }
    if version >= v(23):
        body["migration_type"] = migration.migration_type
        if migration.migration_type == "live-migration" and migration.status in IN_PROGRESS_LIVE:
            body["links"] = resource_links(request, f"servers/{migration.instance_uuid}/migrations",
                                           str(migration.id))
    if version >= v(59):
        body["uuid"] = migration.uuid
    return body


@router.get("/os-migrations")
def list_migrations(request: Request, caller: CallerDep, version: MicroversionDep,
                    compute: ComputeDep) -> dict[str, Any]:
    caller.enforce("os_compute_api:os-migrations:index", {"project_id": caller.creds.project_id})
    params = request.query_params
    status = params.get("status")
    paged = version >= v(59)
    limit, marker = limit_and_marker(request) if paged else (None, None)
    changes_since = parse_time(params["changes-since"], "changes-since") if paged and "changes-since" in params \
        else None
    changes_before = (parse_time(params["changes-before"], "changes-before")
                      if version >= v(66) and "changes-before" in params else None)
    if changes_since is not None and changes_before is not None and changes_before < changes_since:
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    query = MigrationQuery(
        instance_uuid=params.get("instance_uuid"), host=params.get("host"),
        source_compute=params.get("source_compute"), statuses=frozenset({status}) if status else None,
        migration_type=params.get("migration_type"), changes_since=changes_since, changes_before=changes_before,
        marker=marker, limit=limit)
    try:
        found = compute.migrations.find(query)
    except BadRequest:
        raise BadRequest(f"Marker {marker} could not be found.") from None
    ids = _flavor_ids(caller, found)
    body: dict[str, Any] = {"migrations": [render(m, request, version, ids) for m in found]}
    if paged and found and len(found) == limit:
        body["migrations_links"] = next_link(request, "os-migrations", found[-1].uuid)
    return body


def render_live(migration: Migration, version: Version) -> dict[str, Any]:
    """A live migration in progress as ``/servers/{id}/migrations`` shows it, with its progress counters."""
    memory = migration.old_flavor.ram_mb * MiB
    disk = migration.old_flavor.disk_gb * 1024 * MiB
    body: dict[str, Any] = {
        "id": migration.id, "server_uuid": migration.instance_uuid, "status": migration.status,
        "source_compute": migration.source_compute, "source_node": migration.source_node,
        "dest_compute": migration.dest_compute, "dest_node": migration.dest_node, "dest_host": migration.dest_host,
        "memory_total_bytes": memory, "memory_processed_bytes": 0, "memory_remaining_bytes": memory,
        "disk_total_bytes": disk, "disk_processed_bytes": 0, "disk_remaining_bytes": disk,
        "created_at": nova_datetime(migration.created_at), "updated_at": nova_datetime(migration.updated_at),
    }
    if version >= v(59):
        body["uuid"] = migration.uuid
    return body


def _in_progress(compute: ComputeDep, server_id: str) -> list[Migration]:
    return compute.migrations.find(MigrationQuery(instance_uuid=server_id, migration_type="live-migration",
                                                  statuses=IN_PROGRESS_LIVE))


ServerMigrationsGate = Annotated[None, Depends(since(v(23)))]


@router.get("/servers/{server_id}/migrations")
def list_server_migrations(server_id: str, caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                           _gate: ServerMigrationsGate) -> dict[str, Any]:
    find_server(compute, caller, server_id, "os_compute_api:servers:migrations:index")
    return {"migrations": [render_live(m, version) for m in _in_progress(compute, server_id)]}


@router.get("/servers/{server_id}/migrations/{migration_id}")
def show_server_migration(server_id: str, migration_id: str, caller: CallerDep, version: MicroversionDep,
                          compute: ComputeDep, _gate: ServerMigrationsGate) -> dict[str, Any]:
    find_server(compute, caller, server_id, "os_compute_api:servers:migrations:show")
    for migration in _in_progress(compute, server_id):
        if str(migration.id) == migration_id:
            return {"migration": render_live(migration, version)}
    raise NotFound(f"In-progress live migration {migration_id} is not found for server {server_id}.")
