"""Cells with a bus of their own (Nova's cell ``transport_url``): how the top-level conductor and the API reach them.

A cell created with a transport URL has its own conductor on its own bus (``twinstack conductor --cell NAME``), and
its hosts' agents join that bus, not the main one: their registrations, heartbeats and answers go to the cell's
conductor, which drives every instance of the cell (Nova's cell conductor). The top-level conductor schedules a
build, records it placed in the cell and hands it over on the cell's bus (BuildPlaced); the API sends an instance's
actions (delete, power, snapshot, volumes, moves) to its cell's bus, found by the instance's cell (its mapping).

Why a cell is "down" here for a while after one failed publish: a broker that does not answer costs a publish its
whole timeout, and the top-level conductor runs every cell's work on one thread. Failing at once for
``retry_after`` seconds (CellUnavailable) keeps the other cells' builds moving, and the scheduler, which closes the
cells :meth:`CellBuses.down` names, sends the cell no new builds meanwhile.

Why the conductor posts rather than sends (:meth:`CellBuses.post`): even one publish timeout per ``retry_after``
would stall every cell's work on that thread while the broker of one is away. A post hands the message to the
cell's sender (``dispatch``: a thread per cell where publishing may wait) and returns at once. A message that can go
elsewhere (a build's hand-over) is refused at once while the cell is down, or later, through its ``refused``
callback on the conductor's runtime, when the broker refuses it; any other (an action forwarded, a command to a
host) is held, in order, and published once the cell's bus takes messages again (:meth:`CellBuses.flush`), so
nothing accepted is dropped. Where they are held is a :class:`HeldMessages`: in memory by default; a top-level
conductor holds them in its database (twinstack.db.stores.cell_outbox), so that a conductor that dies while a cell's
broker is away loses none of them: another (or itself, restarted) publishes them once the cell is back. What that
database cannot take while it does not answer waits in this process's memory, still in order.

A cell whose bus stops without refusing (a broker that holds what it is sent) is seen down by its hosts' silence
instead: no heartbeat reaches its conductor, so after ``service_down_time`` its hosts are down and take no builds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from twinstack.core.clock import Clock
from twinstack.core.compute.cells import CellUnavailable
from twinstack.rpc.bus import BusUnavailable, Publisher
from twinstack.rpc.messages import Envelope, Message, seal

LOG = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
"""How often the cells' transport URLs are read again (a cell created meanwhile is reached after at most this)."""
RETRY_AFTER_SECONDS = 10.0
"""How long a cell whose bus refused a message counts as down before a publish tries it again."""

BusOpener = Callable[[str, str], Publisher]
"""(cell name, its transport URL) -> a publisher on that cell's bus."""
Dispatch = Callable[[str, Callable[[], None]], None]
"""(cell name, job): run the job after every job given before for that cell, on this thread or another."""
Refused = Callable[[CellUnavailable], None]
"""What to do with a posted message the cell's bus refused (it is then dropped)."""


def inline(_cell: str, job: Callable[[], None]) -> None:
    """Run the job at once, on the caller's thread: right for buses whose publish never waits (in-process)."""
    job()


@dataclass
class Held:
    """A posted message waiting for its cell's bus; ``key`` is where a store keeps it (None until it is stored)."""

    topic: str
    envelope: Envelope
    key: int | None = None


class HeldMessages(Protocol):
    """Where a cell's posted messages wait for its bus, in the order they were posted. A message taken is the
    taker's until it is ``done`` (published) or ``put_back`` (not published: first again, in its old place)."""

    def hold(self, cell: str, held: Sequence[Held]) -> None:
        """Keep ``held`` for ``cell``, after everything held for it so far."""

    def take(self, cell: str) -> list[Held]:
        """What waits for ``cell``, oldest first, taken by the caller (another taker does not get it meanwhile)."""

    def done(self, cell: str, held: Sequence[Held]) -> None:
        """These were published: forget them."""

    def put_back(self, cell: str, held: Sequence[Held]) -> None:
        """These were taken and not published: they wait again, before anything held since."""

    def keep(self, cell: str) -> None:
        """What the caller took for ``cell`` and has not settled yet stays its own: called as a publishing round
        goes on, so that a store whose takes are leases renews them before they end."""

    def waiting(self) -> frozenset[str]:
        """The cells with messages waiting (at least those this process knows of)."""

    def count(self, cell: str) -> int: ...


