"""Work outliving its conductor: where several conductors share the work, one that dies leaves builds, deletes and
power actions only it was driving (their answers go to its reply topic, their deadlines were in its memory). Every
conductor beats in a registry and records the instances it takes work on; a conductor that starts, and every one
every ``check_interval``, adopts the work of conductors silent for ``service_down_time`` and drives it again
(Conductor.resume_work: a build starts over, a delete or a power action is sent again). A conductor restarted
under the same name adopts its own old work at start: it has nothing in flight.

The conductors of a cell with a bus of its own (``twinstack conductor --cell``) share their cell's work the same
way among themselves, in a registry of their cell's own database (as Nova's cell conductors are services of their
cell's database): a top-level conductor never adopts their work, nor they its.

A build handed over to a cell's conductors (BuildPlaced) is claimed, not simply recorded: the message may reach a
second conductor of the cell while the first drives it (the broker redelivers it when its acknowledgement was lost
with a connection, or a top-level conductor that took over sends it again), and only one may drive it. The claim
takes the build for a conductor if no conductor of the cell that is alive (beat within ``service_down_time``) other
than itself holds it; one held by a dead conductor is taken over as its adoption would have been.

Builds no conductor ever heard of are adopted the same way: an API process that died (kill -9 of an API worker)
between recording a server and publishing its build leaves it waiting to be scheduled with nobody to do it; once
it has waited ``lost_after`` (the larger of service_down_time and the build timeout: longer than a backlog of
builds takes to drain) without any conductor recording it, its BuildInstances is taken as lost. A message
delayed longer still that reaches another conductor while the adopter is scheduling it could be built twice;
one that arrives after finds it placed and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from twinstack.core.runtime import Runtime

LOG = logging.getLogger(__name__)


class Claim(Enum):
    """What claiming a handed-over build gave (ConductorRegistry.claim)."""

    REFUSED = "refused"
    """A live conductor other than the claimant holds it: it drives the build, the claimant leaves it alone."""
    FREE = "free"
    """Nobody held it, or the claimant already did: the claimant drives it."""
    ORPHANED = "orphaned"
    """A conductor now dead held it: the claimant took it over, and drives it as a takeover does."""


class ConductorRegistry(Protocol):
    """Shared by the conductors (twinstack.db.stores.conductors.SqlConductorRegistry)."""

    def beat(self, name: str, at: float) -> None: ...

    def own(self, name: str, instance_uuids: Sequence[str]) -> None: ...

    def claim(self, name: str, instance_uuid: str, alive_since: float) -> Claim: ...

    def adopt_orphans(self, name: str, dead_before: float, own_too: bool = False) -> list[str]: ...

    def adopt_unsent(self, name: str, sent_before: float) -> list[str]: ...


class Resumable(Protocol):
    """What of the conductor a takeover drives."""

    def resume_work(self, instance_uuid: str) -> None: ...


class WorkTakeover:
    """One conductor's part: beat, record the instances it works on, adopt the orphans (all on its runtime)."""

    def __init__(self, name: str, registry: ConductorRegistry, conductor: Resumable, runtime: Runtime,
                 down_after: float, interval: float, lost_after: float | None = None, beats: bool = True,
                 adopts_unsent: bool = True) -> None:
        self.name = name
        self.beats = beats
        """Beat on the runtime with each round; False where the process beats on a thread of its own: a runtime
        behind a burst of work runs its rounds late, and a conductor beating only there looks dead to the others
        while it is busy, which then take over builds it is still driving (each then built twice)."""
        self.registry = registry
        self.conductor = conductor
        self.runtime = runtime
        self.down_after = down_after
        self.lost_after = lost_after if lost_after is not None else down_after
        """How long a build nobody recorded waits before its message counts as lost."""
        self.adopts_unsent = adopts_unsent
        """Take the builds no conductor ever received; False for a cell's conductors (builds are scheduled, and so
        recorded, by the top-level ones: a cell's conductor only takes over its peers' work)."""
        self.interval = interval
        self.adopted: list[str] = []
        """Every instance whose work was taken over, in order (what tests and logs read)."""
        self._to_resume: list[str] = []
        """Instances taken over and not yet resumed (a resume failed: tried again next round)."""

    def start(self) -> None:
        self._beat_and_adopt(first=True)

    def record(self, instance_uuids: Sequence[str]) -> None:
        """This conductor drives the work on these instances now (called before it schedules or sends it)."""
        self.registry.own(self.name, instance_uuids)

    def claim(self, instance_uuid: str) -> Claim:
        """Take a build handed over to this conductor unless a live peer drives it (see the module)."""
        claim = self.registry.claim(self.name, instance_uuid, self.runtime.clock.now() - self.down_after)
        if claim is Claim.ORPHANED:
            LOG.warning("conductor %s takes over the work on %s (handed over again)", self.name, instance_uuid)
            self.adopted.append(instance_uuid)
        elif claim is Claim.REFUSED:
            LOG.info("conductor %s leaves the build of %s to the live conductor that drives it", self.name,
                     instance_uuid)
        return claim

    def _beat_and_adopt(self, first: bool = False) -> None:
        # re-armed first: a failure below (the database away, a resumed piece of work failing halfway) never stops
        # the beats
        self.runtime.call_later(self.interval, self._beat_and_adopt)
        now = self.runtime.clock.now()
        try:
            if self.beats:
                self.registry.beat(self.name, now)
            self._taken(self.registry.adopt_orphans(self.name, now - self.down_after, own_too=first))
            if self.adopts_unsent:
                self._taken(self.registry.adopt_unsent(self.name, now - self.lost_after))
        except Exception:  # the database is away: try again next round
            LOG.exception("conductor %s could not reach its registry", self.name)
        self._resume()

    def _taken(self, uuids: list[str]) -> None:
        """Builds recorded as this conductor's: nobody else will adopt them while it beats, so each is resumed here
        whatever fails after (kept until its resume succeeds)."""
        for uuid in uuids:
            LOG.warning("conductor %s takes over the work on %s", self.name, uuid)
        self.adopted += uuids
        self._to_resume += uuids

    def _resume(self) -> None:
        """Resume the work taken; one that fails is tried again next round, the others go on."""
        failed = []
        for uuid in self._to_resume:
            try:
                self.conductor.resume_work(uuid)
            except Exception:
                LOG.exception("conductor %s could not resume the work on %s: trying again in %g s", self.name,
                              uuid, self.interval)
                failed.append(uuid)
        self._to_resume = failed
