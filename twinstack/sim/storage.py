"""Simulated storage: back ends with pools that hold volumes, and the hosts' side of connecting them.

:class:`SimStorageAgent` speaks the block storage protocol (:mod:`twinstack.rpc.volume`) exactly as a real
back end would: it reports each pool's capacity at start and every ``report_seconds``, and answers create,
clone, snapshot, extend and delete after times drawn from its behaviour (a copy takes size / copy speed). A
pool refuses a volume it has no real room for (the scheduler's promise notwithstanding), leaving nothing
behind. :class:`SimHostVolumes` answers the hosts' connect and disconnect commands.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from twinstack.config import VolumeBackendSettings, VolumeSettings
from twinstack.core.runtime import Runtime
from twinstack.rpc.answers import AnswerMemory
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.volume import (
    VOLUME_TOPIC,
    ConnectVolume,
    CreateSnapshot,
    CreateVolume,
    DeleteSnapshot,
    DeleteVolume,
    DisconnectVolume,
    ExtendVolume,
    HostVolumeResult,
    MigrateVolume,
    PoolReport,
    PoolsReported,
    StorageOperation,
    StorageResult,
    host_volumes_topic,
    storage_topic,
)
from twinstack.sim.distributions import Fixed, LogNormal

GIB = 1024**3
THIN_WRITTEN = 0.25
"""Share of a thin volume's size its (simulated) guest has written: what a thin pool really loses."""


@dataclass
class StorageBehaviour:
    """How long simulated storage takes: a median per operation, spread by ``jitter`` (0: always the median)."""

    create_seconds: float = 1.0
    delete_seconds: float = 0.5
    attach_seconds: float = 0.5
    copy_gb_per_second: float = 10.0
    jitter: float = 0.0

    @classmethod
    def from_settings(cls, settings: VolumeSettings) -> StorageBehaviour:
        return cls(settings.create_seconds, settings.delete_seconds, settings.attach_seconds,
                   settings.clone_gb_per_second, settings.jitter)

    def draw(self, median: float, rng: random.Random) -> float:
        if median <= 0:
            return 0.0
        dist = LogNormal(median=median, sigma=self.jitter) if self.jitter else Fixed(value=median)
        return dist.sample(rng)


@dataclass
class SimPool:
    name: str
    capacity_gb: int
    thin: bool
    volumes: dict[str, int] = field(default_factory=dict)
    """volume id -> size (GiB)"""
    snapshots: dict[str, int] = field(default_factory=dict)

    def used_gb(self) -> int:
        held = sum(self.volumes.values()) + sum(self.snapshots.values())
        return int(held * THIN_WRITTEN) if self.thin else held

    def room_for(self, size_gb: int) -> bool:
        return self.thin or self.used_gb() + size_gb <= self.capacity_gb


@dataclass
class SimBackend:
    settings: VolumeBackendSettings
    name: str
    """``host@backend``"""
    pools: dict[str, SimPool]


def pool_names(host: str, backend: VolumeBackendSettings) -> list[str]:
    """``host@backend#pool``: one pool is named after the back end (as Cinder's LVM driver does), more are
    ``pool0``, ``pool1``..."""
    if backend.pools == 1:
        return [f"{host}@{backend.name}#{backend.volume_backend_name}"]
    return [f"{host}@{backend.name}#pool{i}" for i in range(backend.pools)]


