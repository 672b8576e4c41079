"""Versioned messages between the control plane and host agents (DESIGN.md rule 4).

Every message is a pydantic model with a ``name`` and a ``major.minor`` version. A minor version
only ever adds optional fields, so a receiver built for 1.3 reads anything from 1.0 to 1.3 (the
missing fields take their defaults) and also a newer 1.x (unknown fields are ignored); a new major
is a new contract and is refused. ``tests/unit/test_message_schemas.py`` pins every schema, so a
change to the wire is always deliberate.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """A message body. Subclasses set ``name`` and ``version`` and are registered by name."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    name: ClassVar[str]
    version: ClassVar[str] = "1.0"


class _CommandIds:
    """Unique command ids, cheaply: a random prefix per process and a counter.

    Why not ``uuid4()`` per command: it reads the OS's random source each time, and an offline run sends
    several commands per instance lifecycle (a tenth of a run's time went to ids). The prefix (80 random
    bits) is drawn again in a forked child, so worker processes never share a sequence.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"


new_command_id = _CommandIds()


class Command(Message):
    """A message asking for work. ``command_id`` makes redelivery harmless: a repeat is answered, not redone."""

    command_id: str = Field(default_factory=new_command_id)


class Envelope:
    """What travels on the bus: the message's name and version, and its body as plain data.

    Sealed in this process, an envelope also holds the (frozen) message itself, and the body is made only
    when something reads it: a transport that puts bytes on a wire. The in-process bus hands the envelope
    over as it is, and a receiver of the same version takes the message without a round trip through JSON,
    which in an offline run was a fifth of the time per message. Every message still has a wire form, the
    body: tests/unit/test_messages.py pins each message's schema and rebuilds a message from a body alone.
    """

    __slots__ = ("_body", "message", "name", "reply_to", "version")

    def __init__(
        self,
        name: str,
        version: str,
        body: dict[str, Any] | None = None,
        reply_to: str | None = None,
        message: Message | None = None,
    ) -> None:
        if body is None and message is None:
            raise ValueError("an envelope holds a body or a message")
        self.name = name
        self.version = version
        self.reply_to = reply_to
        self.message = message
        self._body = body

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            assert self.message is not None
            self._body = self.message.model_dump(mode="json")
        return self._body

    def __repr__(self) -> str:
        return f"Envelope({self.name} {self.version}, reply_to={self.reply_to!r})"


class IncompatibleMessage(Exception):
    """A message whose name is unknown here, or whose major version this receiver cannot read."""


M = TypeVar("M", bound=Message)
REGISTRY: dict[str, type[Message]] = {}


def register(cls: type[M]) -> type[M]:
    """Class decorator: make ``cls`` known to :func:`open_envelope` under its name."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"two messages are named {cls.name}")
    REGISTRY[cls.name] = cls
    return cls


def seal(message: Message, reply_to: str | None = None) -> Envelope:
    return Envelope(message.name, message.version, reply_to=reply_to, message=message)


def encode(envelope: Envelope) -> str:
    """The envelope's wire form: JSON of its name, version, body and reply topic (what a broker carries, and what
    a message held in the database keeps)."""
    return json.dumps(
        {"name": envelope.name, "version": envelope.version, "body": envelope.body, "reply_to": envelope.reply_to},
        separators=(",", ":"),
    )


def decode(raw: bytes | str) -> Envelope:
    data = json.loads(raw)
    return Envelope(data["name"], data["version"], body=data["body"], reply_to=data.get("reply_to"))


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def open_envelope(envelope: Envelope) -> Message:
    """The message inside, as this receiver's version of its model."""
    cls = REGISTRY.get(envelope.name)
    if envelope.message is not None and type(envelope.message) is cls:
        return envelope.message  # sealed in this process by this very model: nothing to translate
    if cls is None:
        raise IncompatibleMessage(f"unknown message {envelope.name}")
    if major(envelope.version) != major(cls.version):
        raise IncompatibleMessage(f"{envelope.name} {envelope.version} cannot be read by a receiver of {cls.version}")
    return cls.model_validate(envelope.body)
