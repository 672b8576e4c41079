"""``twinstack agent`` for this machine's libvirt, joining a control plane over RabbitMQ as any compute host does:
the agent (and this host's storage back ends, with ``volume.backend = 'real'``) on a runtime of their own."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.compute_plane import bus_for
from twinstack.config import Settings
from twinstack.real.agent import RealAgent
from twinstack.real.assemble import start_real_agent, start_real_storage
from twinstack.real.storage_agent import RealStorageAgent
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.bus import Bus
from twinstack.sim.runtime import LiveRuntime


@dataclass
class RealAgentProcess:
    runtime: LiveRuntime
    bus: Bus
    agent: RealAgent
    storage: RealStorageAgent | None

    def stop(self) -> None:
        self.agent.stop()
        if isinstance(self.bus, AmqpBus):
            self.bus.close()
        self.runtime.stop()


def start_real_agent_process(settings: Settings) -> RealAgentProcess:
    runtime = LiveRuntime()
    bus = bus_for(settings.bus, runtime)
    agent = start_real_agent(settings, runtime, bus)
    storage = start_real_storage(settings, runtime, bus) if settings.volume.backend == "real" else None
    runtime.start()
    return RealAgentProcess(runtime, bus, agent, storage)
