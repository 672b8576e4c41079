"""Block storage's part of snapshotting a volume-backed server (Nova's ``snapshot_volume_backed``): each volume
attached to the server is snapshotted (forced: it is in use), and the image mapping of each snapshot is answered
for the image compute writes. The snapshots are 'creating' when this returns: a boot from the image makes its
volumes once they are available."""

from __future__ import annotations

from typing import Any

from twinstack.core.compute.image_mappings import ROOT_DEVICE_NAME, snapshot_mapping
from twinstack.core.volume import snapshots, statuses
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.server_volumes import server_attachments
from twinstack.core.volume.service import VolumeService


class ServerVolumeSnapshots:
    """``twinstack.core.compute.service.VolumeSnapshots`` over this cloud's volume service."""

    def __init__(self, svc: VolumeService, user_id: str) -> None:
        self.svc = svc
        self.user_id = user_id

    def snapshot(self, server_uuid: str, image_name: str) -> list[dict[str, Any]]:
        """Snapshot every volume attached to the server ("snapshot for <image name>", as Nova names them) and
        answer their image mappings, the root (``/dev/vda``) first with boot index 0."""
        mappings: list[dict[str, Any]] = []
        for row in server_attachments(self.svc, server_uuid):
            if row.attach_status != statuses.ATTACHED:
                continue
            with self.svc.transaction() as session:
                volume = get_volume(session, row.volume_id, None)
                size, description = volume.size, volume.description
            snapshot = snapshots.create_snapshot(self.svc, row.volume_id, None, self.user_id,
                                                 f"snapshot for {image_name}", description, {}, force=True)
            root = row.mountpoint == ROOT_DEVICE_NAME
            mappings.append(snapshot_mapping(snapshot.id, size, row.mountpoint, 0 if root else None,
                                             row.delete_on_termination, row.tag))
        mappings.sort(key=lambda m: m["boot_index"] != 0)
        return mappings
