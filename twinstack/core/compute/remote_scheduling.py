"""Destinations from the scheduler service (``twinstack scheduler``), asked over the bus as Nova's conductor asks
its scheduler: a conductor whose ``[compute] scheduler`` is 'remote'.

Contract:

* ``select`` sends :class:`~twinstack.rpc.scheduler.SelectDestinations` (a fresh UUID as request id) to the
  ``scheduler`` topic with the conductor's reply topic, and returns; the build continues when the answer comes.
* The scheduler claims the first host under the request id. Taking an answer hands that claim to the instance
  (``adopt``, one SQL transaction, only if the request still holds it on the host the answer names) before
  ``chosen`` runs; an answer nobody waits for any more (superseded by a later request of the build, the instance
  deleted or placed meanwhile, a repeat) is dropped and its claim released, so a request answered twice or late
  never leaves room held.
* A request unanswered after ``timeout`` seconds is sent again, under the same id: a scheduler handling it again
  first releases what an earlier handling claimed, and decides nothing for an instance that already holds a claim
  (an earlier answer was taken), so a repeat never holds a second host. A build is refused (a NoValidHost fault
  naming the silence) only once its request went unanswered for ``sends`` timeouts during which no scheduler
  answered anything either (every scheduler gone), or for ``max_sends`` timeouts whatever the others' answers (a
  request no scheduler can handle): a build never waits for nothing. While schedulers answer other requests, a
  slow answer is a queue behind a burst, not a silence: the request is sent again but the build keeps waiting.
  A request a scheduler held when it died is not lost meanwhile: the broker redelivers it (acknowledged only once
  answered) to another.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

from twinstack.core.compute.scheduling import Chosen, Refused, Waits, spec_body
from twinstack.core.compute.stores import NoValidHost, RequestSpec
from twinstack.core.runtime import Runtime, Timer
from twinstack.rpc.bus import Bus, send
from twinstack.rpc.scheduler import SCHEDULER_TOPIC, DestinationsSelected, SelectDestinations

LOG = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. "


@dataclass
class _Wait:
    spec: RequestSpec
    chosen: Chosen
    refused: Refused
    waits: Waits | None = None
    """Whether the answer is still wanted; None: the instance still waits to be built (``ClaimHandover.takes``)."""
    request: SelectDestinations | None = None
    sends: int = 0
    silent: int = 0
    """Timeouts passed without an answer from any scheduler."""
    timer: Timer | None = None
    taken: bool = False
    """The instance took a claim and the build failed after (its continuation raised), or the hand-over failed,
    perhaps once made: release what the instance holds before asking again, or the scheduler would take the
    request as served."""


@dataclass(frozen=True)
class ClaimHandover:
    """What the conductor lends to take or drop a scheduler's claim."""

    takes: Callable[[str], bool]
    """Does the instance still wait to be placed (building, on no host)?"""
    adopt: Callable[[str, str, str], bool]
    """Hand the claim request ``source`` holds on host ``host`` to instance ``target``; False (nothing changed) if
    ``source`` holds nothing there."""
    release: Callable[[str], None]
    """Drop whatever request ``consumer`` holds (idempotent)."""


