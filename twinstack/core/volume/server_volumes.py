"""Nova's side of attaching a volume to a server (os-volume_attachments), over the volume service's records.

The seam with compute is :class:`ServerRef`: the compute API reads the server and passes what this needs (its
uuid, project, host and states); nothing here reads compute's tables. As in Nova, the API only reserves: attaching
records a 'reserved' attachment with its device (Nova answers 200 with the device at once), and the compute API
casts AttachVolume to the conductor. The conductor (:mod:`twinstack.core.compute.volume_attach`) asks
:class:`HostAttachments` for the host's connection ('attaching') and the ConnectVolume command, sends it with a
deadline, and completes the attachment ('in-use') on the host's answer or removes it (volume 'available' again,
with a user message) on a failure or silence. Detaching is the mirror image: the API marks it 'detaching', the
conductor has the host disconnect it. A server on no host (shelved offloaded) is attached or detached in the
records alone.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from twinstack.core.compute import states
from twinstack.core.compute.block_devices import RootVolume
from twinstack.core.compute.volume_attach import StuckAttachment
from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.volume import attachments, lifecycle, statuses, user_messages
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.service import VolumeService
from twinstack.db.models.volume import AttachmentRow, VolumeRow
from twinstack.rpc.volume import (
    ConnectVolume,
    DisconnectVolume,
    HostVolumeResult,
    UnexportVolume,
    host_volumes_topic,
    storage_topic,
)

ATTACH_VM_STATES = frozenset({states.ACTIVE, states.PAUSED, states.STOPPED, states.RESIZED, states.SOFT_DELETED,
                              states.SHELVED, states.SHELVED_OFFLOADED, states.SUSPENDED})
"""Nova's check_instance_state for attach_volume and detach_volume."""
ROOT_REFUSED = "Cannot detach a root device volume"
"""Nova's 400 for a detach of a volume-backed server's root volume (checked before the server's state)."""


@dataclass(frozen=True)
class ServerRef:
    uuid: str
    project_id: str
    host: str | None
    vm_state: str
    task_state: str | None = None
    root: RootVolume | None = None
    """A volume-backed server's root volume: never detached (Nova's "Cannot detach a root device volume")."""


def _check_server(server: ServerRef, verb: str) -> None:
    if server.vm_state not in ATTACH_VM_STATES:
        raise Conflict(f"Cannot '{verb}' instance {server.uuid} while it is in vm_state {server.vm_state}")
    if server.task_state is not None:
        raise Conflict(f"Cannot '{verb}' instance {server.uuid} while it is in task_state {server.task_state}")


def next_device(taken: set[str]) -> str:
    """The first free ``/dev/vdX`` after the root disk ``/dev/vda``."""
    for letter in string.ascii_lowercase[1:]:
        device = f"/dev/vd{letter}"
        if device not in taken:
            return device
    raise BadRequest("No free device name is left on this server.")


def server_attachments(svc: VolumeService, server_uuid: str) -> list[AttachmentRow]:
    with svc.transaction() as session:
        rows = list(session.scalars(select(AttachmentRow).where(AttachmentRow.instance_uuid == server_uuid)
                                    .order_by(AttachmentRow.created_at)))
        for row in rows:
            session.expunge(row)
        return rows


def attach(svc: VolumeService, server: ServerRef, volume_id: str, scope: str | None, device: str | None = None,
           tag: str | None = None, delete_on_termination: bool = False) -> AttachmentRow:
    """Reserve ``volume_id`` for the server with its device; returns the attachment (its ``mountpoint`` is the
    device). A server on a host is then the conductor's to connect (its attachment stays 'reserved' until
    then); one on no host is attached in the records at once. Refused: 409 for a server in the wrong state, 400
    for a volume that is not available."""
    _check_server(server, "attach_volume")
    with svc.transaction() as session:
        try:
            volume = get_volume(session, volume_id, scope, for_update=True)
        except NotFound as exc:
            raise NotFound(f"Volume {volume_id} could not be found.") from exc
        taken = set(session.scalars(select(AttachmentRow.mountpoint)
                                    .where(AttachmentRow.instance_uuid == server.uuid)))
        row = attachments.reserve(session, svc, volume, server.uuid)
        row.mountpoint = device or next_device({t for t in taken if t})
        row.tag = tag
        row.delete_on_termination = delete_on_termination
        if server.host is None:
            attachments.connect(svc, volume, row, {"host": None, "mountpoint": row.mountpoint})
            attachments.complete(svc, volume, row)
        session.flush()
        session.expunge(row)
    return row


