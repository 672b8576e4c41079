"""Messages between a conductor and the scheduler service (``twinstack scheduler``), as Nova's conductor asks its
scheduler over RPC for ``select_destinations``.

A conductor sends :class:`SelectDestinations` to the ``scheduler`` topic: one durable queue the scheduler processes
compete on, each request acknowledged only once answered, so a request a killed scheduler held is redelivered to
another. The answer, :class:`DestinationsSelected`, goes to the envelope's ``reply_to`` (the asking conductor's
reply topic). The first host is claimed, in SQL, under the request's ``command_id`` as placement consumer; the
conductor hands that claim to the instance when it takes the answer, and releases it when it does not (an answer to
a request it no longer waits for).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.messages import Command, Message, register

SCHEDULER_TOPIC = "scheduler"


class RequestSpecBody(BaseModel):
    """Nova's RequestSpec on the wire: everything the scheduler needs to place one instance."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    instance_uuid: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    availability_zone: str | None = None
    server_group_policy: str | None = None
    server_group_hosts: list[str] = Field(default_factory=list)
    server_group_host_counts: dict[str, int] = Field(default_factory=dict)
    server_group_rules: dict[str, int] = Field(default_factory=dict)
    hints: dict[str, Any] = Field(default_factory=dict)
    ignore_hosts: list[str] = Field(default_factory=list)
    alternates: int = 2
    volume_backed: bool = False


@register
class SelectDestinations(Command):
    """Choose and claim a host for one instance, with alternates. ``command_id`` (a UUID) is the request's id and
    the placement consumer the claim is made under: handling a request again (a redelivery) first releases what an
    earlier handling claimed, so the request is idempotent."""

    name = "scheduler.select_destinations"
    version = "1.0"
    spec: RequestSpecBody


@register
class DestinationsSelected(Message):
    """The scheduler's answer to request ``request_id``: ``hosts`` (the first claimed under ``request_id``, the
    rest alternates), or none and ``fault`` (NoValidHost's message)."""

    name = "scheduler.destinations_selected"
    version = "1.0"
    request_id: str
    instance_uuid: str
    hosts: list[str] = Field(default_factory=list)
    fault: str | None = None
