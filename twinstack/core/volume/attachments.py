"""Attachments: the v3 attachments API (3.27+) and the classic attach/detach actions, over one record.

v3 flow (what Nova does): create (no connector) reserves the volume ('reserved'); update with the host's
connector returns the connection info ('attaching'); complete marks it attached ('in-use'); delete detaches
('available' once no attachment is left). The classic actions walk the same states: os-reserve ('attaching'),
os-initialize_connection, os-attach ('in-use'), os-begin_detaching ('detaching'), os-detach ('available').
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.volume import statuses
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.service import VolumeService
from twinstack.db.models.volume import AttachmentRow, PoolRow, VolumeRow
from twinstack.rpc.volume import UnexportVolume, storage_topic


def storage_protocol(session: Session, volume: VolumeRow) -> str:
    """How the volume's pool says hosts reach its volumes (its reported ``storage_protocol``; iSCSI unless said)."""
    pool = session.get(PoolRow, volume.host) if volume.host else None
    return str((pool.capabilities if pool is not None else {}).get("storage_protocol", "iSCSI"))


def backend_host(volume: VolumeRow) -> str | None:
    """The host whose back end holds the volume (``host`` of ``host@backend#pool``), None while unplaced."""
    return volume.host.split("@", 1)[0] if volume.host else None


def exported_from(volume: VolumeRow, connection: Mapping[str, Any] | None) -> str | None:
    """The back end (``host@backend``) that must export the volume for a connection over NBD, else None."""
    if connection is None or connection.get("driver_volume_type") != "nbd" or not volume.host:
        return None
    return volume.host.split("#", 1)[0]


def connection_info(volume: VolumeRow, mode: str, protocol: str = "iSCSI", host: str | None = None) -> dict[str, Any]:
    """What a host needs to reach the volume (initialize_connection). A ``local`` back end (qcow2 files of a real
    host) names the file and its format, as Cinder's file drivers do, when ``host`` (the connecting host) is the
    back end's own host, or is not known; another host reaches the volume over NBD, exported by the back end for
    this attachment (its ``host`` and ``port`` filled in by the back end's export: see ConnectVolume.export_from).
    Any other back end gets an iSCSI-style target."""
    if protocol == "local" and host is not None and host != backend_host(volume):
        return {"driver_volume_type": "nbd", "data": {
            "volume_id": volume.id, "name": f"volume-{volume.id}", "host": None, "port": None, "format": "raw",
            "access_mode": mode, "encrypted": False}}
    if protocol == "local":
        return {"driver_volume_type": "local", "data": {
            "volume_id": volume.id, "name": f"volume-{volume.id}.qcow2", "format": "qcow2", "access_mode": mode,
            "encrypted": False}}
    backend = (volume.host or "unplaced").split("#", 1)[0]
    return {"driver_volume_type": "iscsi", "data": {
        "volume_id": volume.id, "target_discovered": False, "target_portal": "127.0.0.1:3260",
        "target_iqn": f"iqn.2010-10.org.openstack:{backend.replace('@', '.')}:volume-{volume.id}",
        "target_lun": 1, "access_mode": mode, "encrypted": False}}


def _count(session: Session, volume_id: str) -> int:
    return session.scalar(select(func.count()).select_from(AttachmentRow)
                          .where(AttachmentRow.volume_id == volume_id)) or 0


def check_reservable(volume: VolumeRow) -> None:
    """Cinder's 400 unless the volume may take a new attachment: available (or in use, if multiattach)."""
    usable = volume.status == statuses.AVAILABLE or (
        volume.multiattach and volume.status in (statuses.IN_USE, statuses.RESERVED))
    if not usable:
        raise BadRequest(f"Invalid volume: Volume {volume.id} status must be available or downloading to reserve, "
                         f"but the current status is {volume.status}.")