def connect_command(svc: VolumeService, volume: VolumeRow, row: AttachmentRow, host: str,
                    mountpoint: str) -> ConnectVolume:
    """Record ``host``'s connection on the reserved attachment ('attaching') and make the command that asks the
    host to connect it; the volume manager completes the attachment when the host answers. Send it once the
    records are committed. Shared by ``server add volume`` and booting from volumes."""
    attachments.connect(svc, volume, row, {"host": host, "mountpoint": mountpoint})
    return connect_again(volume, row, host)


def connect_again(volume: VolumeRow, row: AttachmentRow, host: str, command_id: str | None = None) -> ConnectVolume:
    """The command that connects the attachment recorded as connecting on ``host`` (the same id each time, unless
    ``command_id`` says another). A volume reached over NBD goes through its back end first, which exports it
    (again, for a repeat: the same export) and sends the command on."""
    assert row.connection_info is not None
    return ConnectVolume(command_id=command_id or connect_id(row.id), host=host, instance_uuid=row.instance_uuid or "",
                         volume_id=volume.id, attachment_id=row.id, mountpoint=row.mountpoint or "",
                         connection_info=row.connection_info,
                         export_from=attachments.exported_from(volume, row.connection_info))


def detach(svc: VolumeService, server: ServerRef, volume_id: str) -> AttachmentRow | None:
    """Begin detaching ``volume_id`` from the server (404 if it is not attached there): the attachment is
    'detaching' and returned, for the conductor to have its host disconnect it; None when it was forgotten in
    the records at once (the server, or the attachment, is on no host)."""
    with svc.transaction() as session:
        row = session.scalar(select(AttachmentRow).where(AttachmentRow.instance_uuid == server.uuid,
                                                         AttachmentRow.volume_id == volume_id))
        volume = session.get(VolumeRow, volume_id)
        if row is None or volume is None:
            raise NotFound(f"Volume {volume_id} is not attached to server {server.uuid}")
        if server.root is not None and server.root.matches(row.volume_id, row.mountpoint):
            raise BadRequest(ROOT_REFUSED)
        _check_server(server, "detach_volume")
        if row.attach_status != statuses.ATTACHED:
            raise BadRequest(f"Invalid volume: Volume {volume_id} is {row.attach_status}, not attached.")
        if server.host is None or row.attached_host is None:
            attachments.remove(session, svc, volume, row)
            return None
        row.attach_status = statuses.ATTACH_DETACHING
        volume.status = statuses.DETACHING
        volume.updated_at = svc.now()
        session.flush()
        session.expunge(row)
        return row


def record_export(svc: VolumeService, attachment_id: str, connection: dict[str, Any]) -> None:
    """The back end exported the attachment's volume at ``connection``: what the attachment records (and shows)
    from then on. An attachment gone meanwhile, or no longer over NBD, is left alone."""
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        if row is None or (row.connection_info or {}).get("driver_volume_type") != connection.get("driver_volume_type"):
            return
        row.connection_info = dict(connection)


def host_answered(svc: VolumeService, answer: HostVolumeResult) -> None:
    """A host's answer to a connect or a disconnect that named no conductor to answer (booting from volumes, a
    server's volumes let go or connected anew after a move): the attachment follows."""
    if answer.action == "connect":
        finish_connect(svc, answer.attachment_id, answer.ok)
    else:
        finish_disconnect(svc, answer.attachment_id, answer.ok, answer.host)