class RemoteDestinations:
    """Destinations asked of the scheduler service over ``bus``; see the module docstring."""

    answers_later = True

    def __init__(self, runtime: Runtime, bus: Bus, reply_topic: str, claims: ClaimHandover, timeout: float,
                 sends: int = 3, max_sends: int = 10) -> None:
        self.runtime = runtime
        self.bus = bus
        self.reply_topic = reply_topic
        self.claims = claims
        self.timeout = timeout
        self.sends = sends
        self.max_sends = max_sends
        self._heard_at = -math.inf
        """When a scheduler last answered this conductor (any request)."""
        self._waits: dict[str, _Wait] = {}
        """Request id -> the build waiting for its answer."""
        self._current: dict[str, str] = {}
        """Instance -> the request its build waits for."""
        self.resent = 0
        self.dropped = 0
        """Requests sent again after their timeout, and answers dropped (figures, for tests and benchmarks)."""

    def select(self, spec: RequestSpec, chosen: Chosen, refused: Refused, waits: Waits | None = None) -> None:
        self._ask(_Wait(spec, chosen, refused, waits))

    def _wanted(self, wait: _Wait) -> bool:
        return wait.waits() if wait.waits is not None else self.claims.takes(wait.spec.instance_uuid)

    def _ask(self, wait: _Wait) -> None:
        if wait.request is None:
            wait.request = SelectDestinations(command_id=str(uuid4()), spec=spec_body(wait.spec))
        request = wait.request
        request_id, instance = request.command_id, wait.spec.instance_uuid
        previous = self._current.get(instance)
        if previous is not None:
            self._drop(previous)
        wait.sends += 1
        self._waits[request_id] = wait
        self._current[instance] = request_id
        # armed before sending: a request the broker did not take is sent again when it passes
        wait.timer = self.runtime.call_later(self.timeout, lambda: self._expired(request_id))
        send(self.bus, SCHEDULER_TOPIC, request, reply_to=self.reply_topic)

    def _drop(self, request_id: str) -> _Wait | None:
        wait = self._waits.pop(request_id, None)
        if wait is None:
            return None
        if wait.timer is not None:
            wait.timer.cancel()
        instance = wait.spec.instance_uuid
        if self._current.get(instance) == request_id:
            del self._current[instance]
        return wait

    def hear(self, answer: DestinationsSelected) -> None:
        self._heard_at = self.runtime.clock.now()
        request_id = answer.request_id
        wait = self._waits.get(request_id)
        if wait is None:
            self._discard(answer, "no build waits for it")
            return
        if not answer.hosts:
            self._drop(request_id)
            reason = (answer.fault or "").removeprefix(NO_VALID_HOST) or "The scheduler refused."
            self._continue(request_id, wait, lambda: wait.refused(NoValidHost(reason)))
            return
        instance = wait.spec.instance_uuid
        if not self._wanted(wait):
            self._drop(request_id)
            self._discard(answer, "the instance no longer waits to be placed")
            return
        try:
            adopted = self.claims.adopt(request_id, instance, answer.hosts[0])
        except Exception:
            wait.taken = True  # perhaps made before it failed: what the instance holds is released before asking again
            raise
        if not adopted:
            # another handling of this request (a redelivery, a repeat) released that claim: its answer follows
            LOG.warning("request %s for %s holds no claim on %s any more; waiting for its next answer",
                        request_id, instance, answer.hosts[0])
            return
        self._drop(request_id)
        hosts = list(answer.hosts)
        self._continue(request_id, wait, lambda: wait.chosen(hosts))

    def _continue(self, request_id: str, wait: _Wait, then: Callable[[], None]) -> None:
        """Run the build's continuation; if it fails halfway (the database gone for a moment), the request is
        waited for again, so the answer's redelivery, or the timeout, carries the build on."""
        try:
            then()
        except Exception:
            if wait.spec.instance_uuid not in self._current:
                wait.request, wait.taken = None, True  # asked again under a new id once its claim is released
                self._waits[request_id] = wait
                self._current[wait.spec.instance_uuid] = request_id
                wait.timer = self.runtime.call_later(self.timeout, lambda: self._expired(request_id))
            raise

    def _discard(self, answer: DestinationsSelected, why: str) -> None:
        self.dropped += 1
        if answer.hosts:
            LOG.info("dropping the answer to %s for %s (%s): its claim on %s is released", answer.request_id,
                     answer.instance_uuid, why, answer.hosts[0])
            self.claims.release(answer.request_id)

    def _expired(self, request_id: str) -> None:
        wait = self._waits.get(request_id)
        if wait is None:
            return
        instance = wait.spec.instance_uuid
        try:
            if not self._wanted(wait):
                # placed after all (its continuation failed after the instance was saved on its host: the spawn's
                # deadline carries it, on the claim it holds), deleted, or placed by another conductor: nothing to
                # ask for, and no claim here to release
                self._drop(request_id)
                return
            if wait.taken:
                self.claims.release(instance)
                wait.taken = False
        except Exception:  # the database still away: try again at the next timeout
            LOG.exception("request %s for %s: the database failed; trying again in %g s", request_id, instance,
                          self.timeout)
            wait.timer = self.runtime.call_later(self.timeout, lambda: self._expired(request_id))
            return
        self._drop(request_id)
        if self.runtime.clock.now() - self._heard_at >= self.timeout:
            wait.silent += 1
        if wait.silent >= self.sends or wait.sends >= self.max_sends:
            LOG.error("no scheduler answered %s requests for %s: refused", wait.sends, instance)
            reason = f"No scheduler answered within {wait.sends} requests of {self.timeout:g} s."
            # failing halfway, the refusal is waited for again and made at the next timeout, never left undone
            self._continue(request_id, wait, lambda: wait.refused(NoValidHost(reason)))
            return
        LOG.warning("no scheduler answered request %s for %s within %g s: sending it again", request_id, instance,
                    self.timeout)
        self.resent += 1
        self._ask(wait)

    def waiting(self) -> set[str]:
        return set(self._current)

    def cancel(self, instance_uuid: str) -> None:
        request_id = self._current.get(instance_uuid)
        if request_id is not None:
            self._drop(request_id)
