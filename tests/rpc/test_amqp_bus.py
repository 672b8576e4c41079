"""The AMQP bus against the local RabbitMQ: the in-process bus's promises, kept across connections and processes.

Each test has its own exchange and queue prefix and deletes them when done.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.rpc.broker import BROKER_URL, delete_prefix, drop_connections, messages_in, unique_prefix
from twinstack.rpc.amqp import AmqpBus, AmqpPublisher, BrokerNames, BusUnavailable
from twinstack.rpc.answers import AnswerMemory
from twinstack.rpc.bus import send, typed
from twinstack.rpc.compute import Heartbeat, InstanceActionResult, PowerAction
from twinstack.rpc.messages import Envelope, Message
from twinstack.sim.runtime import LiveRuntime

WAIT = 10.0


@pytest.fixture
def prefix() -> Iterator[str]:
    name = unique_prefix()
    yield name
    delete_prefix(name)


@pytest.fixture
def runtime() -> Iterator[LiveRuntime]:
    live = LiveRuntime()
    live.start()
    yield live
    live.stop()


@pytest.fixture
def make_bus(runtime: LiveRuntime, prefix: str) -> Iterator[Callable[..., AmqpBus]]:
    made: list[AmqpBus] = []

    def make(on: LiveRuntime = runtime) -> AmqpBus:
        made.append(AmqpBus(on, BROKER_URL, prefix=prefix))
        return made[-1]

    yield make
    for bus in made:
        bus.close(grace=0)


def beat(seq: int) -> Heartbeat:
    return Heartbeat(agent="test", hosts=[], at=float(seq))


class Inbox:
    """Messages a handler received, for the test thread to wait on."""

    def __init__(self) -> None:
        self.received: queue.SimpleQueue[Message] = queue.SimpleQueue()

    def __call__(self, message: Message, _envelope: Envelope) -> None:
        self.received.put(message)

    def take(self, count: int) -> list[Message]:
        return [self.received.get(timeout=WAIT) for _ in range(count)]

    def nothing_more(self, seconds: float = 0.5) -> bool:
        try:
            self.received.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


def test_an_envelope_to_a_topic_nobody_holds_waits_in_the_broker_for_its_subscriber(
    make_bus: Callable[..., AmqpBus], prefix: str
) -> None:
    bus = make_bus()
    send(bus, "conductor", beat(1))
    assert messages_in(f"{prefix}.conductor") == 1
    inbox = Inbox()
    bus.subscribe("conductor", typed(inbox))
    assert inbox.take(1) == [beat(1)]
    assert inbox.nothing_more()


def test_envelopes_to_one_topic_arrive_in_the_order_they_were_published(make_bus: Callable[..., AmqpBus]) -> None:
    bus = make_bus()
    inbox = Inbox()
    for seq in range(100):
        send(bus, "conductor", beat(seq))
    bus.subscribe("conductor", typed(inbox))
    for seq in range(100, 200):
        send(bus, "conductor", beat(seq))
    assert [m.at for m in inbox.take(200) if isinstance(m, Heartbeat)] == [float(s) for s in range(200)]


def test_a_failing_handler_gets_the_message_once_more_then_it_is_dead_lettered(
    make_bus: Callable[..., AmqpBus], prefix: str
) -> None:
    bus = make_bus()
    attempts: list[float] = []
    flaky = Inbox()

    def always_fails(message: Message, _envelope: Envelope) -> None:
        assert isinstance(message, Heartbeat)
        attempts.append(message.at)
        raise RuntimeError("handler bug")

    def fails_first_time(message: Message, envelope: Envelope) -> None:
        assert isinstance(message, Heartbeat)
        if message.at not in attempts:
            attempts.append(message.at)
            raise RuntimeError("transient")
        flaky(message, envelope)

    bus.subscribe("poison", typed(always_fails))
    send(bus, "poison", beat(1))
    deadline = time.monotonic() + WAIT
    while messages_in(BrokerNames(prefix).dead_letter_queue.name) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert attempts == [1.0, 1.0]  # delivered, requeued once, then given up on
    assert messages_in(BrokerNames(prefix).dead_letter_queue.name) == 1
    assert messages_in(f"{prefix}.poison") == 0

    bus.subscribe("flaky", typed(fails_first_time))
    send(bus, "flaky", beat(2))
    assert flaky.take(1) == [beat(2)]  # the retry succeeded: acknowledged, not dead-lettered
    assert attempts == [1.0, 1.0, 2.0] and flaky.nothing_more()
    assert messages_in(BrokerNames(prefix).dead_letter_queue.name) == 1


class CountingAgent:
    """An agent's command handling in miniature: does the work once per command id, answers repeats from memory."""

    def __init__(self, runtime: LiveRuntime, conductor: Callable[[Message], None]) -> None:
        self.answers: AnswerMemory[InstanceActionResult] = AnswerMemory(runtime.clock)
        self.work_done = 0
        self.conductor = conductor

    def handle(self, message: Message, _envelope: Envelope) -> None:
        assert isinstance(message, PowerAction)
        answer = self.answers.get(message.command_id)
        if answer is None:
            self.work_done += 1
            answer = InstanceActionResult(
                command_id=message.command_id,
                action=message.action,
                host=message.host,
                instance_uuid=message.instance_uuid,
                ok=True,
            )
            self.answers.remember(message.command_id, answer)
        self.conductor(answer)