def finish_connect(svc: VolumeService, attachment_id: str, ok: bool) -> None:
    """The host answered a connect: the attachment is complete ('in-use'), or it goes (volume available, with a
    user message). Only an attachment still 'attaching' changes: a repeated or late answer changes nothing."""
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        volume = session.get(VolumeRow, row.volume_id) if row is not None else None
        if row is None or volume is None or row.attach_status != statuses.ATTACH_ATTACHING:
            return
        if ok:
            attachments.complete(svc, volume, row)
            return
        attachments.remove(session, svc, volume, row)
        user_messages.record(session, svc.now(), volume.project_id, volume.id, user_messages.ATTACH_VOLUME,
                             user_messages.UNKNOWN_ERROR)


def finish_disconnect(svc: VolumeService, attachment_id: str, ok: bool, host: str | None = None) -> None:
    """The host answered a disconnect: the attachment goes (volume available once it was the last), or, if the
    host failed, the detach is rolled back (Cinder's roll_detaching: 'in-use', still attached) so that it can be
    asked again. Only an attachment still 'detaching' changes, but for one: a detach given up at its deadline
    (rolled back to attached) whose host (``host``, the attachment's own) then says it did let the volume go; the
    detach is done then, as the guest no longer has the volume."""
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        volume = session.get(VolumeRow, row.volume_id) if row is not None else None
        if row is None or volume is None:
            return
        late = ok and host is not None and row.attach_status == statuses.ATTACHED and row.attached_host == host
        if row.attach_status != statuses.ATTACH_DETACHING and not late:
            return
        if ok:
            attachments.remove(session, svc, volume, row)
            return
        row.attach_status = statuses.ATTACHED
        volume.status = statuses.IN_USE
        volume.updated_at = svc.now()


