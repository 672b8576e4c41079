"""Reaching the cells that have a bus of their own (twinstack.core.compute.cell_buses, twinstack.cell_buses): where a
transport URL puts a cell's queues, and a cell whose bus refuses a message counting as down for a while, so that it
costs the others one publish timeout, not one per message."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from twinstack.cell_buses import cell_bus_settings
from twinstack.config import BusSettings
from twinstack.core.clock import ManualClock
from twinstack.core.compute.cell_buses import CellBuses, Held, MemoryHeld
from twinstack.core.compute.cells import CellUnavailable
from twinstack.db import migrate
from twinstack.db.session import make_engine, make_session_factory
from twinstack.db.stores.cell_outbox import SqlHeldMessages
from twinstack.rpc.bus import BusUnavailable
from twinstack.rpc.conductor import DeleteInstance
from twinstack.rpc.messages import Envelope, open_envelope, seal

MAIN = BusSettings(transport="amqp", url="amqp://guest:guest@mq:5672//", prefix="cloud")


def test_a_cell_on_the_main_broker_gets_queues_of_its_own() -> None:
    same = cell_bus_settings(MAIN, "cell2", "amqp://guest:guest@mq:5672//")
    assert (same.transport, same.url, same.prefix) == ("amqp", "amqp://guest:guest@mq:5672//", "cloud.cell2")
    vhost = cell_bus_settings(MAIN, "cell3", "amqp://u:p@mq2:5672/cell3?prefix=c3&heartbeat=5")
    assert (vhost.url, vhost.prefix) == ("amqp://u:p@mq2:5672/cell3?heartbeat=5", "c3"), "prefix= is ours, not kombu's"
    local = cell_bus_settings(MAIN, "cell4", "inprocess://cell4")
    assert (local.transport, local.prefix) == ("inprocess", "cloud.cell4")
    assert local.publish_timeout == MAIN.publish_timeout


class Broker:
    """A cell's publisher that takes messages until told to refuse them."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str]] = []
        self.tries = 0
        self.refusing = False

    def publish(self, topic: str, envelope: Envelope) -> None:
        self.tries += 1
        if self.refusing:
            raise BusUnavailable("no broker")
        self.taken.append((topic, envelope.name))


@pytest.fixture
def brokers() -> dict[str, Broker]:
    return {"cell2": Broker(), "cell3": Broker()}


def buses(brokers: dict[str, Broker], clock: ManualClock, urls: dict[str, str]) -> CellBuses:
    return CellBuses(lambda: urls, lambda cell, _url: brokers[cell], clock, refresh_seconds=10, retry_after=30)


def delete() -> DeleteInstance:
    return DeleteInstance(instance_uuid="u1", request_id="req-1")


def test_a_refused_message_puts_the_cell_down_for_a_while_and_no_other(brokers: dict[str, Broker]) -> None:
    clock = ManualClock()
    cells = buses(brokers, clock, {"cell2": "amqp://a", "cell3": "amqp://b"})
    assert cells.cells() == {"cell2", "cell3"} and cells.own("cell2") and not cells.own("cell1")
    assert not cells.own(None)
    brokers["cell2"].refusing = True
    with pytest.raises(CellUnavailable):
        cells.send("cell2", "conductor", delete())
    assert cells.down() == {"cell2"}
    cells.send("cell3", "conductor", delete())
    assert brokers["cell3"].taken == [("conductor", "conductor.delete_instance")], "the other cell is reached"

    clock.advance(29)
    with pytest.raises(CellUnavailable):
        cells.send("cell2", "conductor", delete())
    assert brokers["cell2"].tries == 1, "while down, refused at once: the broker is not asked again"
    brokers["cell2"].refusing = False
    clock.advance(2)
    assert cells.down() == frozenset()
    cells.send("cell2", "conductor", delete())
    assert brokers["cell2"].taken == [("conductor", "conductor.delete_instance")]


