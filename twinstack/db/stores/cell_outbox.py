"""Messages held for cells' buses, in the database (twinstack.core.compute.cell_buses.HeldMessages): what a
top-level conductor posted to a cell whose broker was away outlives that conductor.

Any top-level conductor publishes them (its flush reads which cells have messages waiting). A flusher takes a cell's
rows by stamping ``taken_at`` on those free (never taken, or taken longer than ``lease`` ago: their flusher died), in
one compare-and-swap per row, so two flushers never publish the same row at once (a long round renews its lease as
it goes: :meth:`SqlHeldMessages.keep`); published rows are deleted after the publish. A flusher that dies between
the publish and the delete leaves rows that are published again after the lease: messages are commands with ids,
and a repeated one is answered, not redone (the host agents keep their answers by command id).

Reading the table costs a query; a flush runs every few seconds in every top-level conductor. So the rows of this
process are known without a query, and the table is scanned for those of others at most every ``scan_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import delete, func, or_, select, update

from twinstack.core.compute.cell_buses import Held
from twinstack.db.models.conductors import CellOutboxRow
from twinstack.db.session import SessionFactory
from twinstack.rpc.messages import decode, encode

LEASE_SECONDS = 60.0
"""How long what a flusher took stays its own without a renewal (far above a publish timeout; renewed every third
of it while the flusher publishes)."""
SCAN_SECONDS = 10.0
"""How often the table is read for rows this process did not write (left by a conductor that died)."""


class SqlHeldMessages:
    def __init__(self, sessions: SessionFactory, lease: float = LEASE_SECONDS, scan_seconds: float = SCAN_SECONDS,
                 now: Callable[[], float] = time.time) -> None:
        """``now``: epoch seconds, shared by every process that flushes (leases are compared across them)."""
        self.sessions = sessions
        self.lease = lease
        self.scan_seconds = scan_seconds
        self.now = now
        self._lock = threading.Lock()
        self._known: set[str] = set()
        """Cells with rows waiting, as far as this process knows without reading the table."""
        self._holds = 0
        """How many holds this process made: a take that found nothing forgets its cell only if none came since
        it read (a hold committed after the read is not seen by it)."""
        self._scanned_at: float | None = None
        self._stamps: dict[str, float] = {}
        """The ``taken_at`` of this process's last take of each cell: what :meth:`keep` renews."""

    def hold(self, cell: str, held: Sequence[Held]) -> None:
        if not held:
            return
        with self.sessions() as session, session.begin():
            session.add_all(CellOutboxRow(cell=cell, topic=message.topic, envelope=encode(message.envelope))
                            for message in held)
        with self._lock:
            self._known.add(cell)
            self._holds += 1

    def take(self, cell: str) -> list[Held]:
        with self._lock:
            if cell not in self._known and not self._scan_due():
                return []
            holds = self._holds
        now = self.now()
        free = or_(CellOutboxRow.taken_at.is_(None), CellOutboxRow.taken_at < now - self.lease)
        taken: list[Held] = []
        with self.sessions() as session, session.begin():
            rows = session.execute(select(CellOutboxRow.id, CellOutboxRow.topic, CellOutboxRow.envelope)
                                   .where(CellOutboxRow.cell == cell, free).order_by(CellOutboxRow.id)).all()
            for key, topic, envelope in rows:
                stamped = session.connection().execute(
                    update(CellOutboxRow).where(CellOutboxRow.id == key, free).values(taken_at=now))
                if stamped.rowcount == 1:  # not taken by another flusher since the read
                    taken.append(Held(topic, decode(envelope), key))
        if taken:
            with self._lock:
                self._stamps[cell] = now
        if not taken:
            with self._lock:
                if self._holds == holds:
                    self._known.discard(cell)
        return taken

    def keep(self, cell: str) -> None:
        """Renew the lease of what this process took for ``cell`` (and has not settled) once a third of it has gone
        by: a round publishing for longer than the lease keeps its messages from another flusher."""
        now = self.now()
        with self._lock:
            stamp = self._stamps.get(cell)
            if stamp is None or now - stamp < self.lease / 3:
                return
            self._stamps[cell] = now
        with self.sessions() as session, session.begin():
            session.execute(update(CellOutboxRow).where(CellOutboxRow.cell == cell, CellOutboxRow.taken_at == stamp)
                            .values(taken_at=now))

    def done(self, cell: str, held: Sequence[Held]) -> None:
        keys = [message.key for message in held if message.key is not None]
        if keys:
            with self.sessions() as session, session.begin():
                session.execute(delete(CellOutboxRow).where(CellOutboxRow.id.in_(keys)))

    def put_back(self, cell: str, held: Sequence[Held]) -> None:
        keys = [message.key for message in held if message.key is not None]
        if keys:
            with self.sessions() as session, session.begin():
                session.execute(update(CellOutboxRow).where(CellOutboxRow.id.in_(keys)).values(taken_at=None))
        with self._lock:
            self._known.add(cell)

    def waiting(self) -> frozenset[str]:
        with self._lock:
            if not self._scan_due():
                return frozenset(self._known)
            self._scanned_at = self.now()
        with self.sessions() as session:
            cells = set(session.scalars(select(CellOutboxRow.cell).distinct()))
        with self._lock:
            self._known |= cells
            return frozenset(self._known)

    def count(self, cell: str) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(CellOutboxRow)
                                      .where(CellOutboxRow.cell == cell)) or 0)

    def _scan_due(self) -> bool:
        return self._scanned_at is None or self.now() - self._scanned_at >= self.scan_seconds