class HostAttachments:
    """What the conductor asks of block storage to attach and detach a running server's volumes
    (:class:`twinstack.core.compute.volume_attach.AttachedVolumes`)."""

    def __init__(self, svc: VolumeService) -> None:
        self.svc = svc

    def connect(self, attachment_id: str, host: str) -> ConnectVolume | None:
        """Record ``host``'s connection on the reserved attachment and answer the command to send (the same one
        again for an attachment already connecting there). None: nothing to connect (attached already, or
        gone), or the attachment was connecting on another host (a redelivery after the server moved): then it
        is given up, as the sweep would, rather than left 'attaching' for good, and that host told to let go."""
        stale: DisconnectVolume | None = None
        with self.svc.transaction() as session:
            row = session.get(AttachmentRow, attachment_id)
            volume = session.get(VolumeRow, row.volume_id) if row is not None else None
            if row is None or volume is None or row.instance_uuid is None:
                return None
            if row.attach_status == statuses.ATTACH_RESERVED:
                return connect_command(self.svc, volume, row, host, row.mountpoint or next_device(set()))
            if row.attach_status == statuses.ATTACH_ATTACHING and row.attached_host == host:
                return connect_again(volume, row, host)
            if row.attach_status == statuses.ATTACH_ATTACHING:
                if row.attached_host is not None:
                    stale = DisconnectVolume(host=row.attached_host, instance_uuid=row.instance_uuid,
                                             volume_id=volume.id, attachment_id=row.id)
                attachments.remove(session, self.svc, volume, row)
                user_messages.record(session, self.svc.now(), volume.project_id, volume.id,
                                     user_messages.ATTACH_VOLUME, user_messages.UNKNOWN_ERROR)
        if stale is not None:
            self.svc.send(host_volumes_topic(stale.host), stale)
        return None

    def connected(self, attachment_id: str, ok: bool) -> None:
        finish_connect(self.svc, attachment_id, ok)

    def move(self, instance_uuid: str, host: str, move_id: str) -> list[ConnectVolume]:
        """The server is to run on ``host`` (a resize or cold migration finishing there, or reverted): each of its
        volumes connected elsewhere (attached, or left connecting on a host the move gave up) is recorded
        'attaching' on ``host`` with the connection ``host`` gets (the file when the volume's back end is there,
        else the back end's export), as Nova's finish_resize updates each attachment with the new host's
        connector. Answers the ConnectVolume commands, for the caller to send (to ``connect_topic``) and wait for:
        each connect's id names the move and the host, so a host that connected the attachment before (a revert
        back to it, a later move there) does it again rather than answering from its memory of the old one. An
        export the old host used is stopped at once when ``host`` reads the file itself; one ``host`` still needs
        serves it too (an export per attachment)."""
        connects: list[ConnectVolume] = []
        unexports: list[UnexportVolume] = []
        with self.svc.transaction() as session:
            rows = list(session.scalars(select(AttachmentRow).where(
                AttachmentRow.instance_uuid == instance_uuid,
                AttachmentRow.attach_status.in_((statuses.ATTACHED, statuses.ATTACH_ATTACHING)))))
            for row in rows:
                volume = session.get(VolumeRow, row.volume_id)
                if volume is None or row.attached_host is None or row.attached_host == host:
                    continue
                before = attachments.exported_from(volume, row.connection_info)
                attachments.connect(self.svc, volume, row, {"host": host,
                                                            "mountpoint": row.mountpoint or next_device(set())})
                command = connect_again(volume, row, host, f"{connect_id(row.id)}-{move_id}-{host}")
                if before is not None and command.export_from is None:
                    unexports.append(UnexportVolume(backend=before, volume_id=volume.id, attachment_id=row.id))
                connects.append(command)
        for unexport in unexports:
            self.svc.send(storage_topic(unexport.backend), unexport)
        return connects

    def give_up_connect(self, attachment_id: str) -> bool:
        """The attach failed before or without the host's answer: the attachment goes, whatever its state short
        of attached (volume available again, with a user message). True if it went; False if there was none
        left to give up (attached meanwhile, by an answer that came another way, or gone already)."""
        with self.svc.transaction() as session:
            row = session.get(AttachmentRow, attachment_id)
            volume = session.get(VolumeRow, row.volume_id) if row is not None else None
            if row is None or volume is None or row.attach_status not in (statuses.ATTACH_RESERVED,
                                                                           statuses.ATTACH_ATTACHING):
                return False
            attachments.remove(session, self.svc, volume, row)
            user_messages.record(session, self.svc.now(), volume.project_id, volume.id, user_messages.ATTACH_VOLUME,
                                 user_messages.UNKNOWN_ERROR)
            return True

    def is_attached(self, attachment_id: str) -> bool:
        with self.svc.transaction() as session:
            row = session.get(AttachmentRow, attachment_id)
            return row is not None and row.attach_status == statuses.ATTACHED

    def disconnect(self, attachment_id: str) -> DisconnectVolume | None:
        """The command that asks the attachment's host to disconnect it, while it is 'detaching' (None
        otherwise: a redelivered DetachVolume after the detach finished). A fresh command id each time: a detach
        that failed and is asked again must be redone, not answered from the host's memory of the failure."""
        with self.svc.transaction() as session:
            row = session.get(AttachmentRow, attachment_id)
            if row is None or row.attach_status != statuses.ATTACH_DETACHING or row.attached_host is None:
                return None
            return DisconnectVolume(host=row.attached_host,
                                    instance_uuid=row.instance_uuid or "", volume_id=row.volume_id,
                                    attachment_id=row.id)

    def disconnected(self, attachment_id: str, ok: bool, host: str | None = None) -> None:
        finish_disconnect(self.svc, attachment_id, ok, host)

    def forget(self, attachment_id: str) -> None:
        """The server is on no host: the attachment goes in the records alone, unless it is attached (that one
        is the server's, detached only when asked)."""
        with self.svc.transaction() as session:
            row = session.get(AttachmentRow, attachment_id)
            volume = session.get(VolumeRow, row.volume_id) if row is not None else None
            if row is not None and volume is not None and row.attach_status != statuses.ATTACHED:
                attachments.remove(session, self.svc, volume, row)

    def stuck(self, older_than: float) -> list[StuckAttachment]:
        """Servers' attachments 'reserved' or 'attaching' since a reservation more than ``older_than`` seconds
        ago, and 'detaching' ones whose volume has not changed for as long."""
        cutoff = self.svc.now() - dt.timedelta(seconds=older_than)
        waiting = (statuses.ATTACH_RESERVED, statuses.ATTACH_ATTACHING)
        with self.svc.transaction() as session:
            rows = session.execute(select(AttachmentRow, VolumeRow.updated_at)
                                   .join(VolumeRow, VolumeRow.id == AttachmentRow.volume_id)
                                   .where(AttachmentRow.instance_uuid.is_not(None),
                                          AttachmentRow.attach_status.in_((*waiting, statuses.ATTACH_DETACHING))))
            return [StuckAttachment(row.id, row.instance_uuid or "", row.volume_id, row.attach_status,
                                    row.attached_host)
                    for row, changed in rows
                    if (row.created_at if row.attach_status in waiting else changed) < cutoff]