def test_cells_are_read_again_after_the_refresh_interval(brokers: dict[str, Broker]) -> None:
    clock = ManualClock()
    urls = {"cell2": "amqp://a"}
    cells = buses(brokers, clock, urls)
    assert cells.cells() == {"cell2"}
    urls["cell3"] = "amqp://b"
    assert not cells.own("cell3"), "read again only after refresh_seconds"
    with pytest.raises(CellUnavailable):
        cells.send("cell3", "conductor", delete())
    clock.advance(10)
    assert cells.own("cell3")
    cells.send("cell3", "conductor", delete())
    assert brokers["cell3"].taken == [("conductor", "conductor.delete_instance")]


def test_a_posted_message_is_held_while_the_cell_is_down_and_published_in_order_once_it_is_back(
        brokers: dict[str, Broker]) -> None:
    """What the conductor posts never waits for a broker: a hand-over (it has a ``refused``) the bus refuses is
    handed back, at once while the cell is down; any other message is held and published once the bus takes
    messages again, after the ones held before it."""
    clock = ManualClock()
    cells = buses(brokers, clock, {"cell2": "amqp://a"})
    refusals: list[str] = []
    brokers["cell2"].refusing = True
    cells.post("cell2", "conductor", delete(), refused=lambda exc: refusals.append(exc.cell))
    assert refusals == ["cell2"] and cells.down() == {"cell2"}, "refused by the broker"
    cells.post("cell2", "agent.h1", delete())
    assert cells.held("cell2") == 1 and brokers["cell2"].tries == 1, "held while down, the broker not asked"
    cells.post("cell2", "conductor", delete(), refused=lambda exc: refusals.append(exc.cell))
    assert refusals == ["cell2", "cell2"] and brokers["cell2"].tries == 1, "refused at once while down"
    cells.post("cell2", "agent.h2", delete())

    brokers["cell2"].refusing = False
    cells.flush()
    assert cells.held("cell2") == 2, "still down: nothing tried"
    clock.advance(30)
    cells.flush()
    assert brokers["cell2"].taken == [("agent.h1", "conductor.delete_instance"),
                                      ("agent.h2", "conductor.delete_instance")]
    assert cells.held("cell2") == 0 and cells.down() == frozenset()


def test_posting_runs_on_the_dispatch_given_and_a_later_refusal_comes_back_through_call_soon(
        brokers: dict[str, Broker]) -> None:
    clock = ManualClock()
    jobs: list[Callable[[], None]] = []
    soon: list[Callable[[], None]] = []
    cells = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], clock,
                      dispatch=lambda _cell, job: jobs.append(job), call_soon=soon.append)
    refusals: list[str] = []
    cells.post("cell2", "conductor", delete(), refused=lambda exc: refusals.append(exc.cell))
    assert brokers["cell2"].tries == 0, "posted, not published: the poster never waits for the broker"
    brokers["cell2"].refusing = True
    jobs.pop()()
    assert refusals == [] and len(soon) == 1, "handed back on the poster's thread"
    soon.pop()()
    assert refusals == ["cell2"] and cells.down() == {"cell2"}


