"""The scheduler service: answers conductors' SelectDestinations from the ``scheduler`` topic (``twinstack
scheduler``, run as often as wanted), as Nova's nova-scheduler answers select_destinations.

Each request is decided by the same FilterScheduler the in-process mode runs (filters, weighers, alternates), and
the first host claimed in SQL through Placement: a compare-and-swap on the provider's generation, so however many
schedulers (and conductors claiming alternates) run at once, no host is double-booked. The claim is made under the
request's id as consumer; the conductor hands it to the instance when it takes the answer.

Delivery: a request is acknowledged only after its handler returned (the answer sent), so one a scheduler held when
it died is redelivered to another. Handling a request again first releases what its earlier handling claimed: a
request is idempotent on its id, and a redelivery never holds two claims.
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
    """Decides every SelectDestinations it is handed; ``release`` drops a consumer's claim (Placement.release)."""

    def __init__(self, bus: Bus, scheduler: Scheduler, release: Callable[[str], None]) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.release = release
        self.answered = 0
        self.refused = 0
        """Requests answered with hosts, and with NoValidHost (figures)."""

    def start(self) -> None:
        self.bus.subscribe(SCHEDULER_TOPIC, typed(self.handle))

    def handle(self, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, SelectDestinations):
            return
        request_id = message.command_id
        self.release(request_id)  # a redelivery: what the earlier handling (in a scheduler now dead) claimed goes
        spec = spec_of(message.spec, consumer=request_id)
        try:
            hosts = self.scheduler.select_destinations(spec)
        except NoValidHost as exc:
            answer = DestinationsSelected(request_id=request_id, instance_uuid=spec.instance_uuid, fault=exc.message)
            self.refused += 1
        else:
            answer = DestinationsSelected(request_id=request_id, instance_uuid=spec.instance_uuid, hosts=hosts)
            self.answered += 1
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
