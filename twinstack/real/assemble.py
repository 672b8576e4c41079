"""Building the real agent a cloud's settings describe (``serve --backend real`` and ``twinstack agent``)."""

from __future__ import annotations

import socket
from pathlib import Path

from twinstack.config import Settings
from twinstack.core.image.stores import store_set
from twinstack.core.runtime import Runtime
from twinstack.real.agent import AgentConfig, RealAgent
from twinstack.rpc.bus import Bus


def agent_config(settings: Settings) -> AgentConfig:
    real = settings.real
    if real.image_store is not None:
        stores: tuple[Path, ...] = (real.image_store,)
    else:
        stores = tuple(store.root for store in store_set(settings.image, settings.data_dir).stores.values())
    host = real.host or socket.gethostname()
    return AgentConfig(name=f"real-agent-{host}", host=host, state_dir=real.state_dir.resolve(),
                       image_stores=tuple(p.resolve() for p in stores), libvirt_uri=real.libvirt_uri,
                       virt_type=real.virt_type, reserved_memory_mb=real.reserved_host_memory_mb,
                       cpu_allocation_ratio=real.cpu_allocation_ratio, heartbeat_seconds=real.heartbeat_seconds,
                       clean_shutdown_seconds=real.clean_shutdown_seconds)


def start_real_agent(settings: Settings, runtime: Runtime, bus: Bus) -> RealAgent:
    """Make the agent and start it on the runtime (it registers once libvirt has answered)."""
    agent = RealAgent(agent_config(settings), runtime, bus)
    runtime.call_soon(agent.start)
    return agent
