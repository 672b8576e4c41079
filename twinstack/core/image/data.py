"""An image's data: the status steps around an upload, and finding a live location to read from.

Uploads take an image from ``queued`` to ``saving`` atomically (two concurrent uploads cannot
both win), and from ``saving`` to ``active`` only with verified data. A failed upload puts the
image back to ``queued`` with its partial data gone, as Glance does. If the image was deleted
while its data arrived, the new data is dropped rather than resurrecting it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.images import get_image
from twinstack.core.image.intake import Expected, Received
from twinstack.core.image.writes import modifiable
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageRow


def move_status(session: Session, image_id: str, source: str, target: str, now: dt.datetime) -> bool:
    """Compare-and-set of the status; True when this caller made the move."""
    result = session.execute(update(ImageRow).where(ImageRow.id == image_id, ImageRow.status == source)
                             .values(status=target, updated_at=now))
    return bool(getattr(result, "rowcount", 0))


def begin_upload(session: Session, creds: Credentials, image_id: str, target: str, now: dt.datetime,
                 declared_size: int | None = None) -> Expected:
    """queued -> ``target`` ('saving' for an upload, 'uploading' for glance-direct staging)."""
    row = modifiable(session, creds, image_id)
    if row.status != "queued":
        raise Conflict(f"Image status transition from {row.status} to {target} is not allowed")
    if target == "saving" and not (row.disk_format and row.container_format):
        raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
    expected = Expected.from_properties(row.properties, declared_size)
    if not move_status(session, image_id, "queued", target, now):
        raise Conflict(f"Image {image_id} is already receiving data.")
    return expected


def abandon(session: Session, image_id: str, source: str, now: dt.datetime) -> None:
    """Back to queued after a failed upload or import (a deleted image stays deleted)."""
    move_status(session, image_id, source, "queued", now)


def activate(session: Session, image_id: str, source: str, received: Received,
             locations: list[dict[str, Any]], now: dt.datetime) -> bool:
    """``source`` -> active with the received data; False if the image left ``source`` meanwhile."""
    row = session.get(ImageRow, image_id, with_for_update=True)
    if row is None or row.status != source:
        return False
    row.status, row.size, row.checksum = "active", received.size, received.checksum
    row.os_hash_algo, row.os_hash_value = received.os_hash_algo, received.os_hash_value
    row.locations = locations
    row.properties = {k: v for k, v in row.properties.items() if k != "os_glance_failed_import"}
    row.updated_at = now
    return True



@dataclass(frozen=True)
class DataSource:
    url: str
    size: int | None
    checksum: str | None


def data_source(session: Session, config: ImageConfig, creds: Credentials, image_id: str) -> DataSource | None:
    """Where to read the image's data from: the first live location; None when it has no data (204)."""
    row = get_image(session, creds, image_id)
    if row.status == "deactivated" and not creds.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
    if row.status not in ("active", "deactivated") or not row.locations:
        return None
    for location in row.locations:
        url = str(location["url"])
        if config.stores.is_live(url):
            return DataSource(url, row.size, row.checksum)
    raise NotFound(f"Image {image_id} has no location its data can be read from now.")


def drop_data(config: ImageConfig, urls: list[str]) -> None:
    """Remove data files of ours (files in our stores) once nothing refers to them."""
    for url in urls:
        path = config.stores.local_path(url)
        if path is not None:
            path.unlink(missing_ok=True)
