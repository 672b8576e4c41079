"""The bus seam: publish envelopes to topics, subscribe handlers to them (DESIGN.md rule 8).

Topics name a service (``conductor``) or one host's agent (``agent.<host>``). Transports: the
in-process bus below (all-in-one and simulation) and, for clouds over several machines, AMQP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twinstack.rpc.messages import Envelope, Message, open_envelope, seal

Handler = Callable[[Envelope], None]


class BusUnavailable(Exception):
    """The bus could not take a message (its broker did not within the publish timeout, or it is known down)."""


class Publisher(Protocol):
    """What a sender needs of a bus: a cell's bus, reached only to hand work over, is one (twinstack.core.compute.
    cell_buses)."""

    def publish(self, topic: str, envelope: Envelope) -> None:
        """Deliver to the topic's subscriber later (never inside this call); BusUnavailable if it cannot."""
        ...


class Bus(Protocol):
    def publish(self, topic: str, envelope: Envelope) -> None:
        """Deliver to the topic's subscriber later (never inside this call)."""
        ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...

    def unsubscribe(self, topic: str) -> None: ...


def send(bus: Publisher, topic: str, message: Message, reply_to: str | None = None) -> None:
    bus.publish(topic, seal(message, reply_to))


def typed(handler: Callable[[Message, Envelope], None]) -> Handler:
    """Adapt a handler of messages to a handler of envelopes (opening each at this receiver's version)."""
    return lambda envelope: handler(open_envelope(envelope), envelope)
