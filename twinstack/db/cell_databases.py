"""The databases of the cells that have their own: opened from the main database's cell records, asked in parallel
with a deadline, so that a cell whose database does not answer is skipped instead of stopping the others (Nova's
scatter-gather over cells).

A cell with no database of its own (no record, or a record without ``database_url``) keeps its instances in the
main database: that is every cell of a cloud where ``twinstack cell create`` was never run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError

from twinstack.core.compute.cells import CellUnavailable
from twinstack.db.models.compute import CellRow
from twinstack.db.session import SessionFactory, make_engine, make_session_factory

LOG = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT = 3.0
"""How long a cell's database may take to answer one scatter-gather call before the cell counts as down."""
REFRESH_SECONDS = 10.0
"""How often the cell records are re-read, so a cell created beside a running cloud is found."""


def mask(url: str | None) -> str:
    """The URL as it may be shown: its password hidden."""
    if url is None:
        return "-"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL (an AMQP one): hide whatever sits between ':' and '@'
        head, at, tail = url.rpartition("@")
        if not at:
            return url
        scheme, _, credentials = head.partition("://")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{tail}"


def cell_engine(url: str, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """An engine on a cell's database that notices at once when it is gone. SQLite: opened read-write without
    creating a missing file, and each pooled connection checked out only while the file it opened is still there
    and usable (an open SQLite file keeps answering after it is moved away or its rights are taken). PostgreSQL:
    pooled with a ping before each use (a connection the server dropped is noticed), connecting within
    ``timeout``."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):
        path = url[len("sqlite:///"):]
        engine = make_engine(f"sqlite:///file:{path}?mode=rw&uri=true")
        _watch_file(engine, path)
        return engine
    if url.startswith("postgresql"):
        return make_engine(url, connect_args={"connect_timeout": max(1, int(timeout))})
    return make_engine(url)


def _watch_file(engine: Engine, path: str) -> None:
    @event.listens_for(engine, "connect")
    def _remember(_dbapi_connection: Any, record: Any) -> None:
        record.info["inode"] = os.stat(path).st_ino

    @event.listens_for(engine, "checkout")
    def _still_there(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        try:
            inode = os.stat(path).st_ino
        except OSError:
            inode = None
        if inode is None or inode != record.info.get("inode") or not os.access(path, os.R_OK | os.W_OK):
            raise DisconnectionError(f"{path} moved away or no longer usable")  # reconnects, and fails if gone


@dataclass(frozen=True)
class Gathered(Generic[T]):
    """What each answering cell returned, and the cells that did not answer in time (or failed)."""

    results: dict[str, T]
    down: frozenset[str]


class CellDatabases:
    """The cells with a database of their own, by name, each with its sessions (opened on first use)."""

    def __init__(self, sessions: SessionFactory, timeout: float = DEFAULT_TIMEOUT,
                 refresh_seconds: float = REFRESH_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.main = sessions
        self.timeout = timeout
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}
        self._read_at: float | None = None
        self._engines: dict[str, Engine] = {}
        self._sessions: dict[str, SessionFactory] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cell-gather")

    def _fresh(self) -> dict[str, str]:
        now = self._monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self.refresh_seconds:
                return self._urls
        with self.main() as session:
            rows = session.execute(select(CellRow.name, CellRow.database_url)
                                   .where(CellRow.database_url.is_not(None))).tuples().all()
        with self._lock:
            self._urls = {name: str(url) for name, url in rows}
            self._read_at = now
            return self._urls

    def reload(self) -> None:
        """Re-read the cell records at the next question."""
        with self._lock:
            self._read_at = None

    def names(self) -> list[str]:
        """The cells with their own database, by name."""
        return sorted(self._fresh())

    def has_database(self, cell: str | None) -> bool:
        return cell is not None and cell in self._fresh()

    def home(self, cell: str | None) -> str | None:
        """Where an instance of ``cell`` is kept: the cell's name if it has its own database, else None (main)."""
        return cell if self.has_database(cell) else None

    def sessions(self, cell: str | None) -> SessionFactory:
        """The sessions of ``cell``'s database (None: the main one)."""
        if cell is None:
            return self.main
        with self._lock:
            found = self._sessions.get(cell)
            if found is not None:
                return found
        url = self._fresh().get(cell)
        if url is None:
            raise CellUnavailable(cell)
        with self._lock:
            if cell not in self._sessions:
                engine = cell_engine(url, self.timeout)
                self._engines[cell] = engine
                self._sessions[cell] = make_session_factory(engine)
            return self._sessions[cell]

    def gather(self, call: Callable[[str, SessionFactory], T], cells: list[str] | None = None) -> Gathered[T]:
        """``call`` on each cell's database at once (every cell with one unless ``cells`` is given); a cell that
        raises a database error or does not answer within the timeout is reported down, not raised."""
        names = self.names() if cells is None else cells
        if not names:
            return Gathered({}, frozenset())
        futures = {}
        down: set[str] = set()
        for name in names:
            try:
                sessions = self.sessions(name)
            except CellUnavailable:
                down.add(name)
                continue
            futures[name] = self._pool.submit(call, name, sessions)
        wait(futures.values(), timeout=self.timeout)
        results: dict[str, T] = {}
        for name, future in futures.items():
            if not future.done():
                LOG.warning("cell %s did not answer within %.1f s: skipped", name, self.timeout)
                down.add(name)
                continue
            error = future.exception()
            if error is None:
                results[name] = future.result()
            elif isinstance(error, (DBAPIError, SQLAlchemyError, OSError)):
                LOG.warning("cell %s is down: %s", name, str(error).splitlines()[0])
                down.add(name)
            else:
                raise error
        return Gathered(results, frozenset(down))

    def call(self, cell: str | None, call: Callable[[SessionFactory], T]) -> T:
        """``call`` on one database (None: the main one, called directly); CellUnavailable if the cell's database
        fails or does not answer in time."""
        if cell is None:
            return call(self.main)
        gathered = self.gather(lambda _name, sessions: call(sessions), [cell])
        if cell in gathered.down:
            raise CellUnavailable(cell)
        return gathered.results[cell]

    def down(self) -> frozenset[str]:
        """The cells whose database does not answer a trivial query in time."""
        return self.gather(_ping).down

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self._sessions.clear()


def _ping(_name: str, sessions: SessionFactory) -> Any:
    with sessions() as session:
        return session.execute(text("SELECT 1")).scalar()
