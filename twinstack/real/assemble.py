"""Building the real agent a cloud's settings describe (``serve --backend real`` and ``twinstack agent``), and
the real host's storage back ends (``volume.backend = 'real'``)."""

from __future__ import annotations

import socket
from functools import partial
from pathlib import Path

from twinstack.config import Settings
from twinstack.core.image.stores import store_set
from twinstack.core.runtime import Runtime
from twinstack.real.agent import AgentConfig, RealAgent
from twinstack.real.block_resize import grow_attached
from twinstack.real.glance_upload import upload_snapshot
from twinstack.real.image_cache import FileStores, ImageCache
from twinstack.real.nbd_exports import NbdExports
from twinstack.real.storage_agent import FileBackend, RealStorageAgent, file_backends, find_volume
from twinstack.rpc.bus import Bus


def agent_config(settings: Settings) -> AgentConfig:
    real = settings.real
    if real.image_store is not None:
        stores: tuple[Path, ...] = (real.image_store,)
    else:
        stores = tuple(store.root for store in store_set(settings.image, settings.data_dir).stores.values())
    host = real.host or socket.gethostname()
    return AgentConfig(
        name=f"real-agent-{host}",
        host=host,
        state_dir=real.state_dir.resolve(),
        image_stores=tuple(p.resolve() for p in stores),
        libvirt_uri=real.libvirt_uri,
        virt_type=real.virt_type,
        reserved_memory_mb=real.reserved_host_memory_mb,
        cpu_allocation_ratio=real.cpu_allocation_ratio,
        heartbeat_seconds=real.heartbeat_seconds,
        clean_shutdown_seconds=real.clean_shutdown_seconds,
        migration_dir=real.migration_dir.resolve(),
        domain_prefix=real.domain_prefix,
        tunnel_ip=real.tunnel_ip,
        tunnel_port=real.tunnel_port,
    )


def host_backends(settings: Settings) -> list[FileBackend]:
    """This host's storage back ends: one directory per configured back end under ``<state_dir>/volumes``."""
    config = agent_config(settings)
    return file_backends(config.host, settings.volume.backends, config.state_dir / "volumes")


def start_real_agent(settings: Settings, runtime: Runtime, bus: Bus) -> RealAgent:
    """Make the agent and start it on the runtime (it registers once libvirt has answered). It attaches the
    volumes of this host's back ends and uploads snapshots with the cloud's clouds.yaml credentials."""
    clouds_yaml = settings.real.clouds_yaml or settings.data_dir / "clouds.yaml"
    agent = RealAgent(
        agent_config(settings),
        runtime,
        bus,
        find_volume=partial(find_volume, host_backends(settings)),
        upload=partial(upload_snapshot, clouds_yaml.resolve()),
    )
    runtime.call_soon(agent.start)
    return agent


def start_real_storage(settings: Settings, runtime: Runtime, bus: Bus) -> RealStorageAgent:
    """This host's back ends on the bus, reporting every ``volume.report_seconds``; volumes from images are
    copied from the host's base image cache (the one instance disks use); volumes attached to guests of other
    hosts are exported over NBD on ``real.storage_ip``."""
    config = agent_config(settings)
    images = ImageCache(config.state_dir / "_base", FileStores(config.image_stores))
    real = settings.real
    exports = NbdExports(config.state_dir / "nbd", real.storage_ip or real.tunnel_ip or "127.0.0.1",
                         range(real.nbd_port_min, real.nbd_port_max + 1))
    storage = RealStorageAgent(runtime, bus, host_backends(settings), images, settings.volume.report_seconds,
                               grow_attached=partial(grow_attached, config.libvirt_uri), exports=exports)
    runtime.call_soon(storage.start)
    return storage