def reserve(session: Session, svc: VolumeService, volume: VolumeRow, instance_uuid: str | None,
            mode: str = "rw") -> AttachmentRow:
    """A new attachment in 'reserved'. The volume must be available (or in-use, if multiattach)."""
    if mode not in ("rw", "ro"):
        raise BadRequest(f"Invalid input received: Invalid attach mode {mode}")
    check_reservable(volume)
    if instance_uuid is not None and session.scalar(select(AttachmentRow.id).where(
            AttachmentRow.volume_id == volume.id, AttachmentRow.instance_uuid == instance_uuid)) is not None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} is already attached to instance {instance_uuid}.")
    now = svc.now()
    row = AttachmentRow(id=str(uuid.uuid4()), volume_id=volume.id, instance_uuid=instance_uuid,
                        attached_host=None, mountpoint=None, attach_status=statuses.ATTACH_RESERVED,
                        attach_mode=mode, connector=None, connection_info=None, delete_on_termination=False,
                        tag=None, created_at=now, attach_time=None, detach_time=None)
    session.add(row)
    if volume.status == statuses.AVAILABLE:
        volume.status = statuses.RESERVED
    volume.updated_at = now
    return row


def connect(svc: VolumeService, volume: VolumeRow, row: AttachmentRow, connector: Mapping[str, Any]) -> None:
    """Record the host's connector and the connection info that answers it; the attachment is 'attaching'."""
    row.connector = dict(connector)
    row.attached_host = str(connector.get("host")) if connector.get("host") else row.attached_host
    row.mountpoint = str(connector.get("mountpoint")) if connector.get("mountpoint") else row.mountpoint
    session = object_session(volume)
    protocol = storage_protocol(session, volume) if session is not None else "iSCSI"
    row.connection_info = connection_info(volume, row.attach_mode, protocol, row.attached_host)
    row.attach_status = statuses.ATTACH_ATTACHING
    if volume.status in (statuses.RESERVED, statuses.AVAILABLE):
        volume.status = statuses.ATTACHING
    volume.updated_at = svc.now()


def complete(svc: VolumeService, volume: VolumeRow, row: AttachmentRow) -> None:
    now = svc.now()
    row.attach_status = statuses.ATTACHED
    row.attach_time = now
    volume.status = statuses.IN_USE
    volume.attach_status = statuses.ATTACHED
    volume.updated_at = now


def remove(session: Session, svc: VolumeService, volume: VolumeRow, row: AttachmentRow) -> None:
    """Forget the attachment; the volume is available (and detached) when it was the last one. A volume its back
    end exported for the attachment (over NBD) has the export stopped (Cinder's terminate_connection): told once
    the attachment goes, whether its host let go (a detach) or the attachment was given up or its server went."""
    backend = exported_from(volume, row.connection_info)
    if backend is not None and svc.bus is not None:
        svc.send(storage_topic(backend), UnexportVolume(backend=backend, volume_id=volume.id, attachment_id=row.id))
    session.delete(row)
    session.flush()
    if _count(session, volume.id) == 0:
        volume.status = statuses.AVAILABLE
        volume.attach_status = statuses.DETACHED
    elif volume.status == statuses.DETACHING:
        volume.status = statuses.IN_USE
    volume.updated_at = svc.now()


def get_attachment(session: Session, attachment_id: str, scope: str | None) -> tuple[AttachmentRow, VolumeRow]:
    row = session.get(AttachmentRow, attachment_id)
    volume = session.get(VolumeRow, row.volume_id) if row is not None else None
    if row is None or volume is None or (scope is not None and volume.project_id != scope):
        raise NotFound(f"Volume attachment {attachment_id} could not be found.")
    return row, volume


def list_attachments(session: Session, scope: str | None, filters: Mapping[str, str]) -> list[AttachmentRow]:
    query = select(AttachmentRow).join(VolumeRow, VolumeRow.id == AttachmentRow.volume_id).order_by(
        AttachmentRow.created_at.desc(), AttachmentRow.id)
    if scope is not None:
        query = query.where(VolumeRow.project_id == scope)
    if "volume_id" in filters:
        query = query.where(AttachmentRow.volume_id == filters["volume_id"])
    if "instance_id" in filters:
        query = query.where(AttachmentRow.instance_uuid == filters["instance_id"])
    if "status" in filters:
        query = query.where(AttachmentRow.attach_status == filters["status"])
    return list(session.scalars(query))


