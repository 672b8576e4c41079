"""A server's attached volumes follow it when it moves (a resize or cold migration finishing on another host, or
reverted): each is recorded connecting on the new host, with the connection that host gets, and the commands that
connect it (through the back end that exports it when the volume's file is elsewhere) are answered for the
conductor to send and wait for; the export the old host used stops once the new host reads the file itself."""

from __future__ import annotations

import uuid
from typing import Any

from twinstack.cloud import Cloud
from twinstack.core.volume import attachments, statuses
from twinstack.core.volume.pool_records import record_reports
from twinstack.core.volume.server_volumes import HostAttachments, record_export
from twinstack.core.volume.service import VolumeService
from twinstack.db.models.volume import AttachmentRow, VolumeRow
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.volume import PoolReport, UnexportVolume, connect_topic, host_volumes_topic, storage_topic


class Sent:
    """A bus that keeps what is published, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Message]] = []

    def publish(self, topic: str, envelope: Envelope) -> None:
        assert envelope.message is not None
        self.messages.append((topic, envelope.message))

    def take(self) -> list[tuple[str, Message]]:
        taken, self.messages = self.messages, []
        return taken


def attached_volume(svc: VolumeService, host: str) -> tuple[str, str]:
    """A volume of real-a's file back end attached to server ``vm`` on ``host``: (volume id, attachment id)."""
    now = svc.now()
    with svc.transaction() as session:
        record_reports(session, now, "real-a@ssd", [PoolReport(
            name="real-a@ssd#ssd", volume_backend_name="ssd", total_capacity_gb=10, free_capacity_gb=10,
            capabilities={"storage_protocol": "local"})])
        volume = VolumeRow(id=str(uuid.uuid4()), project_id="p", user_id="u", name="v", description=None, size=1,
                           status=statuses.AVAILABLE, attach_status=statuses.DETACHED, availability_zone="nova",
                           volume_type_id=str(uuid.uuid4()), host="real-a@ssd#ssd", bootable=False,
                           multiattach=False, source_volid=None, snapshot_id=None, image_id=None, meta={},
                           image_metadata={}, migration_status=None, pending=None, created_at=now, updated_at=now,
                           launched_at=None)
        session.add(volume)
        session.flush()
        row = attachments.reserve(session, svc, volume, "vm")
        attachments.connect(svc, volume, row, {"host": host, "mountpoint": "/dev/vdb"})
        attachments.complete(svc, volume, row)
        return volume.id, row.id


def attachment(svc: VolumeService, attachment_id: str) -> dict[str, Any]:
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        assert row is not None
        return {"host": row.attached_host, "status": row.attach_status,
                "type": (row.connection_info or {}).get("driver_volume_type")}


def test_a_volume_follows_its_server_to_another_host_through_an_export_then_home_as_a_file(cloud: Cloud) -> None:
    bus = Sent()
    svc = VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume, bus)  # type: ignore[arg-type]
    volume_id, attachment_id = attached_volume(svc, "real-a")
    assert attachment(svc, attachment_id) == {"host": "real-a", "status": "attached", "type": "local"}
    volumes = HostAttachments(svc)

    [command] = volumes.move("vm", "real-b", "m-1")  # to a host without the file: exported by real-a's back end
    assert bus.take() == [], "the commands are the caller's to send (and wait for)"
    assert connect_topic(command) == storage_topic("real-a@ssd")
    assert (command.host, command.export_from, command.mountpoint) == ("real-b", "real-a@ssd", "/dev/vdb")
    assert command.command_id == f"connect-{attachment_id}-m-1-real-b"
    assert attachment(svc, attachment_id) == {"host": "real-b", "status": "attaching", "type": "nbd"}
    volumes.connected(attachment_id, True)
    record_export(svc, attachment_id, {"driver_volume_type": "nbd", "data": {"host": "127.0.0.2", "port": 10809}})
    assert attachment(svc, attachment_id) == {"host": "real-b", "status": "attached", "type": "nbd"}

    assert volumes.move("vm", "real-b", "m-1") == [], "already there"
    assert bus.take() == []
    [command] = volumes.move("vm", "real-a", "m-1")  # home (a revert): the file itself; the export real-b used stops
    [(stop_topic, stop)] = bus.take()
    assert stop_topic == storage_topic("real-a@ssd") and isinstance(stop, UnexportVolume)
    assert (stop.attachment_id, stop.volume_id) == (attachment_id, volume_id)
    assert connect_topic(command) == host_volumes_topic("real-a")
    assert command.export_from is None and command.connection_info["driver_volume_type"] == "local"
    assert command.command_id == f"connect-{attachment_id}-m-1-real-a", "not the first attach's id: done again"
    assert attachment(svc, attachment_id) == {"host": "real-a", "status": "attaching", "type": "local"}


def test_a_connect_that_failed_on_the_way_leaves_the_attachment_for_the_way_back(cloud: Cloud) -> None:
    """A move whose destination failed to connect goes back to its source: the attachment, left 'attaching' on
    the destination (the server's still, never given up as a failed attach is), is connected on the source again,
    and the export the destination would have read through stops."""
    bus = Sent()
    svc = VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume, bus)  # type: ignore[arg-type]
    volume_id, attachment_id = attached_volume(svc, "real-a")
    volumes = HostAttachments(svc)
    [towards] = volumes.move("vm", "real-b", "m-2")
    assert attachment(svc, attachment_id) == {"host": "real-b", "status": "attaching", "type": "nbd"}
    [back] = volumes.move("vm", "real-a", "m-2")
    assert back.command_id != towards.command_id and back.host == "real-a"
    [(_topic, stop)] = bus.take()
    assert isinstance(stop, UnexportVolume) and stop.attachment_id == attachment_id
    volumes.connected(attachment_id, True)
    assert attachment(svc, attachment_id) == {"host": "real-a", "status": "attached", "type": "local"}
    with svc.transaction() as session:
        shown = session.get(VolumeRow, volume_id)
        assert shown is not None and shown.status == statuses.IN_USE, "never available on the way"


def test_an_exported_attachment_that_goes_has_its_export_stopped(cloud: Cloud) -> None:
    bus = Sent()
    svc = VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume, bus)  # type: ignore[arg-type]
    volume_id, attachment_id = attached_volume(svc, "real-b")
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        volume = session.get(VolumeRow, volume_id)
        assert row is not None and volume is not None
        attachments.remove(session, svc, volume, row)
    [(topic, stop)] = bus.take()
    assert topic == storage_topic("real-a@ssd") and isinstance(stop, UnexportVolume)
    assert (stop.backend, stop.volume_id, stop.attachment_id) == ("real-a@ssd", volume_id, attachment_id)


def test_a_local_attachment_that_goes_stops_nothing(cloud: Cloud) -> None:
    bus = Sent()
    svc = VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume, bus)  # type: ignore[arg-type]
    volume_id, attachment_id = attached_volume(svc, "real-a")
    with svc.transaction() as session:
        row = session.get(AttachmentRow, attachment_id)
        volume = session.get(VolumeRow, volume_id)
        assert row is not None and volume is not None
        attachments.remove(session, svc, volume, row)
    assert bus.take() == []
