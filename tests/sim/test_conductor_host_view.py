"""The scheduler's cached view of the hosts: re-read on a tick, and at once when the conductor hears of a change.

Reading thousands of hosts before every decision would dominate the scheduler, so its view is re-read only every
``host_refresh_seconds``; an operator's change (``conductor.hosts_changed``) and hosts registering make the very
next decision re-read it.
"""

from __future__ import annotations

import random

from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore, MemoryPlacement
from twinstack.core.compute.model import Instance
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.rpc.compute import FlavorSpec
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

SMALL = FlavorSpec(id="2", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
PACK = SchedulerSettings(host_refresh_seconds=600, weighers={"RAMWeigher": -1.0})
"""Stack on the fullest host: while it is open, every build lands on the same host."""


class Cloud:
    def __init__(self, hosts: int = 2) -> None:
        self.runtime = SimRuntime(epoch=0.0)
        bus = InProcessBus(self.runtime)
        datacenter = uniform_datacenter(hosts, profile=HostProfile(vcpus=8, ram_mb=16384, cpu_allocation_ratio=1.0))
        datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
            boot_seconds=Fixed(value=1), delete_seconds=Fixed(value=1), heartbeat_seconds=10)})
        self.instances, self.hosts, placement = MemoryInstanceStore(), MemoryHostStore(), MemoryPlacement()
        self.scheduler = FilterScheduler(placement, PACK,
                                         rng=random.Random(0), clock=self.runtime.clock, hosts=self.hosts)
        Conductor(self.runtime, bus, self.instances, self.hosts, placement, self.scheduler,
                  ConductorSettings(service_down_time=60)).start()
        self.compute = ComputeService(self.runtime, bus, self.instances)
        SimAgent("sim", self.runtime, bus, datacenter, seed=1).start()
        self.runtime.run(until=1)

    def boot(self, name: str) -> Instance:
        [vm] = self.compute.create_servers(BootRequest(name=name, project_id="p", user_id="u", flavor=SMALL),
                                           request_id=f"req-{name}")
        self.runtime.run(until=self.runtime.clock.now() + 5)
        assert vm.status == "ACTIVE", vm.fault
        return vm


def test_hosts_that_register_are_scheduled_to_without_waiting_for_the_tick() -> None:
    cloud = Cloud()
    assert cloud.boot("vm").host in {"sim000-0000", "sim000-0001"}


def test_a_change_the_conductor_hears_of_reaches_the_next_decision() -> None:
    cloud = Cloud()
    first = cloud.boot("first").host
    assert first is not None
    cloud.hosts.set_service(first, disabled=True)
    assert cloud.boot("cached").host == first, "the view is cached until the tick or a change message"
    cloud.compute.hosts_changed("first host disabled")
    [other] = {"sim000-0000", "sim000-0001"} - {first}
    assert {cloud.boot(f"after{n}").host for n in range(3)} == {other}
    cloud.hosts.set_service(first, disabled=False)
    cloud.hosts.set_service(other, disabled=True)
    cloud.runtime.run(until=cloud.runtime.clock.now() + 600)
    assert cloud.boot("ticked").host == first, "the tick re-reads the view even unprompted"
