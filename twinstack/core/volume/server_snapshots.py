"""Block storage's part of snapshotting a volume-backed server (Nova's ``snapshot_volume_backed``): each volume
attached to the server is snapshotted (forced: it is in use), and the image mapping of each snapshot is answered
for the image compute writes. The snapshots are 'creating' when this returns: a boot from the image makes its
volumes once they are available."""

from __future__ import annotations

import logging
from typing import Any

from twinstack.core.compute.block_devices import RootVolume
from twinstack.core.compute.image_mappings import snapshot_mapping
from twinstack.core.errors import CloudError
from twinstack.core.volume import snapshots, statuses
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.server_volumes import server_attachments
from twinstack.core.volume.service import VolumeService

LOG = logging.getLogger(__name__)


class ServerVolumeSnapshots:
    """``twinstack.core.compute.service.VolumeSnapshots`` over this cloud's volume service."""

    def __init__(self, svc: VolumeService, user_id: str) -> None:
        self.svc = svc
        self.user_id = user_id

    def snapshot(self, server_uuid: str, image_name: str, root: RootVolume | None) -> list[dict[str, Any]]:
        """Snapshot every volume attached to the server ("snapshot for <image name>", as Nova names them) and
        answer their image mappings, the root (``root``: the server's root mapping, whatever its device) first
        with boot index 0. All or none: a snapshot refused (quota, state) deletes the ones already made, so a
        failed image leaves no snapshot behind (Nova's snapshot_volume_backed cleans up the same way)."""
        mappings: list[dict[str, Any]] = []
        made: list[str] = []
        try:
            for row in server_attachments(self.svc, server_uuid):
                if row.attach_status != statuses.ATTACHED:
                    continue
                with self.svc.transaction() as session:
                    volume = get_volume(session, row.volume_id, None)
                    size, description = volume.size, volume.description
                snapshot = snapshots.create_snapshot(self.svc, row.volume_id, None, self.user_id,
                                                     f"snapshot for {image_name}", description, {}, force=True)
                made.append(snapshot.id)
                is_root = root is not None and root.matches(row.volume_id, row.mountpoint)
                mappings.append(snapshot_mapping(snapshot.id, size, row.mountpoint, 0 if is_root else None,
                                                 row.delete_on_termination, row.tag))
        except CloudError:
            self.discard(made)
            raise
        mappings.sort(key=lambda m: m["boot_index"] != 0)
        return mappings

    def discard(self, snapshot_ids: list[str]) -> None:
        """Delete snapshots made for an image that will not be (forced: they may still be 'creating')."""
        for snapshot_id in snapshot_ids:
            try:
                snapshots.delete_snapshot(self.svc, snapshot_id, None, force=True)
            except CloudError as exc:
                LOG.warning("snapshot %s of a failed server image left behind: %s", snapshot_id, exc.message)