def test_a_consumer_lost_before_acknowledging_has_its_message_redelivered_and_answered_from_memory(
    make_bus: Callable[..., AmqpBus], runtime: LiveRuntime
) -> None:
    conductor_bus, first, second = make_bus(), make_bus(), make_bus()
    results = Inbox()
    conductor_bus.subscribe("conductor", typed(results))
    agent = CountingAgent(runtime, lambda answer: send(second, "conductor", answer))
    handled, release = threading.Event(), threading.Event()

    def handle_then_hang(message: Message, envelope: Envelope) -> None:
        agent.handle(message, envelope)
        handled.set()
        release.wait(WAIT)  # the process is stuck here when its connection goes: no acknowledgement is sent

    first.subscribe("agent.h1", typed(handle_then_hang))
    command = PowerAction(host="h1", instance_uuid="vm-1", action="stop")
    send(conductor_bus, "agent.h1", command)
    assert handled.wait(WAIT)
    first.close(grace=0)
    release.set()
    second.subscribe("agent.h1", typed(agent.handle))  # the next consumer of the agent's topic
    answers = results.take(2)
    assert [a.command_id for a in answers if isinstance(a, InstanceActionResult)] == [command.command_id] * 2
    assert answers[0] == answers[1] and agent.work_done == 1  # the repeat was answered, not redone
    assert results.nothing_more()


def test_two_buses_with_their_own_connections_and_runtimes_talk_through_the_broker(
    make_bus: Callable[..., AmqpBus],
) -> None:
    other_runtime = LiveRuntime()
    other_runtime.start()
    try:
        control, agent_side = make_bus(), make_bus(other_runtime)
        agent = CountingAgent(other_runtime, lambda answer: send(agent_side, "conductor", answer))
        agent_side.subscribe("agent.h2", typed(agent.handle))
        results = Inbox()
        control.subscribe("conductor", typed(results))
        commands = [PowerAction(host="h2", instance_uuid=f"vm-{n}", action="start") for n in range(5)]
        for command in commands:
            send(control, "agent.h2", command)
        answers = results.take(5)
        assert [a.command_id for a in answers if isinstance(a, InstanceActionResult)] == [
            c.command_id for c in commands
        ]
        assert agent.work_done == 5
    finally:
        other_runtime.stop()


def test_the_bus_reconnects_after_the_broker_drops_its_connections(
    make_bus: Callable[..., AmqpBus], prefix: str
) -> None:
    bus = make_bus()
    inbox = Inbox()
    bus.subscribe("conductor", typed(inbox))
    send(bus, "conductor", beat(1))
    assert inbox.take(1) == [beat(1)]
    assert drop_connections(prefix, "publisher") == 1 and drop_connections(prefix, "consumer") == 1
    send(bus, "conductor", beat(2))  # on the dropped publisher connection: retried on a new one
    send(bus, "conductor", beat(3))
    assert inbox.take(2) == [beat(2), beat(3)]  # and the consumer came back for the topic it held


def test_a_publish_the_broker_cannot_take_raises_instead_of_being_lost(prefix: str) -> None:
    unreachable = "amqp://guest:guest@127.0.0.1:1//"
    publisher = AmqpPublisher(unreachable, BrokerNames(prefix), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"did not take compute\.power_action"):
        send(publisher, "agent.h1", PowerAction(host="h1", instance_uuid="vm-1", action="stop"))
    assert time.monotonic() - started < 5
    with pytest.raises(BusUnavailable, match="no broker answered"):
        AmqpBus(LiveRuntime(), unreachable, prefix=prefix, connect_timeout=1.0)
