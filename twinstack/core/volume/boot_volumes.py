"""Nova's side of booting a server from volumes (``block_device_mapping_v2``), over the volume service's records.

Three moments, as in Nova:

* the API checks the mappings (:func:`check_mappings`: volumes, snapshots, images and types the caller may
  see, bootable roots, sizes; Nova's 400s) and, once the server is recorded, reserves the existing volumes
  for it (:func:`reserve_mappings`: each volume 'reserved', so no one else takes it while the server builds);
* the conductor, once a host is claimed, steps the build's volumes along (:meth:`BlockStorageForBoot.prepare`):
  volumes to be made from an image, a snapshot or nothing are created (by the volume manager, as any volume),
  reserved when available, and connected on the host through ``ConnectVolume``, the path ``server add volume``
  takes; the server is spawned when every one is attached ('in-use');
* a build that fails releases them all (:meth:`BlockStorageForBoot.abandon`): nothing stays attached or
  reserved, and the volumes the build made are deleted with those marked delete_on_termination.

The seam with compute is :class:`~twinstack.core.compute.block_devices.BootVolumes`: nothing here reads compute's
tables, and compute reads none of these.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.compute import block_devices
from twinstack.core.compute.block_devices import (
    BlockDeviceMapping,
    BootServer,
    BuildVolumes,
    Preparation,
    RootImage,
    device_path,
    volume_mappings,
)
from twinstack.core.errors import BadRequest, CloudError, NotFound
from twinstack.core.image.images import get_image, image_spec
from twinstack.core.policy import Credentials
from twinstack.core.volume import attachments, lifecycle, statuses
from twinstack.core.volume.creation import IMAGE_PROPERTIES_COPIED, CreateVolumeRequest, create_volume
from twinstack.core.volume.lookup import get_snapshot, get_volume
from twinstack.core.volume.server_volumes import connect_command, next_device, release_server
from twinstack.core.volume.service import VolumeService
from twinstack.core.volume.types import get_type
from twinstack.db.models.volume import AttachmentRow, VolumeRow
from twinstack.rpc.compute import ImageSpec
from twinstack.rpc.messages import Command
from twinstack.rpc.volume import DisconnectVolume, connect_topic, host_volumes_topic

LOG = logging.getLogger(__name__)
ROOT_DEVICE = block_devices.ROOT_DEVICE
MEMBER_ROLES = frozenset({"member", "reader"})


# the API's moment


def check_mappings(
    svc: VolumeService, creds: Credentials, mappings: Sequence[BlockDeviceMapping], count: int
) -> RootImage | None:
    """Nova's checks of the volume mappings of a create, with its 400s; changes nothing. Returns what the
    flavor checks need of a volume root (None if the root is not a volume)."""
    if count > 1 and any(m.source_type == "volume" for m in mappings):
        raise BadRequest("Cannot attach one or more volumes to multiple instances")
    scope = None if creds.is_admin else creds.project_id
    root: RootImage | None = None
    with svc.transaction() as session:
        for mapping in mappings:
            if mapping.volume_type:
                try:
                    get_type(session, creds, creds.is_admin, mapping.volume_type)
                except NotFound:
                    raise BadRequest(f"Volume type {mapping.volume_type} could not be found.") from None
            found = _check_mapping(session, creds, scope, mapping)
            if mapping.is_root and mapping.is_volume:
                root = found
    return root


def _check_mapping(
    session: Session, creds: Credentials, scope: str | None, mapping: BlockDeviceMapping
) -> RootImage | None:
    uuid = mapping.uuid or ""
    if mapping.source_type == "image":
        try:
            image = get_image(session, creds, uuid)
        except NotFound:
            raise BadRequest(f"Block Device Mapping is Invalid: failed to get image {uuid}.") from None
        if mapping.is_volume and not mapping.volume_size:
            raise BadRequest("Images with destination_type 'volume' need to have a non-zero size specified")
        if mapping.is_root and image.status != "active":
            raise BadRequest(f"Image {uuid} is not active.")
        return RootImage(min_ram=image.min_ram, min_disk=image.min_disk, volume_size=mapping.volume_size,
                         image=image_spec(image))
    if mapping.source_type == "volume":
        try:
            volume = get_volume(session, uuid, scope)
        except NotFound:
            raise BadRequest(f"Block Device Mapping is Invalid: failed to get volume {uuid}.") from None
        if mapping.is_root and not volume.bootable:
            raise BadRequest(f"Block Device {uuid} is not bootable.")
        try:
            attachments.check_reservable(volume)
        except BadRequest as exc:  # Nova wraps Cinder's refusal of the reservation
            raise BadRequest(f"Invalid volume: Invalid input received: {exc.message}") from None
        return _root_of_volume(volume, None)
    if mapping.source_type == "snapshot":
        try:
            snapshot = get_snapshot(session, uuid, scope)
        except NotFound:
            raise BadRequest(f"Block Device Mapping is Invalid: failed to get snapshot {uuid}.") from None
        origin = session.get(VolumeRow, snapshot.volume_id)
        if mapping.is_root and origin is not None and not origin.bootable:
            raise BadRequest(f"Block Device {origin.id} is not bootable.")
        return _root_of_volume(origin, mapping.volume_size or snapshot.size) if origin is not None else None
    if mapping.is_volume and not mapping.volume_size:
        raise BadRequest("Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
    return None


def _root_of_volume(volume: VolumeRow, size: int | None) -> RootImage:
    """Nova's image metadata of a volume: the minimums of the image it was made from, as Cinder keeps them, and
    that image's properties (what a host boots the volume with)."""
    meta = volume.image_metadata or {}
    image = None
    if meta.get("image_id"):
        kept = {k: str(v) for k, v in meta.items() if k not in ("image_id", "image_name", *IMAGE_PROPERTIES_COPIED)}
        image = ImageSpec(id=str(meta["image_id"]), disk_format=str(meta.get("disk_format") or "raw"),
                          container_format=str(meta.get("container_format") or "bare"), properties=kept)
    return RootImage(min_ram=int(meta.get("min_ram") or 0), min_disk=int(meta.get("min_disk") or 0), volume_size=size,
                     image=image)


