"""The scheduler service: answers conductors' SelectDestinations from the ``scheduler`` topic (``twinstack
scheduler``, run as often as wanted), as Nova's nova-scheduler answers select_destinations.

Each request is decided by the same FilterScheduler the in-process mode runs (filters, weighers, alternates), and
the first host claimed in SQL through Placement: a compare-and-swap on the provider's generation, so however many
schedulers (and conductors claiming alternates) run at once, no host is double-booked. The claim is made under the
request's id as consumer; the conductor hands it to the instance when it takes the answer.

Delivery: a request is acknowledged only after its handler returned (the answer sent), so one a scheduler held when
it died is redelivered to another. A request is idempotent on its id: handling it again (a redelivery, or the
conductor sending it again after its timeout) first releases what an earlier handling claimed, and decides nothing
when the instance already holds a claim (an earlier answer was taken): a repeat never holds a second host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from twinstack.core.compute.scheduling import spec_of
from twinstack.core.compute.stores import NoValidHost, Scheduler
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.scheduler import SCHEDULER_TOPIC, DestinationsSelected, SelectDestinations

LOG = logging.getLogger(__name__)


class SchedulerService:
    """Decides every SelectDestinations it is handed; ``release`` drops a consumer's claim (Placement.release) and
    ``holds`` says whether a consumer holds one (in SQL, whoever claimed it)."""

    def __init__(self, bus: Bus, scheduler: Scheduler, release: Callable[[str], None],
                 holds: Callable[[str], bool]) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.release = release
        self.holds = holds
        self.answered = 0
        self.refused = 0
        self.repeats = 0
        """Requests answered with hosts, with NoValidHost, and repeats left unanswered (figures)."""

    def start(self) -> None:
        self.bus.subscribe(SCHEDULER_TOPIC, typed(self.handle))

    def handle(self, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, SelectDestinations):
            return
        request_id = message.command_id
        spec = spec_of(message.spec, consumer=request_id)
        if self.holds(spec.instance_uuid):
            LOG.info("request %s: %s already holds its claim (an earlier answer was taken)", request_id,
                     spec.instance_uuid)
            self.repeats += 1
            return
        self.release(request_id)  # a repeat: what an earlier handling (perhaps in a scheduler now dead) claimed goes
        try:
            hosts = self.scheduler.select_destinations(spec)
        except NoValidHost as exc:
            if self.holds(request_id):  # another handling of this very request, at the same time, won the claim
                self.repeats += 1
                return
            answer = DestinationsSelected(request_id=request_id, instance_uuid=spec.instance_uuid, fault=exc.message)
            self.refused += 1
            LOG.info("request %s for %s: %s", request_id, spec.instance_uuid, exc.message)
        else:
            answer = DestinationsSelected(request_id=request_id, instance_uuid=spec.instance_uuid, hosts=hosts)
            self.answered += 1
            LOG.info("request %s for %s: selected %s", request_id, spec.instance_uuid, ", ".join(hosts))
        if envelope.reply_to is None:
            LOG.warning("request %s for %s names no reply topic: nobody would take its claim", request_id,
                        spec.instance_uuid)
            self.release(request_id)
            return
        try:
            send(self.bus, envelope.reply_to, answer)
        except Exception:
            self.release(request_id)  # unanswered, the request is redelivered and decided again
            raise
