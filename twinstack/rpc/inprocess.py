"""The in-process bus: delivery through the runtime, so it is ordered and deterministic in simulation."""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial

from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Handler
from twinstack.rpc.messages import Envelope

LOG = logging.getLogger(__name__)


class InProcessBus:
    """One subscriber per topic; envelopes to a topic nobody holds wait until someone subscribes.

    Holding undelivered envelopes (instead of dropping them) keeps the promise that nothing
    accepted is lost, e.g. a command to an agent that is restarting.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._handlers: dict[str, Handler] = {}
        self._waiting: dict[str, list[Envelope]] = defaultdict(list)
        self._held: list[tuple[str, Envelope]] | None = None
        """While the bus is down (:meth:`go_down`): what was published meanwhile, in order."""
        self.delivered = 0

    def publish(self, topic: str, envelope: Envelope) -> None:
        self._runtime.call_soon(partial(self._deliver, topic, envelope))  # a partial: cheaper to make and call

    def _deliver(self, topic: str, envelope: Envelope) -> None:
        if self._held is not None:
            self._held.append((topic, envelope))
            return
        handler = self._handlers.get(topic)
        if handler is None:
            self._waiting[topic].append(envelope)
            return
        self.delivered += 1
        try:
            handler(envelope)
        except Exception:  # one failing handler must not stop the loop that serves every other
            LOG.exception("handler for %s failed on %s %s", topic, envelope.name, envelope.version)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic] = handler
        for envelope in self._waiting.pop(topic, []):
            self.publish(topic, envelope)

    def unsubscribe(self, topic: str) -> None:
        self._handlers.pop(topic, None)

    def pending(self, topic: str) -> int:
        return len(self._waiting.get(topic, []))

    # an outage: a cell's own bus (one in-process bus per cell) going down and coming back

    def go_down(self) -> None:
        """Deliver nothing until :meth:`come_back`, as a broker that stopped: publishers are not refused (a
        broker's clients keep what they send while they reconnect), subscribers hear nothing. What a cell's bus
        carries (its hosts' heartbeats and answers, the commands to them) stops; every other bus goes on."""
        if self._held is None:
            self._held = []

    def come_back(self) -> None:
        """Deliver, in order, what was published while down, then carry on."""
        held, self._held = self._held or [], None
        for topic, envelope in held:
            self.publish(topic, envelope)

    @property
    def down(self) -> bool:
        return self._held is not None