class Clock:
    """Epoch seconds the tests move (the outbox's leases are compared in them)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outbox_sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_messages_held_in_the_database_outlive_their_poster_and_go_out_in_order_once_the_cell_is_back(
        brokers: dict[str, Broker], outbox_sessions: sessionmaker[Session]) -> None:
    """A top-level conductor that dies while a cell's broker is away loses nothing it held: the conductor that
    comes after (another process, same database) publishes it, in the order it was posted."""
    clock, epoch = ManualClock(), Clock()
    first = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], clock, retry_after=30,
                      held=SqlHeldMessages(outbox_sessions, now=epoch))
    brokers["cell2"].refusing = True
    first.post("cell2", "agent.h1", delete())
    first.post("cell2", "agent.h2", delete())
    assert first.held("cell2") == 2 and brokers["cell2"].taken == []
    del first  # the conductor dies with the cell still away

    brokers["cell2"].refusing = False
    after = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], ManualClock(),
                      held=SqlHeldMessages(outbox_sessions, now=epoch))
    after.flush()
    assert brokers["cell2"].taken == [("agent.h1", "conductor.delete_instance"),
                                      ("agent.h2", "conductor.delete_instance")]
    assert after.held("cell2") == 0
    after.flush()
    assert len(brokers["cell2"].taken) == 2, "published once"


def test_a_message_taken_by_a_flusher_is_not_taken_by_another_until_its_lease_ends(
        outbox_sessions: sessionmaker[Session]) -> None:
    epoch = Clock()
    one, two = (SqlHeldMessages(outbox_sessions, lease=60, now=epoch) for _ in range(2))
    message = delete()
    one.hold("cell2", [Held("agent.h1", seal(message))])
    taken = one.take("cell2")
    assert [message.topic for message in taken] == ["agent.h1"]
    assert two.waiting() == {"cell2"} and two.take("cell2") == [], "being published by the first"
    epoch.now += 61  # the first flusher died before publishing
    again = two.take("cell2")
    assert [message.topic for message in again] == ["agent.h1"]
    assert open_envelope(again[0].envelope) == message, "the message comes back whole, its command id too"
    two.done("cell2", again)
    assert two.count("cell2") == 0


def test_what_a_refusing_broker_did_not_take_is_put_back_before_what_was_held_after_it(
        brokers: dict[str, Broker], outbox_sessions: sessionmaker[Session]) -> None:
    clock = ManualClock()
    cells = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], clock, retry_after=30,
                      held=SqlHeldMessages(outbox_sessions, now=Clock()))
    brokers["cell2"].refusing = True
    cells.post("cell2", "agent.h1", delete())
    clock.advance(31)
    cells.flush()  # the broker is asked again and still refuses: the cell is down again, h1 kept in its place
    assert brokers["cell2"].tries == 2 and cells.held("cell2") == 1
    cells.post("cell2", "agent.h2", delete())
    brokers["cell2"].refusing = False
    clock.advance(31)
    cells.post("cell2", "agent.h3", delete())  # the cell counts as up again: this post publishes the held first
    assert [topic for topic, _name in brokers["cell2"].taken] == ["agent.h1", "agent.h2", "agent.h3"]
    assert cells.held("cell2") == 0


def test_a_post_held_by_its_poster_while_the_sender_holds_a_refused_one_again_comes_after_it(
        brokers: dict[str, Broker]) -> None:
    """The sender's post that the broker refuses is held again before a poster (another thread) can see the cell
    down and hold its own, later post: the two go out in the order they were posted once the cell is back."""
    clock, jobs = ManualClock(), list[Callable[[], None]]()

    class PosterMeanwhile(MemoryHeld):
        """Held messages whose first hold lets the poster's thread post in between (where it may run)."""

        def __init__(self) -> None:
            super().__init__()
            self.poster_ran = False

        def hold(self, cell: str, held: Sequence[Held]) -> None:
            if not self.poster_ran:
                self.poster_ran = True
                cells.post("cell2", "agent.second", delete())
            super().hold(cell, held)

    cells = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], clock, retry_after=30,
                      dispatch=lambda _cell, job: jobs.append(job), held=PosterMeanwhile())
    brokers["cell2"].refusing = True
    cells.post("cell2", "agent.first", delete())
    while jobs:  # the cell's sender thread, one job after another
        jobs.pop(0)()
    assert cells.down() == {"cell2"} and cells.held("cell2") == 2
    brokers["cell2"].refusing = False
    clock.advance(31)
    cells.flush()
    while jobs:
        jobs.pop(0)()
    assert [topic for topic, _name in brokers["cell2"].taken] == ["agent.first", "agent.second"]


