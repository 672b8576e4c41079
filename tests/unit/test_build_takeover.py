"""A conductor's build takeover keeps beating and never loses a build it adopted: whatever fails in one round
(the database away as it adopts, a resumed build failing halfway) is taken up again at the next."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from twinstack.core.compute.takeover import WorkTakeover
from twinstack.processes.conductor import beat_in_background
from twinstack.sim.runtime import SimRuntime
from twinstack.wallclock import WallClock

INTERVAL = 10.0


@dataclass
class Registry:
    """The registry's contract in memory: orphans and unsent builds handed out once, failing when told to."""

    orphans: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)
    fail_unsent: int = 0
    beats: list[float] = field(default_factory=list)
    owned: dict[str, str] = field(default_factory=dict)

    def beat(self, name: str, at: float) -> None:
        self.beats.append(at)

    def own(self, name: str, instance_uuids: Sequence[str]) -> None:
        self.owned.update(dict.fromkeys(instance_uuids, name))

    def adopt_orphans(self, name: str, dead_before: float, own_too: bool = False) -> list[str]:
        taken, self.orphans = self.orphans, []
        self.own(name, taken)
        return taken

    def adopt_unsent(self, name: str, sent_before: float) -> list[str]:
        if self.fail_unsent:
            self.fail_unsent -= 1
            raise ConnectionError("the database went away")
        taken, self.unsent = self.unsent, []
        self.own(name, taken)
        return taken


@dataclass
class Conductor:
    fail: set[str] = field(default_factory=set)
    resumed: list[str] = field(default_factory=list)

    def resume_work(self, instance_uuid: str) -> None:
        if instance_uuid in self.fail:
            self.fail.discard(instance_uuid)
            raise ConnectionError("the database went away")
        self.resumed.append(instance_uuid)


def takeover(registry: Registry, conductor: Conductor) -> tuple[SimRuntime, WorkTakeover]:
    runtime = SimRuntime(epoch=0.0)
    take = WorkTakeover("c1", registry, conductor, runtime, down_after=30.0, interval=INTERVAL)
    runtime.call_soon(take.start)
    return runtime, take


def test_orphans_adopted_in_a_round_whose_unsent_look_fails_are_still_resumed() -> None:
    registry, conductor = Registry(orphans=["vm-1"], unsent=["vm-2"], fail_unsent=1), Conductor()
    runtime, take = takeover(registry, conductor)
    runtime.run(until=1)
    assert registry.owned == {"vm-1": "c1"} and conductor.resumed == ["vm-1"], "recorded here: resumed here"
    runtime.run(until=INTERVAL + 1)
    assert conductor.resumed == ["vm-1", "vm-2"] and take.adopted == ["vm-1", "vm-2"]


def test_a_resume_that_fails_is_tried_again_and_the_beats_go_on() -> None:
    registry, conductor = Registry(orphans=["vm-1", "vm-2"]), Conductor(fail={"vm-1"})
    runtime, take = takeover(registry, conductor)
    runtime.run(until=1)
    assert conductor.resumed == ["vm-2"]
    runtime.run(until=3 * INTERVAL + 1)
    assert registry.beats == [0.0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL], "a failed resume never stops the beats"
    assert conductor.resumed == ["vm-2", "vm-1"] and take.adopted == ["vm-1", "vm-2"]


def test_a_takeover_whose_process_beats_on_its_own_thread_does_not_beat_on_the_runtime() -> None:
    registry, conductor = Registry(orphans=["vm-1"]), Conductor()
    runtime = SimRuntime(epoch=0.0)
    take = WorkTakeover("c1", registry, conductor, runtime, down_after=30.0, interval=INTERVAL, beats=False)
    runtime.call_soon(take.start)
    runtime.run(until=2 * INTERVAL + 1)
    assert registry.beats == [] and conductor.resumed == ["vm-1"], "adopts on the runtime, beats elsewhere"


def test_a_conductor_process_beats_while_its_runtime_is_busy() -> None:
    """The beats come from a thread of their own: a runtime held up by a burst (here, never run at all) does not
    make its conductor look dead to the others, which would take over builds it is still driving."""
    registry = Registry()
    beat_in_background(registry, "c1", WallClock(), interval=0.02)
    assert len(registry.beats) == 1, "the first beat before it returns"
    deadline = time.monotonic() + 5
    while len(registry.beats) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(registry.beats) >= 4 and registry.beats == sorted(registry.beats)
