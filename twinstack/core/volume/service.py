"""What every block storage operation is handed: storage, a clock, the settings and (when back ends run) a bus.

The API builds one per cloud. Operations that only read or change records work without a bus; those that need
a back end (create, delete, extend, snapshot, connect to a host) raise 503 when no storage side is running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinstack.config import VolumeSettings
from twinstack.core.clock import Clock, utcnow
from twinstack.core.errors import CloudError, Conflict
from twinstack.core.image.protections import Protections
from twinstack.db.session import SessionFactory
from twinstack.rpc.bus import Bus, send
from twinstack.rpc.messages import Message


class ServiceUnavailable(CloudError):
    status = 503
    title = "Service Unavailable"


@dataclass
class VolumeService:
    sessions: SessionFactory
    clock: Clock
    settings: VolumeSettings
    bus: Bus | None = None
    host_name: str = "twinstack"
    """The ``host`` part of ``host@backend#pool``: the name the storage agents run under."""
    image_protections: Protections = field(default_factory=Protections)
    """The image service's property protections: a volume made from an image copies only the image properties
    its creator may read (Cinder reads the image with the creator's token)."""

    def now(self) -> dt.datetime:
        return utcnow(self.clock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        try:
            with self.sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict(f"Conflict occurred attempting to store the entity: {exc.orig}") from exc

    def require_bus(self) -> Bus:
        if self.bus is None:
            raise ServiceUnavailable("The block storage back ends are not running.")
        return self.bus

    def send(self, topic: str, message: Message) -> None:
        send(self.require_bus(), topic, message)


def backend_of(pool: str) -> str:
    """``host@backend`` of a pool named ``host@backend#pool``."""
    return pool.split("#", 1)[0]
