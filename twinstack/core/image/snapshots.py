"""Images made from servers (Nova's ``createImage``): created ``queued``, then given data or ``killed``.

Nova makes the image record before the host takes the snapshot, so the caller has an id at once; the
record carries what Nova sets (``image_type=snapshot``, ``instance_uuid``, ``base_image_ref``,
``user_id``, the source image's properties and formats) and belongs to the server's project. When the
host has taken and uploaded the snapshot the image goes ``queued`` -> ``saving`` -> ``active`` with
verified data in the default store; when the host failed, or the data could not be stored, it goes to
``killed`` (Glance's "the upload failed, the image is not readable") and never turns active.
A deleted image stays deleted: data arriving for it is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from twinstack.core.clock import Clock, utcnow
from twinstack.core.errors import CloudError
from twinstack.core.image import data
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.intake import receive
from twinstack.db.models.image import ImageRow
from twinstack.db.session import SessionFactory
from twinstack.rpc.compute import ImageSpec

log = logging.getLogger(__name__)

SNAPSHOT_PROPERTY_SKIP = frozenset({"instance_uuid", "image_type", "base_image_ref", "user_id",
                                    "owner_specified.openstack.md5", "owner_specified.openstack.sha256",
                                    "owner_specified.openstack.object"})
"""Source properties a snapshot does not inherit: Nova sets its own, and the source's declared hashes
describe the source's data, not the snapshot's."""

CHUNK = 64 * 1024


@dataclass(frozen=True)
class SnapshotRequest:
    name: str
    instance_uuid: str
    project_id: str
    user_id: str
    source: ImageSpec | None
    """The image the server was booted from (None: booted from a volume)."""
    metadata: Mapping[str, str]
    root_gb: int = 0
    """The server's flavor's root disk: the snapshot's min_disk is at least this."""


def minimums(session: Session, request: SnapshotRequest) -> tuple[int, int]:
    """Nova's min_ram and min_disk of a snapshot: the source image's min_ram, and the larger of its min_disk and the
    flavor's root disk (the flavor's alone for a vhd image), read from the source image as it is now."""
    source = session.get(ImageRow, request.source.id) if request.source is not None else None
    min_ram = source.min_ram if source is not None else 0
    if request.source is not None and request.source.disk_format == "vhd":
        return min_ram, request.root_gb
    return min_ram, max(source.min_disk if source is not None else 0, request.root_gb)


def create_snapshot(session: Session, request: SnapshotRequest, now: dt.datetime) -> ImageRow:
    """The ``queued`` image record, owned by the server's project, private."""
    source = request.source
    min_ram, min_disk = minimums(session, request)
    properties = {k: v for k, v in (source.properties if source else {}).items() if k not in SNAPSHOT_PROPERTY_SKIP}
    properties.update(request.metadata)
    properties.update(instance_uuid=request.instance_uuid, image_type="snapshot", user_id=request.user_id,
                      base_image_ref=source.id if source else "")
    row = ImageRow(id=str(uuid.uuid4()), name=request.name, status="queued", visibility="private",
                   owner=request.project_id, disk_format=source.disk_format if source else "qcow2",
                   container_format=source.container_format if source else "bare", size=None, virtual_size=None,
                   min_disk=min_disk, min_ram=min_ram, os_hidden=False, protected=False, tags=[], properties=properties,
                   locations=[], created_at=now, updated_at=now, deleted_at=None)
    session.add(row)
    session.flush()
    return row


def synthetic_data(image_id: str, size: int) -> Iterator[bytes]:
    """``size`` bytes standing for a simulated host's disk: deterministic per image, so a download can be checked."""
    block = hashlib.sha256(image_id.encode()).digest() * (CHUNK // 32)
    while size > 0:
        yield block[:size]
        size -= len(block)


class SnapshotImages:
    """The images of server snapshots in this cloud's image service (the compute conductor's ``ImageSnapshots``)."""

    def __init__(self, sessions: SessionFactory, config: ImageConfig, clock: Clock) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock

    def create(self, name: str, instance_uuid: str, project_id: str, user_id: str, source: ImageSpec | None,
               metadata: Mapping[str, str], root_gb: int = 0) -> str:
        request = SnapshotRequest(name, instance_uuid, project_id, user_id, source, metadata, root_gb)
        with self.sessions() as session, session.begin():
            return create_snapshot(session, request, utcnow(self.clock)).id

    def store(self, image_id: str, size: int) -> bool:
        """Give the queued image ``size`` bytes of snapshot data; True when it is active. On any failure of the
        store the image is ``killed`` and its partial data gone."""
        with self.sessions() as session, session.begin():
            if not data.move_status(session, image_id, "queued", "saving", utcnow(self.clock)):
                return False  # deleted (or killed) meanwhile
        store = self.config.stores.get(None)
        try:
            received = receive(synthetic_data(image_id, size), store.path_for(image_id),
                               self.config.settings.image_size_cap)
        except (CloudError, OSError) as exc:
            log.warning("snapshot image %s: storing its data failed: %s", image_id, exc)
            self.kill(image_id)
            return False
        with self.sessions() as session, session.begin():
            if data.activate(session, image_id, "saving", received, [store.location(image_id)], utcnow(self.clock)):
                return True
        data.drop_data(self.config, [store.url_for(image_id)])
        return False

    def uploaded(self, image_id: str) -> bool:
        """Whether the host's upload (through the image API) left the image ``active``."""
        with self.sessions() as session:
            row = session.get(ImageRow, image_id)
            return row is not None and row.status == "active"

    def kill(self, image_id: str) -> None:
        """``killed``: the snapshot failed; an image already deleted stays deleted."""
        now = utcnow(self.clock)
        with self.sessions() as session, session.begin():
            for status in ("queued", "saving"):
                if data.move_status(session, image_id, status, "killed", now):
                    return
