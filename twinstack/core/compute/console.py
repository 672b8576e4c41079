"""Reading a server's console log: a request/reply to the agent of the host the server is on.

The log lives on the host (a real agent's serial log file, a simulated agent's synthetic boot text),
so the API asks that host's agent over the bus with a reply topic of its own and waits for the one
answer. Nothing is recorded: reading a log changes no state. The waiting is the caller's (an HTTP
worker thread); core only publishes, on the runtime's thread, and hands back a future.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future

from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.compute import ConsoleOutput, GetConsoleOutput, agent_topic
from twinstack.rpc.messages import Envelope, Message


class ConsoleRequest:
    """One question to an agent; :attr:`answer` completes with its ConsoleOutput."""

    def __init__(self, runtime: Runtime, bus: Bus, host: str, instance_uuid: str, length: int | None) -> None:
        self.runtime = runtime
        self.bus = bus
        self.reply_topic = f"reply.console.{uuid.uuid4().hex}"
        self.answer: Future[ConsoleOutput] = Future()
        command = GetConsoleOutput(host=host, instance_uuid=instance_uuid, length=length)

        def ask() -> None:
            self.bus.subscribe(self.reply_topic, typed(self._on_reply))
            send(self.bus, agent_topic(host), command, reply_to=self.reply_topic)

        runtime.call_soon(ask)

    def _on_reply(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, ConsoleOutput) and not self.answer.done():
            self.answer.set_result(message)
        self.bus.unsubscribe(self.reply_topic)

    def abandon(self) -> None:
        """Stop listening (the caller gave up waiting)."""
        self.runtime.call_soon(lambda: self.bus.unsubscribe(self.reply_topic))
