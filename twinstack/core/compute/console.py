"""Reading a server's console log: a request/reply to the agent of the host the server is on.

The log lives on the host (a real agent's serial log file, a simulated agent's synthetic boot text),
so the API asks that host's agent over the bus with a reply topic of its own and waits for the one
answer. Nothing is recorded: reading a log changes no state. The waiting is the caller's (an HTTP
worker thread); core only publishes, on the runtime's thread, and hands back a future.

A host in a cell with a bus of its own (twinstack.core.compute.cell_buses) hears only that bus, where the API only
publishes (it holds no consumer there). So the API asks the cell's conductor on the cell's bus, naming its reply
topic on the main bus; the cell's conductor asks the host on its bus and sends the answer back to that topic on the
main bus (:class:`ConsoleRelay`), as Nova's API reaches a cell's compute through the cell's message queue.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING

from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.compute import CONDUCTOR_TOPIC, ConsoleOutput, GetConsoleOutput, agent_topic
from twinstack.rpc.messages import Envelope, Message

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)
RELAY_SECONDS = 30.0
"""How long a cell's conductor waits for a host's console answer it relays (as long as the API waits)."""


class ConsoleRequest:
    """One question to an agent; :attr:`answer` completes with its ConsoleOutput.

    With ``cell_buses`` and a ``cell`` that has a bus of its own, the question goes to that cell's conductor, sent
    from the caller's thread (a cell's broker may make a publish wait); CellUnavailable (503) if the cell's bus
    refuses it."""

    def __init__(self, runtime: Runtime, bus: Bus, host: str, instance_uuid: str, length: int | None,
                 cell_buses: CellBuses | None = None, cell: str | None = None) -> None:
        self.runtime = runtime
        self.bus = bus
        self.reply_topic = f"reply.console.{uuid.uuid4().hex}"
        self.answer: Future[ConsoleOutput] = Future()
        command = GetConsoleOutput(host=host, instance_uuid=instance_uuid, length=length)
        via_cell = cell if cell_buses is not None and cell_buses.own(cell) else None

        def ask() -> None:
            self.bus.subscribe(self.reply_topic, typed(self._on_reply))
            if via_cell is None:
                send(self.bus, agent_topic(host), command, reply_to=self.reply_topic)

        runtime.call_soon(ask)
        if via_cell is not None:
            assert cell_buses is not None
            try:
                cell_buses.send(via_cell, CONDUCTOR_TOPIC, command, reply_to=self.reply_topic)
            except CellUnavailable:
                self.abandon()
                raise

    def _on_reply(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, ConsoleOutput) and not self.answer.done():
            self.answer.set_result(message)
        self.bus.unsubscribe(self.reply_topic)

    def abandon(self) -> None:
        """Stop listening (the caller gave up waiting)."""
        self.runtime.call_soon(lambda: self.bus.unsubscribe(self.reply_topic))


class ConsoleRelay:
    """A cell's conductor's part: the API's console questions to the cell's hosts, their answers to the main bus."""

    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor

    def relay(self, command: GetConsoleOutput, reply_to: str | None) -> None:
        """Ask the host on this conductor's bus; its answer goes to ``reply_to`` on the main bus. Nothing is kept:
        an answer later than RELAY_SECONDS (or lost with this conductor) leaves the API to time out, as it would
        waiting for a host that does not answer."""
        c, main = self.c, self.c.main_bus
        if reply_to is None or main is None:
            LOG.warning("console request for %s ignored: %s", command.instance_uuid,
                        "no reply topic" if reply_to is None else "this conductor has no main bus to answer on")
            return
        request = ConsoleRequest(c.runtime, c.bus, command.host, command.instance_uuid, command.length)

        def answered(answer: Future[ConsoleOutput]) -> None:
            send(main, reply_to, answer.result())

        request.answer.add_done_callback(answered)
        c.runtime.call_later(RELAY_SECONDS, lambda: None if request.answer.done() else request.abandon())