def test_a_message_held_while_a_take_finds_nothing_stays_known_to_wait(
        outbox_sessions: sessionmaker[Session]) -> None:
    """Another thread of the process holds a message for the cell while a take reads the table and finds nothing
    free: the process still knows the cell has something waiting (its flush must not skip it until the next scan
    of the table, nor a post overtake it)."""
    epoch = Clock()
    outbox = SqlHeldMessages(outbox_sessions, now=epoch)
    assert outbox.waiting() == set(), "the table scanned: the next scan is not due before the end of this test"
    outbox.hold("cell2", [Held("agent.h1", seal(delete()))])
    outbox.done("cell2", outbox.take("cell2"))
    engine = outbox_sessions.kw["bind"]
    meanwhile: list[str] = []

    def poster_holds(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("SELECT cell_outbox.id") and not meanwhile:
            meanwhile.append("held")
            outbox.hold("cell2", [Held("agent.h2", seal(delete()))])

    event.listen(engine, "after_cursor_execute", poster_holds)
    try:
        assert outbox.take("cell2") == [], "read before the other thread's message was there"
    finally:
        event.remove(engine, "after_cursor_execute", poster_holds)
    assert meanwhile == ["held"]
    assert outbox.waiting() == {"cell2"}, "no scan due: known from the hold"
    assert [message.topic for message in outbox.take("cell2")] == ["agent.h2"]


class AwayHeld(MemoryHeld):
    """Held messages in a store that can be away (a database that does not answer for a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False

    def _answer(self) -> None:
        if self.away:
            raise ConnectionError("the database does not answer")

    def hold(self, cell: str, held: Sequence[Held]) -> None:
        self._answer()
        super().hold(cell, held)

    def take(self, cell: str) -> list[Held]:
        self._answer()
        return super().take(cell)

    def waiting(self) -> frozenset[str]:
        self._answer()
        return super().waiting()


def test_a_post_the_store_cannot_hold_for_a_moment_is_kept_in_its_place(brokers: dict[str, Broker]) -> None:
    """Nothing accepted is dropped, even while the store of held messages does not answer: what it could not hold
    waits in memory, after what it held before and before what it holds after."""
    clock, store = ManualClock(), AwayHeld()
    cells = CellBuses(lambda: {"cell2": "amqp://a"}, lambda cell, _url: brokers[cell], clock, retry_after=30,
                      held=store)
    brokers["cell2"].refusing = True
    cells.post("cell2", "agent.first", delete())  # refused by the broker: held in the store
    assert cells.down() == {"cell2"}
    store.away = True
    cells.post("cell2", "agent.second", delete())  # the cell down and the store away: no error for the poster
    store.away = False
    cells.post("cell2", "agent.third", delete())
    brokers["cell2"].refusing = False
    clock.advance(31)
    cells.flush()
    assert [topic for topic, _name in brokers["cell2"].taken] == ["agent.first", "agent.second", "agent.third"]
    assert cells.held("cell2") == 0

    store.away = True
    cells.post("cell2", "agent.fourth", delete())  # the cell up, but what waits for it cannot be read: it waits
    assert [topic for topic, _name in brokers["cell2"].taken][3:] == []
    store.away = False
    cells.flush()
    assert [topic for topic, _name in brokers["cell2"].taken][3:] == ["agent.fourth"]


def test_a_flusher_publishing_longer_than_the_lease_keeps_what_it_took(
        brokers: dict[str, Broker], outbox_sessions: sessionmaker[Session]) -> None:
    """A long publishing round (many held messages, a slow broker) renews its lease as it goes: another conductor
    flushing meanwhile takes none of the messages still being published (it would publish them twice, out of
    order)."""
    epoch = Clock()
    one, two = (SqlHeldMessages(outbox_sessions, lease=60, now=epoch) for _ in range(2))
    for n in range(4):
        one.hold("cell2", [Held(f"agent.h{n}", seal(delete()))])
    assert two.waiting() == {"cell2"}
    taken_by_two: list[str] = []

    class Slow(Broker):
        def publish(self, topic: str, envelope: Envelope) -> None:
            super().publish(topic, envelope)
            epoch.now += 25  # each publish is slow
            taken_by_two.extend(message.topic for message in two.take("cell2"))

    slow = Slow()
    cells = CellBuses(lambda: {"cell2": "amqp://a"}, lambda _cell, _url: slow, ManualClock(), held=one)
    cells.flush()
    assert [topic for topic, _name in slow.taken] == ["agent.h0", "agent.h1", "agent.h2", "agent.h3"]
    assert taken_by_two == [], "nothing the first flusher still publishes"
    assert one.count("cell2") == 0
