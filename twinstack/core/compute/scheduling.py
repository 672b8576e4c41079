"""How a conductor asks for destinations: the seam between its build flow and a scheduler, wherever that runs.

The build flow is written once, callback-driven, so that it runs unchanged in SimPy's virtual time and on a live
runtime: ``select(spec, chosen, refused)`` calls back with the hosts (the first claimed for the instance) or with
NoValidHost. :class:`LocalDestinations` asks an in-process scheduler and calls back at once, inside ``select``
(``twinstack serve``'s embedded plane and the offline simulator: nothing changes for them, not even the order of
events). :class:`~twinstack.core.compute.remote_scheduling.RemoteDestinations` asks the scheduler service over
the bus and calls back when its answer comes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twinstack.core.compute.stores import NoValidHost, RequestSpec, Scheduler
from twinstack.rpc.scheduler import DestinationsSelected, RequestSpecBody

Chosen = Callable[[list[str]], None]
"""Called with ``[claimed host, *alternates]``; the claim is the instance's by then."""
Refused = Callable[[NoValidHost], None]
Waits = Callable[[], bool]
"""Does the asker still want destinations? Asked before an answer that comes later is taken (its claim handed to
the instance): a build waits while its instance is building on no host, a move while its instance is still in the
move's first task."""


class Destinations(Protocol):
    answers_later: bool
    """True when the answer comes after ``select`` returned (the instance may have changed meanwhile)."""

    def select(self, spec: RequestSpec, chosen: Chosen, refused: Refused, waits: Waits | None = None) -> None:
        """Find destinations for ``spec.instance_uuid``; exactly one of ``chosen`` or ``refused`` is called, once,
        unless :meth:`cancel` came first. A new ``select`` for the same instance supersedes the one before.
        ``waits`` says whether a late answer is still wanted (default: the instance still waits to be built)."""
        ...

    def hear(self, answer: DestinationsSelected) -> None:
        """A scheduler's answer arrived on the conductor's reply topic."""
        ...

    def waiting(self) -> set[str]:
        """The instances whose destinations are being selected."""
        ...

    def cancel(self, instance_uuid: str) -> None:
        """Stop waiting for the instance (it was deleted): neither callback will be called."""
        ...


class LocalDestinations:
    """The scheduler in this process: it decides (and claims) inside :meth:`select`."""

    answers_later = False

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def select(self, spec: RequestSpec, chosen: Chosen, refused: Refused, waits: Waits | None = None) -> None:
        """Decide now; ``waits`` does not matter: nothing can change before the answer."""
        try:
            hosts = self.scheduler.select_destinations(spec)
        except NoValidHost as exc:
            refused(exc)
            return
        chosen(hosts)

    def hear(self, answer: DestinationsSelected) -> None:
        """Nothing is asked over the bus: an answer here is a stray (a remote scheduler's, for another setting)."""

    def waiting(self) -> set[str]:
        return set()

    def cancel(self, instance_uuid: str) -> None:
        """Nothing waits: the decision was made inside ``select``."""


def spec_body(spec: RequestSpec) -> RequestSpecBody:
    """The request's wire form (sets become sorted lists, so the body is the same wherever it is made)."""
    return RequestSpecBody(
        instance_uuid=spec.instance_uuid, project_id=spec.project_id, user_id=spec.user_id, flavor=spec.flavor,
        image=spec.image, availability_zone=spec.availability_zone, server_group_policy=spec.server_group_policy,
        server_group_hosts=sorted(spec.server_group_hosts),
        server_group_host_counts=dict(spec.server_group_host_counts),
        server_group_rules=dict(spec.server_group_rules), hints=dict(spec.hints),
        ignore_hosts=sorted(spec.ignore_hosts), alternates=spec.alternates, volume_backed=spec.volume_backed)


def spec_of(body: RequestSpecBody, consumer: str | None = None) -> RequestSpec:
    """The request a scheduler decides on, from its wire form; ``consumer`` holds the claim (see RequestSpec)."""
    return RequestSpec(
        instance_uuid=body.instance_uuid, project_id=body.project_id, user_id=body.user_id, flavor=body.flavor,
        image=body.image, availability_zone=body.availability_zone, server_group_policy=body.server_group_policy,
        server_group_hosts=frozenset(body.server_group_hosts),
        server_group_host_counts=dict(body.server_group_host_counts),
        server_group_rules=dict(body.server_group_rules), hints=dict(body.hints),
        ignore_hosts=frozenset(body.ignore_hosts), alternates=body.alternates, volume_backed=body.volume_backed,
        consumer=consumer)