class SimStorageAgent:
    def __init__(self, runtime: Runtime, bus: Bus, settings: VolumeSettings, host: str = "twinstack",
                 seed: int = 0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.behaviour = StorageBehaviour.from_settings(settings)
        self.report_seconds = settings.report_seconds
        self.rng = random.Random(seed)
        self.backends: dict[str, SimBackend] = {}
        for backend in settings.backends:
            name = f"{host}@{backend.name}"
            self.backends[name] = SimBackend(backend, name, {
                pool: SimPool(pool, backend.capacity_gb, backend.thin_provisioning)
                for pool in pool_names(host, backend)})
        self._answered: AnswerMemory[StorageResult] = AnswerMemory(runtime.clock)
        """Answers given, for repeats, as long as a sender may still wait for one (a live simulation runs for days)."""
        self.failing: set[str] = set()
        """Back ends (``host@backend``) whose next operations fail: the tests' and scenarios' fault switch."""
        self.silent: set[str] = set()
        """Back ends that hang: they take commands and never answer."""

    def start(self) -> None:
        handler = typed(self._on_command)
        for name in self.backends:
            self.bus.subscribe(storage_topic(name), handler)
        self._report()

    def _report(self) -> None:
        for backend in self.backends.values():
            send(self.bus, VOLUME_TOPIC, PoolsReported(backend=backend.name, pools=[
                self._pool_report(backend, pool) for pool in backend.pools.values()]))
        self.runtime.call_later(self.report_seconds, self._report)

    @staticmethod
    def _pool_report(backend: SimBackend, pool: SimPool) -> PoolReport:
        settings = backend.settings
        return PoolReport(
            name=pool.name, volume_backend_name=settings.volume_backend_name,
            availability_zone=settings.availability_zone, total_capacity_gb=pool.capacity_gb,
            free_capacity_gb=max(pool.capacity_gb - pool.used_gb(), 0),
            provisioned_capacity_gb=sum(pool.volumes.values()), thin_provisioning_support=pool.thin,
            thick_provisioning_support=not pool.thin, max_over_subscription_ratio=settings.max_over_subscription_ratio,
            reserved_percentage=settings.reserved_percentage, capabilities=dict(settings.capabilities))

    # commands

    def _on_command(self, message: Message, _envelope: Envelope) -> None:
        if not isinstance(message, CreateVolume | DeleteVolume | ExtendVolume | CreateSnapshot | DeleteSnapshot
                          | MigrateVolume):
            return
        repeated = self._answered.get(message.command_id)
        if repeated is not None:
            send(self.bus, VOLUME_TOPIC, repeated)
            return
        backend = self.backends.get(message.backend)
        pool = backend.pools.get(message.pool) if backend is not None else None
        if backend is None or pool is None:
            return
        if isinstance(message, CreateVolume):
            self._create(backend, pool, message)
        elif isinstance(message, DeleteVolume):
            self._later(self.behaviour.delete_seconds, backend, message.command_id, "delete_volume",
                        message.volume_id, lambda: _forget(pool.volumes, message.volume_id))
        elif isinstance(message, ExtendVolume):
            self._extend(backend, pool, message)
        elif isinstance(message, CreateSnapshot):
            self._snapshot(backend, pool, message)
        elif isinstance(message, MigrateVolume):
            self._migrate(backend, pool, message)
        else:
            self._later(self.behaviour.delete_seconds, backend, message.command_id, "delete_snapshot",
                        message.snapshot_id, lambda: _forget(pool.snapshots, message.snapshot_id))

    def _create(self, backend: SimBackend, pool: SimPool, command: CreateVolume) -> None:
        seconds = self.behaviour.create_seconds
        if command.source in ("volume", "snapshot"):
            source = self._find(backend, command.source_id or "", command.source == "snapshot")
            seconds += (source or command.size_gb) / self.behaviour.copy_gb_per_second
        elif command.source == "image":
            seconds += command.image_bytes / GIB / self.behaviour.copy_gb_per_second

        def make() -> bool:
            if command.source in ("volume", "snapshot") and not self._find(
                    backend, command.source_id or "", command.source == "snapshot"):
                return False  # the source is not in this back end: nothing to copy from
            if not pool.room_for(command.size_gb):
                return False
            pool.volumes[command.volume_id] = command.size_gb
            return True

        self._later(seconds, backend, command.command_id, "create_volume", command.volume_id, make)

    def _extend(self, backend: SimBackend, pool: SimPool, command: ExtendVolume) -> None:
        def grow() -> bool:
            size = pool.volumes.get(command.volume_id)
            if size is None or not pool.room_for(command.new_size_gb - size):
                return False
            pool.volumes[command.volume_id] = command.new_size_gb
            return True

        self._later(self.behaviour.create_seconds, backend, command.command_id, "extend_volume", command.volume_id,
                    grow)

    def _snapshot(self, backend: SimBackend, pool: SimPool, command: CreateSnapshot) -> None:
        def take() -> bool:
            if command.volume_id not in pool.volumes or not pool.room_for(command.size_gb):
                return False
            pool.snapshots[command.snapshot_id] = command.size_gb
            return True

        seconds = self.behaviour.create_seconds + command.size_gb / self.behaviour.copy_gb_per_second
        self._later(seconds, backend, command.command_id, "create_snapshot", command.snapshot_id, take)

    def _migrate(self, backend: SimBackend, pool: SimPool, command: MigrateVolume) -> None:
        """Copy the volume into the destination pool (a back end this agent also holds), then drop the source:
        as long as a create plus the copy at ``copy_gb_per_second``. A destination without room, or not here,
        fails and leaves the source untouched."""
        dest_backend = self.backends.get(command.dest_backend)
        dest = dest_backend.pools.get(command.dest_pool) if dest_backend is not None else None

        def move() -> bool:
            size = pool.volumes.get(command.volume_id)
            if size is None or dest is None or dest is pool or not dest.room_for(size):
                return False
            if dest_backend is not None and dest_backend.name in self.failing:
                return False
            dest.volumes[command.volume_id] = size
            del pool.volumes[command.volume_id]
            return True

        seconds = self.behaviour.create_seconds + command.size_gb / self.behaviour.copy_gb_per_second
        self._later(seconds, backend, command.command_id, "migrate_volume", command.volume_id, move)

    @staticmethod
    def _find(backend: SimBackend, resource_id: str, snapshot: bool) -> int:
        """The size of a volume (or snapshot) anywhere in ``backend``; 0 if it is not there."""
        for pool in backend.pools.values():
            held = pool.snapshots if snapshot else pool.volumes
            if resource_id in held:
                return held[resource_id]
        return 0

    def _later(self, median: float, backend: SimBackend, command_id: str, operation: StorageOperation,
               resource_id: str, act: Callable[[], bool]) -> None:
        """After a drawn time, do ``act`` (True: it worked) and answer; a failing back end changes nothing."""

        def done() -> None:
            if backend.name in self.silent:
                return
            ok = backend.name not in self.failing and act()
            fault = None if ok else f"Simulated {operation} failure on {backend.name}"
            result = StorageResult(command_id=command_id, operation=operation, backend=backend.name,
                                   resource_id=resource_id, ok=ok, fault=fault)
            self._answered.remember(command_id, result)
            send(self.bus, VOLUME_TOPIC, result)

        self.runtime.call_later(self.behaviour.draw(median, self.rng), done)


def _forget(held: dict[str, int], resource_id: str) -> bool:
    """Delete is idempotent: gone already is deleted."""
    held.pop(resource_id, None)
    return True


class SimHostVolumes:
    """The hosts' volume connector: answers ConnectVolume/DisconnectVolume for every host it is given."""

    def __init__(self, runtime: Runtime, bus: Bus, hosts: Iterable[str], behaviour: StorageBehaviour,
                 seed: int = 0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.hosts = list(hosts)
        self.behaviour = behaviour
        self.rng = random.Random(seed)
        self.connected: dict[str, set[str]] = {host: set() for host in self.hosts}
        """host -> attachment ids connected there"""
        self.failing: set[str] = set()
        """Hosts whose connects and disconnects fail."""
        self.silent: set[str] = set()
        """Hosts that take connects and disconnects and never answer (nor connect anything)."""

    def start(self) -> None:
        handler = typed(self._on_command)
        for host in self.hosts:
            self.bus.subscribe(host_volumes_topic(host), handler)

    def _on_command(self, message: Message, envelope: Envelope) -> None:
        """Answered where the command asks (the conductor that sent it), else to the volume manager."""
        if not isinstance(message, ConnectVolume | DisconnectVolume) or message.host in self.silent:
            return
        connect = isinstance(message, ConnectVolume)
        reply_to = envelope.reply_to or VOLUME_TOPIC

        def done() -> None:
            ok = message.host not in self.failing
            held = self.connected.setdefault(message.host, set())
            if ok and connect:
                held.add(message.attachment_id)
            elif ok:
                held.discard(message.attachment_id)
            send(self.bus, reply_to, HostVolumeResult(
                command_id=message.command_id, action="connect" if connect else "disconnect", host=message.host,
                attachment_id=message.attachment_id, ok=ok,
                fault=None if ok else f"Simulated failure to {'connect' if connect else 'disconnect'} a volume"))

        self.runtime.call_later(self.behaviour.draw(self.behaviour.attach_seconds, self.rng), done)
