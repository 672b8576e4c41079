"""Creating a volume: check and record it (quota taken atomically), then hand it to the volume manager.

A new volume is blank (``size``), or a copy of an image, of a snapshot or of another volume (direct cloning).
It answers at once in 'creating'; the manager schedules it onto a pool and the back end makes it. A clone or
a snapshot restore stays in the back end of its source, where the copy is made. Over quota: 413, nothing
recorded.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.image.images import ImageQuery, get_image, list_images
from twinstack.core.policy import Credentials
from twinstack.core.volume import quotas, statuses
from twinstack.core.volume.lookup import get_snapshot, get_volume
from twinstack.core.volume.pool_records import zones
from twinstack.core.volume.service import VolumeService
from twinstack.core.volume.types import default_type, get_type
from twinstack.db.models.image import ImageRow
from twinstack.db.models.volume import VolumeRow, VolumeTypeRow
from twinstack.rpc.volume import VOLUME_TOPIC, ScheduleVolume

GIB = 1024**3
IMAGE_PROPERTIES_COPIED = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")
INVALID_IMAGE = "Invalid image identifier or unable to access requested image."
"""Cinder's 400 for an imageRef that names no image the caller may use."""


@dataclass(frozen=True)
class CreateVolumeRequest:
    creds: Credentials
    project_id: str
    user_id: str
    size: int | None = None
    name: str | None = None
    description: str | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    snapshot_id: str | None = None
    source_volid: str | None = None
    image_id: str | None = None
    multiattach: bool = False
    is_admin: bool = False
    request_id: str = ""


def create_volume(svc: VolumeService, request: CreateVolumeRequest) -> VolumeRow:
    """Record the volume in 'creating' and ask the manager to place and make it; returns the record."""
    svc.require_bus()  # refuse before recording anything if no back end can ever make it
    scope = None if request.is_admin else request.project_id
    with svc.transaction() as session:
        row = _new_row(session, svc, request, scope)
        quotas.admit(session, svc.settings, request.project_id,
                     quotas.Demand(volumes=1, gigabytes=row.size, volume_size=row.size))
        session.add(row)
        session.flush()
        session.expunge(row)
    svc.send(VOLUME_TOPIC, ScheduleVolume(volume_id=row.id, request_id=request.request_id))
    return row


def _new_row(session: Session, svc: VolumeService, request: CreateVolumeRequest, scope: str | None) -> VolumeRow:
    sources = [s for s in (request.snapshot_id, request.source_volid, request.image_id) if s]
    if len(sources) > 1:
        raise BadRequest("Invalid input received: Only one of snapshot_id, source_volid and imageRef may be given.")
    size = request.size
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise BadRequest(f"Invalid input received: Volume size '{size}' must be an integer and greater than 0")
    now = svc.now()
    type_row = (get_type(session, request.creds, request.is_admin, request.volume_type) if request.volume_type
                else None)
    zone = request.availability_zone
    bootable = False
    image_metadata: dict[str, Any] = {}
    image_id: str | None = None
    if request.snapshot_id:
        snapshot = get_snapshot(session, request.snapshot_id, scope)
        if snapshot.status != statuses.AVAILABLE:
            raise BadRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values")
        source = get_volume(session, snapshot.volume_id, None)
        size = size or snapshot.size
        if size < snapshot.size:
            raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot "
                             f"size {snapshot.size}GB. They must be >= original snapshot size.")
        type_row, zone = _inherit(session, svc, type_row, zone, source)
        bootable, image_metadata = source.bootable, dict(source.image_metadata)
    elif request.source_volid:
        source = get_volume(session, request.source_volid, scope)
        if source.status not in (statuses.AVAILABLE, statuses.IN_USE):
            raise BadRequest(f"Invalid volume: Unable to clone volume {source.id} while it is in status "
                             f"{source.status}; it must be available or in-use.")
        size = size or source.size
        if size < source.size:
            raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than original "
                             f"volume size {source.size}GB. They must be >= original volume size.")
        type_row, zone = _inherit(session, svc, type_row, zone, source)
        bootable, image_metadata = source.bootable, dict(source.image_metadata)
    elif request.image_id:
        image = _image_from_ref(session, request.creds, request.image_id)
        image_id = image.id
        if image.status != "active":
            raise BadRequest(INVALID_IMAGE)
        image_gb = math.ceil(max(image.virtual_size or 0, image.size or 0) / GIB)
        size = size or max(image_gb, image.min_disk, 1)
        if size < image.min_disk:
            raise BadRequest(f"Invalid input received: Volume size {size}GB cannot be smaller than the image "
                             f"minDisk size {image.min_disk}GB.")
        if size < image_gb:
            raise BadRequest(f"Invalid input received: Size of specified image {image_gb}GB is larger than volume "
                             f"size {size}GB.")
        bootable = True
        readable = svc.image_protections.readable(image.properties, request.creds.roles)
        image_metadata = {"image_id": image.id, "image_name": image.name or "",
                          **{k: str(getattr(image, k)) for k in IMAGE_PROPERTIES_COPIED
                             if getattr(image, k) is not None},
                          **{k: str(v) for k, v in readable.items()}}
    if size is None:
        raise BadRequest("Invalid input received: Volume size must be given unless a source gives it.")
    type_row = type_row or default_type(session, svc.settings.default_volume_type)
    known_zones = zones(session) or sorted({b.availability_zone for b in svc.settings.backends})
    if not zone:
        default = svc.settings.default_availability_zone or svc.settings.storage_availability_zone
        zone = default if default in known_zones or not known_zones else known_zones[0]
    if zone not in known_zones:
        raise BadRequest(f"Availability zone '{zone}' is invalid.")  # Cinder's InvalidAvailabilityZone
    return VolumeRow(
        id=str(uuid.uuid4()), project_id=request.project_id, user_id=request.user_id, name=request.name,
        description=request.description, size=size, status=statuses.CREATING, attach_status=statuses.DETACHED,
        availability_zone=zone, volume_type_id=type_row.id, host=None, bootable=bootable,
        multiattach=request.multiattach, source_volid=request.source_volid, snapshot_id=request.snapshot_id,
        image_id=image_id, meta=dict(request.metadata), image_metadata=image_metadata, migration_status=None,
        pending=None, created_at=now, updated_at=now, launched_at=None)


def _image_from_ref(session: Session, creds: Credentials, ref: str) -> ImageRow:
    """Cinder's ``imageRef``: an image id (or a URL ending in one) the caller may see, else a name only one such
    image has (several: 409). Anything else is 400, whether the image is missing or hidden from the caller."""
    candidate = ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        return get_image(session, creds, candidate)
    except NotFound:
        pass
    named = list_images(session, creds, ImageQuery(in_filters={"name": (ref,)}, limit=None))
    if len(named) > 1:
        raise Conflict(f"Multiple matches found for '{ref}', use an ID to be more specific.")
    if not named:
        raise BadRequest(INVALID_IMAGE)
    return named[0]


def _inherit(session: Session, svc: VolumeService, type_row: VolumeTypeRow | None, zone: str | None,
             source: VolumeRow) -> tuple[VolumeTypeRow, str]:
    """A copy takes its source's type and zone unless told otherwise (Cinder's rule); its zone must match."""
    if zone and zone != source.availability_zone:
        raise BadRequest(f"Invalid input received: Availability zone '{zone}' differs from the source's "
                         f"'{source.availability_zone}'; a copy stays with its source.")
    if type_row is None:
        type_row = session.get(VolumeTypeRow, source.volume_type_id) or default_type(
            session, svc.settings.default_volume_type)
    return type_row, source.availability_zone
