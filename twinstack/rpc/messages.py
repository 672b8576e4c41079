"""Versioned messages between the control plane and host agents (DESIGN.md rule 4).

Every message is a pydantic model with a ``name`` and a ``major.minor`` version. A minor version
only ever adds optional fields, so a receiver built for 1.3 reads anything from 1.0 to 1.3 (the
missing fields take their defaults) and also a newer 1.x (unknown fields are ignored); a new major
is a new contract and is refused. ``tests/unit/test_message_schemas.py`` pins every schema, so a
change to the wire is always deliberate.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """A message body. Subclasses set ``name`` and ``version`` and are registered by name."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    name: ClassVar[str]
    version: ClassVar[str] = "1.0"


class Command(Message):
    """A message asking for work. ``command_id`` makes redelivery harmless: a repeat is answered, not redone."""

    command_id: str = Field(default_factory=lambda: uuid.uuid4().hex)


class Envelope(BaseModel):
    """What travels on the bus: the message's name and version, and its body as plain data."""

    model_config = ConfigDict(frozen=True)
    name: str
    version: str
    body: dict[str, Any]
    reply_to: str | None = None


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
    return Envelope(name=message.name, version=message.version, body=message.model_dump(mode="json"),
                    reply_to=reply_to)


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def open_envelope(envelope: Envelope) -> Message:
    """The message inside, as this receiver's version of its model."""
    cls = REGISTRY.get(envelope.name)
    if cls is None:
        raise IncompatibleMessage(f"unknown message {envelope.name}")
    if major(envelope.version) != major(cls.version):
        raise IncompatibleMessage(
            f"{envelope.name} {envelope.version} cannot be read by a receiver of {cls.version}"
        )
    return cls.model_validate(envelope.body)