def connect_id(attachment_id: str) -> str:
    """One command id per attachment's connect: a connect sent again is a repeat the host answers, not redoes."""
    return f"connect-{attachment_id}"


def volumes_attached(svc: VolumeService, server_uuid: str) -> list[dict[str, object]]:
    """Nova's ``os-extended-volumes:volumes_attached`` for a server: ``[{"id", "delete_on_termination"}]``
    (the server view shows ``delete_on_termination`` from 2.3). For the compute API's server views."""
    return [{"id": row.volume_id, "delete_on_termination": row.delete_on_termination}
            for row in server_attachments(svc, server_uuid) if row.attach_status == statuses.ATTACHED]


def volumes_attached_by_server(svc: VolumeService, server_uuids: list[str]) -> dict[str, list[dict[str, object]]]:
    """:func:`volumes_attached` for many servers in one query (a page of the server list)."""
    found: dict[str, list[dict[str, object]]] = {uuid: [] for uuid in server_uuids}
    if not server_uuids:
        return found
    with svc.transaction() as session:
        rows = session.scalars(select(AttachmentRow).where(AttachmentRow.instance_uuid.in_(server_uuids),
                                                           AttachmentRow.attach_status == statuses.ATTACHED)
                               .order_by(AttachmentRow.created_at))
        for row in rows:
            listed = found.get(row.instance_uuid or "")
            if listed is not None:
                listed.append({"id": row.volume_id, "delete_on_termination": row.delete_on_termination})
    return found


def release_server(svc: VolumeService, server_uuid: str, disconnect: bool = False) -> list[str]:
    """A server is gone (its host destroyed it): forget its attachments, so each volume is available again, and
    delete the volumes attached with ``delete_on_termination``. Idempotent. Returns the volumes it deletes.

    For the conductor to call once a server's destroy is confirmed (or the server is deleted locally): Nova's
    compute manager does the same in ``_cleanup_volumes``. With ``disconnect`` (a build given up, whose host
    may still hold connections) each host holding one is also told to let it go; its answer finds no
    attachment left and changes nothing."""
    doomed: list[str] = []
    commands: list[DisconnectVolume] = []
    with svc.transaction() as session:
        rows = list(session.scalars(select(AttachmentRow).where(AttachmentRow.instance_uuid == server_uuid)))
        for row in rows:
            volume = session.get(VolumeRow, row.volume_id)
            if volume is None:
                continue
            if row.delete_on_termination:
                doomed.append(volume.id)
            if disconnect and row.attached_host is not None:
                commands.append(DisconnectVolume(host=row.attached_host, instance_uuid=server_uuid,
                                                 volume_id=volume.id, attachment_id=row.id))
            attachments.remove(session, svc, volume, row)
    for command in commands:
        svc.send(host_volumes_topic(command.host), command)
    for volume_id in doomed:
        lifecycle.delete_volume(svc, volume_id, None)
    return doomed