def reserve_mappings(
    svc: VolumeService, server_uuid: str, mappings: Sequence[BlockDeviceMapping], scope: str | None
) -> set[int]:
    """Reserve each existing volume of the mappings for the recorded server ('reserved'), all or none; 400 if one
    was taken meanwhile. Returns the indexes of the mappings reserved."""
    reserved: set[int] = set()
    with svc.transaction() as session:
        for index, mapping in volume_mappings(mappings):
            if mapping.source_type != "volume" or not mapping.uuid:
                continue
            volume = get_volume(session, mapping.uuid, scope, for_update=True)
            row = attachments.reserve(session, svc, volume, server_uuid)
            row.delete_on_termination = mapping.delete_on_termination
            row.tag = mapping.tag
            reserved.add(index)
    return reserved


# the conductor's moment


def device_of(mapping: BlockDeviceMapping, taken: set[str]) -> str:
    """The mapping's device: as asked (``vdb`` or ``/dev/vdb``), else ``/dev/vda`` for the root and the next free
    one for the others."""
    if mapping.device_name:
        return device_path(mapping.device_name)
    return ROOT_DEVICE if mapping.is_root else next_device(taken)


class BlockStorageForBoot:
    """:class:`~twinstack.core.compute.block_devices.BootVolumes` over this cloud's volume service."""

    def __init__(self, svc: VolumeService) -> None:
        self.svc = svc

    def prepare(self, server: BootServer, mappings: Sequence[BlockDeviceMapping], so_far: BuildVolumes) -> Preparation:
        for index, mapping in volume_mappings(mappings):
            if mapping.source_type != "volume" and index not in so_far.created:
                try:
                    so_far.created[index] = self._create(server, mapping).id
                except CloudError as exc:
                    return Preparation(fault=exc.message)
        commands: list[tuple[str, Command]] = []
        try:
            with self.svc.transaction() as session:
                ready = self._step(session, server, mappings, so_far, commands)
        except CloudError as exc:
            return Preparation(fault=exc.message)
        for topic, command in commands:
            self.svc.send(topic, command)
        return Preparation(ready=ready)

    def _step(
        self,
        session: Session,
        server: BootServer,
        mappings: Sequence[BlockDeviceMapping],
        so_far: BuildVolumes,
        commands: list[tuple[str, Command]],
    ) -> bool:
        """One pass over the mappings in one transaction; True when every volume is attached on the host. A
        refusal (CloudError) stops the build; ``commands`` are sent once the records are committed."""
        rows = {
            row.volume_id: row
            for row in session.scalars(select(AttachmentRow).where(AttachmentRow.instance_uuid == server.uuid))
        }
        taken = {row.mountpoint for row in rows.values() if row.mountpoint} | {ROOT_DEVICE}
        ready = True
        for index, mapping in volume_mappings(mappings):
            volume_id = mapping.uuid if mapping.source_type == "volume" else so_far.created[index]
            volume = session.get(VolumeRow, volume_id or "")
            if volume is None:
                raise NotFound(f"Volume {volume_id} could not be found.")
            row = rows.get(volume.id)
            if row is None:
                if index in so_far.reserved:
                    raise BadRequest(f"Volume {volume.id} could not be attached. Reason: its host did not connect it.")
                if volume.status == statuses.CREATING:
                    ready = False
                    continue
                if volume.status != statuses.AVAILABLE and index in so_far.created:
                    raise BadRequest(
                        f"Volume {volume.id} did not finish being created. And its status is {volume.status}."
                    )
                row = attachments.reserve(session, self.svc, volume, server.uuid)
                row.delete_on_termination, row.tag = mapping.delete_on_termination, mapping.tag
                so_far.reserved.add(index)
            if row.attached_host is not None and row.attached_host != server.host:
                row = self._move(session, volume, row, commands)
            if row.attach_status == statuses.ATTACH_RESERVED:
                device = row.mountpoint or device_of(mapping, taken)
                taken.add(device)
                command = connect_command(self.svc, volume, row, server.host, device)
                commands.append((connect_topic(command), command))
                ready = False
            elif row.attach_status != statuses.ATTACHED:
                ready = False
        return ready

    def _move(
        self, session: Session, volume: VolumeRow, row: AttachmentRow, commands: list[tuple[str, Command]]
    ) -> AttachmentRow:
        """An earlier attempt connected the volume on another host: that host lets it go, and a fresh
        reservation (a new attachment, so the old one's answer changes nothing) waits for the new host."""
        assert row.attached_host is not None
        commands.append(
            (
                host_volumes_topic(row.attached_host),
                DisconnectVolume(
                    host=row.attached_host,
                    instance_uuid=row.instance_uuid or "",
                    volume_id=volume.id,
                    attachment_id=row.id,
                ),
            )
        )
        delete_on_termination, tag, mountpoint = row.delete_on_termination, row.tag, row.mountpoint
        attachments.remove(session, self.svc, volume, row)
        fresh = attachments.reserve(session, self.svc, volume, row.instance_uuid)
        fresh.delete_on_termination, fresh.tag, fresh.mountpoint = delete_on_termination, tag, mountpoint
        return fresh

    def _create(self, server: BootServer, mapping: BlockDeviceMapping) -> VolumeRow:
        """Ask for the mapping's volume, as the server's owner (Nova acts with the user's context)."""
        owner = Credentials(user_id=server.user_id, user_domain_id="", roles=MEMBER_ROLES, project_id=server.project_id)
        name = f"{server.uuid}-blank-vol" if mapping.source_type == "blank" else ""
        request = CreateVolumeRequest(
            creds=owner,
            project_id=server.project_id,
            user_id=server.user_id,
            size=mapping.volume_size,
            name=name,
            volume_type=mapping.volume_type,
            snapshot_id=mapping.uuid if mapping.source_type == "snapshot" else None,
            image_id=mapping.uuid if mapping.source_type == "image" else None,
        )
        return create_volume(self.svc, request)

    def abandon(self, server_uuid: str, created: Sequence[str]) -> list[str]:
        release_server(self.svc, server_uuid, disconnect=True)
        waiting: list[str] = []
        for volume_id in created:
            with self.svc.transaction() as session:
                volume = session.get(VolumeRow, volume_id)
                status = volume.status if volume is not None else None
            if status is None or status == statuses.DELETING:
                continue
            if status == statuses.CREATING:
                waiting.append(volume_id)
                continue
            try:
                lifecycle.delete_volume(self.svc, volume_id, None)
            except CloudError as exc:  # taken by someone meanwhile: theirs now
                LOG.warning("volume %s made for server %s is kept: %s", volume_id, server_uuid, exc.message)
        return waiting
