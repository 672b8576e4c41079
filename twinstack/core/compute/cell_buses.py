"""Cells with a bus of their own (Nova's cell ``transport_url``): how the top-level conductor and the API reach them.

A cell created with a transport URL has its own conductor on its own bus (``twinstack conductor --cell NAME``), and
its hosts' agents join that bus, not the main one: their registrations, heartbeats and answers go to the cell's
conductor, which drives every instance of the cell (Nova's cell conductor). The top-level conductor schedules a
build, records it placed in the cell and hands it over on the cell's bus (BuildPlaced); the API sends an instance's
actions (delete, power, snapshot, volumes, moves) to its cell's bus, found by the instance's cell (its mapping).

Why a cell is "down" here for a while after one failed publish: a broker that does not answer costs a publish its
whole timeout, and the top-level conductor runs every cell's work on one thread. Failing at once for
``retry_after`` seconds (CellUnavailable) keeps the other cells' builds moving, and the scheduler, which closes the
cells :meth:`CellBuses.down` names, sends the cell no new builds meanwhile. A cell whose bus stops without refusing
(a broker that holds what it is sent) is seen down by its hosts' silence instead: no heartbeat reaches its
conductor, so after ``service_down_time`` its hosts are down and take no builds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from twinstack.core.clock import Clock
from twinstack.core.compute.cells import CellUnavailable
from twinstack.rpc.bus import BusUnavailable, Publisher
from twinstack.rpc.messages import Message, seal

LOG = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
"""How often the cells' transport URLs are read again (a cell created meanwhile is reached after at most this)."""
RETRY_AFTER_SECONDS = 10.0
"""How long a cell whose bus refused a message counts as down before a publish tries it again."""

BusOpener = Callable[[str, str], Publisher]
"""(cell name, its transport URL) -> a publisher on that cell's bus."""


class CellBuses:
    """The buses of the cells that have their own, by cell name; safe to use from several threads (API workers).

    ``transports`` answers cell name -> transport URL for the cells that have one (read at most every
    ``refresh_seconds`` of ``clock`` time); ``open_bus`` makes a publisher on one, once per cell and URL."""

    def __init__(self, transports: Callable[[], Mapping[str, str]], open_bus: BusOpener, clock: Clock,
                 refresh_seconds: float = REFRESH_SECONDS, retry_after: float = RETRY_AFTER_SECONDS) -> None:
        self._transports = transports
        self._open_bus = open_bus
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}
        self._read_at: float | None = None
        self._buses: dict[str, tuple[str, Publisher]] = {}
        self._down_until: dict[str, float] = {}

    def cells(self) -> frozenset[str]:
        """The cells with a bus of their own."""
        return frozenset(self._current())

    def own(self, cell: str | None) -> bool:
        """Has ``cell`` a bus of its own (so its own conductor drives its instances)?"""
        return cell is not None and cell in self._current()

    def down(self) -> frozenset[str]:
        """The cells whose bus refused a message less than ``retry_after`` seconds ago."""
        now = self._clock.now()
        with self._lock:
            return frozenset(cell for cell, until in self._down_until.items() if until > now)

    def send(self, cell: str, topic: str, message: Message, reply_to: str | None = None) -> None:
        """Publish ``message`` to ``topic`` on ``cell``'s bus. CellUnavailable, at once, while the cell is down, or
        when its bus refuses the message (the cell then counts as down for ``retry_after`` seconds)."""
        now = self._clock.now()
        with self._lock:
            if self._down_until.get(cell, 0.0) > now:
                raise CellUnavailable(cell)
        bus = self._bus(cell)
        try:
            bus.publish(topic, seal(message, reply_to))
        except BusUnavailable as exc:
            LOG.warning("cell %s's bus refused %s for %s (%s): the cell counts as down for %.0f s", cell,
                        message.name, topic, exc, self._retry_after)
            with self._lock:
                self._down_until[cell] = self._clock.now() + self._retry_after
            raise CellUnavailable(cell) from exc

    def close(self) -> None:
        with self._lock:
            buses, self._buses = list(self._buses.values()), {}
        for _url, bus in buses:
            close = getattr(bus, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # closing one must not keep the others open
                    LOG.exception("closing a cell's bus failed")

    def _current(self) -> dict[str, str]:
        now = self._clock.now()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._refresh_seconds:
                return self._urls
        try:
            urls = dict(self._transports())
        except Exception:  # the main database away for a moment: the cells known so far stand
            LOG.exception("reading the cells' transport URLs failed")
            urls = self._urls
        with self._lock:
            self._urls, self._read_at = urls, now
            return urls

    def _bus(self, cell: str) -> Publisher:
        url = self._current().get(cell)
        if url is None:
            raise CellUnavailable(cell)
        with self._lock:
            known = self._buses.get(cell)
            if known is not None and known[0] == url:
                return known[1]
        bus = self._open_bus(cell, url)
        with self._lock:
            self._buses[cell] = (url, bus)
        return bus