class MemoryHeld:
    """Held messages in this process's memory: lost with it (right where nothing else could publish them anyway,
    or for a bus that never refuses)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[Held]] = {}

    def hold(self, cell: str, held: Sequence[Held]) -> None:
        with self._lock:
            self._held.setdefault(cell, []).extend(held)

    def take(self, cell: str) -> list[Held]:
        with self._lock:
            taken, self._held[cell] = self._held.get(cell, []), []
        return taken

    def done(self, cell: str, held: Sequence[Held]) -> None:
        pass

    def keep(self, cell: str) -> None:
        pass

    def put_back(self, cell: str, held: Sequence[Held]) -> None:
        with self._lock:
            self._held.setdefault(cell, [])[0:0] = held

    def waiting(self) -> frozenset[str]:
        with self._lock:
            return frozenset(cell for cell, held in self._held.items() if held)

    def count(self, cell: str) -> int:
        with self._lock:
            return len(self._held.get(cell, ()))


class CellBuses:
    """The buses of the cells that have their own, by cell name; safe to use from several threads (API workers).

    ``transports`` answers cell name -> transport URL for the cells that have one (read at most every
    ``refresh_seconds`` of ``clock`` time); ``open_bus`` makes a publisher on one, once per cell and URL."""

    def __init__(self, transports: Callable[[], Mapping[str, str]], open_bus: BusOpener, clock: Clock,
                 refresh_seconds: float = REFRESH_SECONDS, retry_after: float = RETRY_AFTER_SECONDS,
                 dispatch: Dispatch = inline, call_soon: Callable[[Callable[[], None]], None] | None = None,
                 held: HeldMessages | None = None) -> None:
        """``dispatch`` runs the publishing of posted messages (:func:`inline` unless publishing may wait);
        ``call_soon`` runs a posted message's ``refused`` callback on its poster's thread (at once if None);
        ``held`` keeps the posted messages a cell's bus did not take yet (in memory if None)."""
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
        self._dispatch = dispatch
        self._call_soon = call_soon
        self._held: HeldMessages = held if held is not None else MemoryHeld()
        """Posted messages the cell's bus did not take yet, in order, by cell."""
        self._spilled = MemoryHeld()
        """Those ``held`` could not keep (its database not answering), in memory until they are published: after
        everything ``held`` keeps for their cell, and before anything posted later (held here too meanwhile)."""

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

    def post(self, cell: str, topic: str, message: Message, refused: Refused | None = None) -> None:
        """Publish ``message`` to ``topic`` on ``cell``'s bus without waiting for its broker (see the module). With
        ``refused``: while the cell is down, called before this returns; if the broker refuses it later, called then
        (through ``call_soon``), and the message is dropped. Without: held while the cell is down, published once
        its bus takes messages again, after those held before."""
        envelope = seal(message)
        if self._is_down(cell):
            if refused is not None:
                refused(CellUnavailable(cell))
            else:
                self._hold(cell, [Held(topic, envelope)])
            return
        self._dispatch(cell, lambda: self._publish_posted(cell, Held(topic, envelope), refused))

    def held(self, cell: str) -> int:
        """How many posted messages wait for ``cell``'s bus."""
        return self._held.count(cell) + self._spilled.count(cell)

    def flush(self) -> None:
        """Try again the held messages of the cells no longer counted down (the poster calls this now and then),
        those an earlier poster left included where they are kept in a database."""
        waiting = self._spilled.waiting()
        try:
            waiting |= self._held.waiting()
        except Exception:  # the database away for a moment: tried again at the next flush
            LOG.exception("reading the messages held for cells' buses failed")
        for cell in sorted(waiting):
            if not self._is_down(cell):
                self._dispatch(cell, partial(self._publish_posted, cell, None, None))

    def _is_down(self, cell: str) -> bool:
        now = self._clock.now()
        with self._lock:
            return self._down_until.get(cell, 0.0) > now

    def _hold(self, cell: str, held: list[Held]) -> None:
        """Keep ``held`` for ``cell`` after what waits for it: in the store, or in memory while the store does not
        answer or messages it could not keep still wait there (they come first)."""
        if not self._spilled.count(cell):
            try:
                self._held.hold(cell, held)
                return
            except Exception:
                LOG.exception("holding messages for cell %s failed: kept in memory meanwhile", cell)
        self._spilled.hold(cell, held)

    def _publish_posted(self, cell: str, post: Held | None, refused: Refused | None) -> None:
        """The sender's job: the cell's held messages first, then ``post``. The first the bus refuses puts the
        cell down; what was not published is held again (``post`` refused instead, if it has a callback)."""
        try:
            held = self._held.take(cell)
        except Exception:  # the database away: the held ones wait; a new post must not overtake them, so it waits too
            LOG.exception("reading the messages held for cell %s failed", cell)
            held = None
        spilled = self._spilled.take(cell) if held is not None else []
        published: list[Held] = []
        refusal: Exception | None = None
        try:
            if held is None:
                raise CellUnavailable(cell)
            if self._is_down(cell):
                raise CellUnavailable(cell)
            bus = self._bus(cell)
            for message in [*held, *spilled]:
                bus.publish(message.topic, message.envelope)
                published.append(message)
                self._keep(cell)
            if post is not None:
                bus.publish(post.topic, post.envelope)
                post = None
        except (BusUnavailable, CellUnavailable) as exc:
            if held is not None and not self._is_down(cell):
                refusal = exc  # refused by the broker, or a cell no longer known: tried again later
        except Exception:  # a sender must keep going: what it could not publish is kept for the next try
            LOG.exception("publishing to cell %s's bus failed", cell)
        self._settle(cell, held or [], spilled, published, post if refused is None else None)
        if refusal is not None:
            # Counted down only once what was not published is held again: a poster that sees the cell down holds
            # its message itself, which must then come after these (until now it goes to this sender's queue).
            LOG.warning("cell %s's bus refused a message (%s): the cell counts as down for %.0f s", cell, refusal,
                        self._retry_after)
            with self._lock:
                self._down_until[cell] = self._clock.now() + self._retry_after
        if post is not None and refused is not None:
            self._refuse(refused, CellUnavailable(cell))

    def _keep(self, cell: str) -> None:
        try:
            self._held.keep(cell)
        except Exception:  # the store away: the lease may end, and another flusher publish some of these again
            LOG.exception("renewing the messages taken for cell %s failed", cell)

    def _settle(self, cell: str, held: list[Held], spilled: list[Held], published: list[Held],
                post: Held | None) -> None:
        """After a publishing round (``held``, then ``spilled``, of which ``published`` went out): forget what went
        out, put back what did not, and hold ``post`` (not published) after them."""
        count = len(published)
        try:
            if count:
                self._held.done(cell, held[:count])
            if count < len(held):
                self._held.put_back(cell, held[count:])
        except Exception:  # the store away: a taken message comes back to a taker once its store lets it go
            LOG.exception("keeping the messages held for cell %s failed", cell)
        self._spilled.put_back(cell, spilled[max(0, count - len(held)):])
        if post is not None:
            self._hold(cell, [post])

    def _refuse(self, refused: Refused, exc: CellUnavailable) -> None:
        if self._call_soon is None:
            refused(exc)
        else:
            self._call_soon(lambda: refused(exc))

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
