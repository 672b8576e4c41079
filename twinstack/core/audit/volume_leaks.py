"""Block storage's leaks: attachments to servers that are gone, and volumes left attaching, in use or detaching
with no attachment at all."""

from __future__ import annotations

from sqlalchemy import not_, select
from sqlalchemy.orm import Session

from twinstack.core.audit.findings import AuditContext, Finding
from twinstack.core.audit.live import live_instance
from twinstack.core.volume import attachments, statuses
from twinstack.core.volume.service import VolumeService
from twinstack.db.models.volume import AttachmentRow, VolumeRow

HELD_STATUSES = (statuses.RESERVED, statuses.ATTACHING, statuses.IN_USE, statuses.DETACHING)
"""Statuses a volume may only be in while an attachment holds it."""


class StrandedAttachments:
    """Attachments whose server is deleted or was never recorded (the conductor forgets a server's attachments
    when its delete finishes; a crash in between strands them). Repair: the attachment is removed, so the volume
    is available again when it was its last. A ``delete_on_termination`` volume is detached, not deleted: its
    back end is not reachable from the audit, and the user can delete it."""

    name = "stranded_attachment"

    def __init__(self, volumes: VolumeService) -> None:
        self.volumes = volumes

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        rows = session.execute(select(AttachmentRow, VolumeRow.status).join(
            VolumeRow, VolumeRow.id == AttachmentRow.volume_id).where(
            AttachmentRow.instance_uuid.is_not(None), not_(live_instance(AttachmentRow.instance_uuid)))
            .order_by(AttachmentRow.volume_id, AttachmentRow.id))
        return [Finding(self.name, row.id, f"volume {row.volume_id} ({status}) is {row.attach_status} to server "
                                           f"{row.instance_uuid}, which is deleted or missing",
                        extra={"volume": row.volume_id}) for row, status in rows]

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        row = session.get(AttachmentRow, finding.subject)
        volume = session.get(VolumeRow, finding.extra["volume"])
        if row is None or volume is None:
            return "already gone"
        attachments.remove(session, self.volumes, volume, row)
        return f"detached; volume {volume.id} is {volume.status}"


class StuckVolumes:
    """Volumes reserved, attaching, in use or detaching that no attachment holds. Repair: available, detached."""

    name = "stuck_volume"

    def __init__(self, volumes: VolumeService) -> None:
        self.volumes = volumes

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        rows = session.scalars(select(VolumeRow).where(
            VolumeRow.status.in_(HELD_STATUSES),
            not_(select(AttachmentRow.id).where(AttachmentRow.volume_id == VolumeRow.id).exists()))
            .order_by(VolumeRow.id))
        return [Finding(self.name, volume.id, f"volume {volume.id} is {volume.status} with no attachment")
                for volume in rows]

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        volume = session.get(VolumeRow, finding.subject)
        if volume is None or volume.status not in HELD_STATUSES:
            return "already settled"
        volume.status, volume.attach_status = statuses.AVAILABLE, statuses.DETACHED
        volume.updated_at = self.volumes.now()
        return "set available"
