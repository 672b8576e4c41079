"""``twinstack agent --backend sim``: a process of simulated hosts joining a control plane over RabbitMQ.

It holds what a real compute host holds and nothing more: its hosts' agent (registration, heartbeats, commands)
and their volume connector. It never opens the cloud's database (DESIGN.md rule 2), so thousands of simulated
hosts can come from several such processes, on several machines. Host names start with the agent's name, so
two agents never claim the same host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twinstack.compute_plane import bus_for
from twinstack.config import Settings
from twinstack.rpc.amqp import AmqpBus
from twinstack.rpc.bus import Bus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Cell, Datacenter, HostGroup, Rack, Zone, load_datacenter
from twinstack.sim.runtime import LiveRuntime
from twinstack.sim.storage import SimHostVolumes, StorageBehaviour

RACK_SIZE = 40


def named_datacenter(name: str, hosts: int, base: Datacenter | None = None) -> Datacenter:
    """``hosts`` identical hosts in racks of RACK_SIZE named ``<name>-r<k>`` (hosts ``<name>-r<k>-<n>``); the
    profile, behaviour and zone of ``base`` if given (its first rack's)."""
    base = base or Datacenter(cells=[Cell(zones=[Zone(racks=[Rack(name="r", hosts=HostGroup(count=1))])])])
    cell, zone, first = base.cells[0], base.cells[0].zones[0], base.cells[0].zones[0].racks[0]
    racks = [Rack(name=f"{name}-r{start // RACK_SIZE:03d}",
                  hosts=HostGroup(profile=first.hosts.profile, count=min(RACK_SIZE, hosts - start)))
             for start in range(0, hosts, RACK_SIZE)]
    return base.model_copy(update={"cells": [cell.model_copy(update={
        "zones": [zone.model_copy(update={"racks": racks})]})], "faults": base.faults.model_copy(
        update={"crashes": []})})


def datacenter_of(name: str, hosts: int | None, path: Path | None) -> Datacenter:
    """The file's datacenter as it is (``hosts`` not given), or ``hosts`` hosts named after the agent (shaped
    like the file's first rack, if a file is given)."""
    base = load_datacenter(path) if path is not None else None
    if hosts is None:
        if base is None:
            raise ValueError("a simulated agent needs --hosts N or --datacenter FILE")
        return base
    return named_datacenter(name, hosts, base)


@dataclass
class SimAgentProcess:
    runtime: LiveRuntime
    bus: Bus
    agent: SimAgent
    volumes: SimHostVolumes

    def stop(self) -> None:
        if isinstance(self.bus, AmqpBus):
            self.bus.close()
        self.runtime.stop()


def start_sim_agent(settings: Settings, name: str, datacenter: Datacenter) -> SimAgentProcess:
    """Start the agent on its own runtime (the wall clock: its heartbeats are judged on the conductors')."""
    runtime = LiveRuntime()
    bus = bus_for(settings.bus, runtime)
    agent = SimAgent(name, runtime, bus, datacenter, seed=settings.compute.seed)
    volumes = SimHostVolumes(runtime, bus, agent.hosts, StorageBehaviour.from_settings(settings.volume),
                             seed=settings.volume.seed + 1)
    runtime.call_soon(agent.start)
    runtime.call_soon(agent.report_holdings)  # a restarted process: the servers it held must not stay ACTIVE
    runtime.call_soon(volumes.start)
    runtime.start()
    return SimAgentProcess(runtime, bus, agent, volumes)
