"""The in-process bus: delivery through the runtime, so it is ordered and deterministic in simulation."""

from __future__ import annotations

import logging
from collections import defaultdict

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
        self.delivered = 0

    def publish(self, topic: str, envelope: Envelope) -> None:
        self._runtime.call_soon(lambda: self._deliver(topic, envelope))

    def _deliver(self, topic: str, envelope: Envelope) -> None:
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
