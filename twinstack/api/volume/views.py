"""How volumes, snapshots, types and attachments look on the wire, per microversion and per caller."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from twinstack.api.volume.common import at_least, links, timestamp
from twinstack.db.models.volume import AttachmentRow, SnapshotRow, VolumeRow, VolumeTypeRow

ADMIN_ONLY_SINCE: dict[str, int] = {"os-vol-host-attr:host": 0, "os-vol-mig-status-attr:migstat": 0,
                                    "os-vol-mig-status-attr:name_id": 0, "provider_id": 21, "cluster_name": 61}


def volume_summary(request: Request, row: VolumeRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "links": links(request, "volumes", row.id)}


def volume_attachment_summary(row: AttachmentRow) -> dict[str, Any]:
    return {"server_id": row.instance_uuid, "attachment_id": row.id, "attached_at": timestamp(row.attach_time),
            "host_name": row.attached_host, "volume_id": row.volume_id, "device": row.mountpoint,
            "id": row.volume_id}


def volume_detail(request: Request, row: VolumeRow, type_row: VolumeTypeRow | None,
                  attachments: list[AttachmentRow], admin: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "name": row.name, "description": row.description, "size": row.size, "status": row.status,
        "availability_zone": row.availability_zone, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "attachments": [volume_attachment_summary(a) for a in attachments if a.attach_status == "attached"],
        "volume_type": type_row.name if type_row else None, "snapshot_id": row.snapshot_id,
        "source_volid": row.source_volid, "metadata": dict(row.meta), "user_id": row.user_id,
        "bootable": "true" if row.bootable else "false", "encrypted": False, "replication_status": None,
        "consistencygroup_id": None, "multiattach": row.multiattach, "migration_status": row.migration_status,
        "os-vol-tenant-attr:tenant_id": row.project_id, "links": links(request, "volumes", row.id),
    }
    if row.image_metadata:
        body["volume_image_metadata"] = dict(row.image_metadata)
    if at_least(request, 13):
        body["group_id"] = None
    if at_least(request, 48):
        body["service_uuid"] = None
        body["shared_targets"] = False
    if at_least(request, 63):
        body["volume_type_id"] = row.volume_type_id
    # 3.64 shows encryption_key_id only for a volume encrypted with a key of its own: none is, here
    if at_least(request, 65):
        body["consumes_quota"] = True
    if admin:
        extra = {"os-vol-host-attr:host": row.host, "os-vol-mig-status-attr:migstat": row.migration_status,
                 "os-vol-mig-status-attr:name_id": None, "provider_id": None,
                 "cluster_name": None}
        body.update({k: val for k, val in extra.items() if at_least(request, ADMIN_ONLY_SINCE[k])})
    return body


def snapshot_view(request: Request, row: SnapshotRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "name": row.name, "description": row.description, "volume_id": row.volume_id,
        "status": row.status, "size": row.size, "metadata": dict(row.meta), "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at), "os-extended-snapshot-attributes:progress": row.progress,
        "os-extended-snapshot-attributes:project_id": row.project_id,
    }
    if at_least(request, 14):
        body["group_snapshot_id"] = None
    if at_least(request, 41):
        body["user_id"] = row.user_id
    if at_least(request, 65):
        body["consumes_quota"] = True
    return body


def type_view(row: VolumeTypeRow, with_specs: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "name": row.name, "description": row.description,
                            "is_public": row.is_public, "os-volume-type-access:is_public": row.is_public,
                            "qos_specs_id": None}
    if with_specs:
        body["extra_specs"] = dict(row.extra_specs)
    return body


def attachment_view(row: AttachmentRow, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "status": row.attach_status, "instance": row.instance_uuid,
                            "volume_id": row.volume_id}
    if detail:
        body.update({"attached_at": timestamp(row.attach_time), "detached_at": timestamp(row.detach_time),
                     "attach_mode": row.attach_mode, "connection_info": row.connection_info})
    return body