# the v3 attachments API

def attachment_create(svc: VolumeService, volume_id: str, scope: str | None, instance_uuid: str | None,
                      connector: Mapping[str, Any] | None, mode: str) -> AttachmentRow:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        row = reserve(session, svc, volume, instance_uuid, mode)
        if connector:
            connect(svc, volume, row, connector)
        session.flush()
        session.refresh(row)
        session.expunge(row)
        return row


def attachment_update(svc: VolumeService, attachment_id: str, scope: str | None,
                      connector: Mapping[str, Any]) -> AttachmentRow:
    with svc.transaction() as session:
        row, volume = get_attachment(session, attachment_id, scope)
        if not connector:
            raise BadRequest("Invalid input received: connector is required to update an attachment.")
        connect(svc, volume, row, connector)
        session.flush()
        session.expunge(row)
        return row


def attachment_complete(svc: VolumeService, attachment_id: str, scope: str | None) -> None:
    with svc.transaction() as session:
        row, volume = get_attachment(session, attachment_id, scope)
        complete(svc, volume, row)


def attachment_delete(svc: VolumeService, attachment_id: str, scope: str | None) -> list[AttachmentRow]:
    """Detach; returns the volume's attachments that remain (Cinder answers with them)."""
    with svc.transaction() as session:
        row, volume = get_attachment(session, attachment_id, scope)
        remove(session, svc, volume, row)
        remaining = list(session.scalars(select(AttachmentRow).where(AttachmentRow.volume_id == volume.id)))
        for left in remaining:
            session.expunge(left)
        return remaining


# the classic actions

def os_reserve(svc: VolumeService, volume_id: str, scope: str | None) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        if volume.status != statuses.AVAILABLE and not (volume.multiattach and volume.status == statuses.IN_USE):
            raise BadRequest(f"Invalid volume: Volume status must be available to reserve, but the status is "
                             f"{volume.status}.")
        volume.status = statuses.ATTACHING
        volume.updated_at = svc.now()


def os_unreserve(svc: VolumeService, volume_id: str, scope: str | None) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        if volume.status == statuses.ATTACHING:
            volume.status = statuses.IN_USE if _count(session, volume.id) else statuses.AVAILABLE
            volume.updated_at = svc.now()


def os_attach(svc: VolumeService, volume_id: str, scope: str | None, instance_uuid: str | None,
              host_name: str | None, mountpoint: str, mode: str) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        if volume.status == statuses.ATTACHING:
            volume.status = statuses.AVAILABLE  # reserved by os-reserve: reserve() takes it from here
        row = reserve(session, svc, volume, instance_uuid, mode)
        connect(svc, volume, row, {"host": host_name, "mountpoint": mountpoint})
        complete(svc, volume, row)


def os_begin_detaching(svc: VolumeService, volume_id: str, scope: str | None) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        if volume.status != statuses.IN_USE or volume.attach_status != statuses.ATTACHED:
            raise BadRequest(f"Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
                             f"attach_status must be 'attached' to detach, currently {volume.status}.")
        volume.status = statuses.DETACHING
        volume.updated_at = svc.now()


def os_roll_detaching(svc: VolumeService, volume_id: str, scope: str | None) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        if volume.status == statuses.DETACHING:
            volume.status = statuses.IN_USE
            volume.updated_at = svc.now()


def os_detach(svc: VolumeService, volume_id: str, scope: str | None, attachment_id: str | None) -> None:
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope, for_update=True)
        rows = list(session.scalars(select(AttachmentRow).where(AttachmentRow.volume_id == volume.id)))
        if attachment_id is not None:
            rows = [r for r in rows if r.id == attachment_id]
        if not rows:
            raise BadRequest(f"Invalid volume: Volume {volume.id} is not attached.")
        if len(rows) > 1:
            raise BadRequest("Invalid volume: Volume has more than one attachment; give attachment_id.")
        remove(session, svc, volume, rows[0])
