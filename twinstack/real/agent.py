"""The real host agent: one host (this machine), answering the compute protocol with libvirt guests.

It speaks exactly the messages the simulated agent speaks (twinstack.rpc.compute) over whatever
:class:`~twinstack.rpc.bus.Bus` it is handed, so it is transport-agnostic. Handlers run on the
runtime's thread and only hand work to a pool of worker threads: every libvirt or qemu-img call
blocks, and the runtime (which also runs the conductor in an all-in-one cloud) must never wait on
one. Workers post their results back through the runtime, which publishes them.

Start-up (on a worker): connect to libvirt, decide kvm or TCG once, read the inventory, list the
instances found here, forget the plugged ports of instances no longer here and make the host's network
match the rest (which removes what the agent made that nothing needs); then (on the runtime) subscribe,
register, report what was found (HostInstances: the conductor answers with the destroys and corrections
reconciliation needs) and start heartbeating. Commands for one instance are carried out one at a time, in
arrival order.

Volumes: ConnectVolume and DisconnectVolume come on the host's volume topic (``agent.<host>.volumes``) and
attach or detach a volume file of this host's back ends (``find_volume``), or the NBD export of another host's
back end the connection names (``driver_volume_type`` nbd), to the guest through libvirt, one
instance's commands at a time like the rest; the answer (HostVolumeResult) goes to the volume manager.

Snapshots: SnapshotInstance copies the instance's disk (flattened) to a file, reports SnapshotProgress as the
simulated agent does, uploads the file to the image service through its API (``upload``, as Nova's driver
uploads to Glance) and answers with ``image_uploaded``: the conductor then only checks that the image is active.

Volume-backed servers: their volumes are connected (ConnectVolume) before the spawn, when no domain exists yet
(files of this host's back ends, or other hosts' NBD exports); the driver notes them in the instance's directory
and the spawn defines the domain with the root volume as its disk (booted with the kernel and ramdisk of the image
behind it, SpawnInstance.volume_image) and the others.

Resize and cold migration (ResizeInstance on the source, FinishResize on the destination, FinishRevertResize or a
DestroyInstance to end it): the disk travels through ``migration_dir`` (twinstack.real.resize says why); volumes are
connected (ConnectVolume) on the destination before FinishResize, and on the source again before a revert's
FinishRevertResize, so a volume-backed server boots there from its root volume, a file here or an NBD export.

Live migration (PreLiveMigration on the destination, then LiveMigrateInstance on the source): the guest's running
state travels through ``migration_dir`` too, as a libvirt save image the destination restores as its own domain,
because the agents this is tested with share one libvirtd, which cannot migrate to itself; between machines the
source would call virDomainMigrateToURI3 peer-to-peer (twinstack.real.live_migration says how and why). Once
prepared, the destination polls (on the runtime's clock, no worker waits) for the state to arrive.

Rebuild (RebuildInstance): a new root overlay from the new image, same domain, ports and volumes; with
``evacuate`` (the server's host died), built here from its image as a spawn is (twinstack.real.rebuild).

Networking: PlugPorts and UnplugPorts update the plugged ports at once, on the runtime's thread (so a
SpawnInstance right behind a PlugPorts always finds its ports, whichever worker runs first), then a worker
makes the host match the whole plan (twinstack.real.net_plan, host_network) and answers PortsResult. A
spawn builds one NIC per plugged port and makes sure the network is in place before the domain starts.
With ``tunnel_ip`` set the host registers its tunnel endpoint (HostReport 1.1) and joins its VXLAN networks'
bridges to the other hosts' through the peers each PlugPorts names (kept beside the ports).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import libvirt

from twinstack.core.runtime import Runtime
from twinstack.real import net_names
from twinstack.real.domain_edits import rebridged
from twinstack.real.domain_xml import NAME_PREFIX, Nic
from twinstack.real.host_facts import host_report
from twinstack.real.host_network import HostNetwork
from twinstack.real.image_cache import FileStores, ImageCache
from twinstack.real.libvirt_host import NOSTATE, LibvirtHost, NotOnHost, SpawnTimings
from twinstack.real.live_migration import WAIT_SECONDS, LiveMover
from twinstack.real.net_plan import HostPlan, plan
from twinstack.real.plugged_ports import PluggedPorts
from twinstack.real.rebuild import evacuate, rebuild
from twinstack.real.resize import Mover
from twinstack.real.virt_probe import probe_virt_type
from twinstack.real.volume_xml import NbdSource, VolumeSource
from twinstack.rpc.answers import AnswerMemory
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.compute import (
    CONDUCTOR_TOPIC,
    ConsoleOutput,
    DestroyInstance,
    FinishResize,
    FinishRevertResize,
    GetConsoleOutput,
    Heartbeat,
    HostInstances,
    HostReport,
    HostsRegistered,
    InstanceActionResult,
    LiveMigrateInstance,
    PowerAction,
    PreLiveMigration,
    RebuildInstance,
    ResizeInstance,
    SnapshotInstance,
    SnapshotProgress,
    SpawnInstance,
    agent_topic,
)
from twinstack.rpc.messages import Command, Envelope, Message
from twinstack.rpc.network import PlugPorts, PortsResult, UnplugPorts, VtepSpec
from twinstack.rpc.volume import VOLUME_TOPIC, ConnectVolume, DisconnectVolume, HostVolumeResult, host_volumes_topic

LOG = logging.getLogger(__name__)

ACTIONS: dict[type, str] = {SpawnInstance: "spawn", DestroyInstance: "destroy", ResizeInstance: "resize_migrate",
                             FinishResize: "resize_finish", FinishRevertResize: "resize_revert_finish",
                             RebuildInstance: "rebuild", PreLiveMigration: "live_prepare",
                             LiveMigrateInstance: "live_migrate"}
"""The action each command's answer names (as the simulated agent names them)."""

Connect = Callable[[str], Any]
FindVolume = Callable[[str], Path | None]
"""The file of a volume held by this host's back ends, None when none holds it."""
Upload = Callable[[str, Path], None]
"""Give the image (by id) the file's bytes through the image service."""


def _quiet(_context: object, _error: object) -> None:
    """libvirt's error callback: nothing (its default prints every error, even an expected 'no domain')."""


Instruction = (SpawnInstance | DestroyInstance | PowerAction | ResizeInstance | FinishResize | FinishRevertResize
               | RebuildInstance | PreLiveMigration | LiveMigrateInstance)
"""The commands on one instance a worker carries out and answers with InstanceActionResult."""


@dataclass(frozen=True)
class AgentConfig:
    name: str
    host: str
    state_dir: Path
    image_stores: tuple[Path, ...]
    libvirt_uri: str = "qemu:///system"
    virt_type: str = "auto"
    reserved_memory_mb: int = 512
    cpu_allocation_ratio: float = 4.0
    heartbeat_seconds: float = 10.0
    clean_shutdown_seconds: float = 10.0
    workers: int = 4
    migration_dir: Path | None = None
    domain_prefix: str = NAME_PREFIX
    """Where resizes and cold migrations leave disks for the destination (twinstack.real.resize); None: this host
    takes part in none."""
    tunnel_ip: str | None = None
    """This host's VXLAN tunnel endpoint address; None: VXLAN networks stay on this host."""
    tunnel_port: int = 4789


class RealAgent:
    def __init__(self, config: AgentConfig, runtime: Runtime, bus: Bus, connect: Connect = libvirt.open,
                 find_volume: FindVolume | None = None, upload: Upload | None = None) -> None:
        self.config = config
        self.runtime = runtime
        self.bus = bus
        self.connect = connect
        self.find_volume = find_volume
        self.upload = upload
        self.driver: LibvirtHost | None = None
        self.mover: Mover | None = None
        self.live: LiveMover | None = None
        self.network: HostNetwork | None = None
        self.ports = PluggedPorts(config.state_dir / "network" / "ports.json")
        self.virt_type: str | None = None
        self.ready = threading.Event()
        """Set once the agent has registered (or failed to start: then :attr:`failure` says why)."""
        self.failure: BaseException | None = None
        self._workers = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="real-agent")
        self._answered: AnswerMemory[InstanceActionResult] = AnswerMemory(runtime.clock)
        self._volume_answers: AnswerMemory[HostVolumeResult] = AnswerMemory(runtime.clock)
        self._running: set[str] = set()
        """command ids being carried out (a redelivery while one runs is not started twice)"""
        self._reply_to: dict[str, str] = {}
        """command id -> the topic its sender named (one of several conductors): its answer goes there"""
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._stopped = False

    # start-up

    def start(self) -> None:
        """Begin start-up on a worker; returns at once (the runtime's thread never waits on libvirt)."""
        self._workers.submit(self._start_up)

    def _start_up(self) -> None:
        config = self.config
        try:
            libvirt.registerErrorHandler(_quiet, None)  # errors are raised and handled; do not also print them
            connection = self.connect(config.libvirt_uri)
            config.state_dir.mkdir(parents=True, exist_ok=True)
            virt_type = config.virt_type
            if virt_type == "auto":
                virt_type = probe_virt_type(connection, config.state_dir)
            images = ImageCache(config.state_dir / "_base", FileStores(config.image_stores))
            driver = LibvirtHost(connection, config.state_dir, images, virt_type, config.clean_shutdown_seconds,
                                 config.domain_prefix)
            report = host_report(config.host, config.state_dir, virt_type, config.reserved_memory_mb,
                                 config.cpu_allocation_ratio)
            if config.tunnel_ip:
                report = report.model_copy(update={"tunnel_ip": config.tunnel_ip, "tunnel_port": config.tunnel_port})
            found = driver.domains()
            found.update({uuid: NOSTATE for uuid in driver.leftovers()})
            network = HostNetwork(config.state_dir)
            forgotten = self.ports.keep_only(found)
            if forgotten:
                LOG.info("real agent %s: forgetting the ports of %s (no longer here)", config.name, forgotten)
            network.apply(self._plan())
            self._rebridge(driver, found)
        except Exception as exc:
            LOG.exception("real agent %s could not start", config.name)
            self.failure = exc
            self.ready.set()
            return
        self.driver, self.virt_type, self.network = driver, virt_type, network
        if config.migration_dir is not None:
            self.mover = Mover(driver, config.host, config.migration_dir)
            self.live = LiveMover(driver, config.host, config.migration_dir)
        LOG.info("real agent %s: host %s, virt_type %s, %d instance(s) found", config.name, config.host,
                 virt_type, len(found))
        self.runtime.call_soon(lambda: self._join(report, found))

    def _rebridge(self, driver: LibvirtHost, found: Iterable[str]) -> None:
        """Each guest's persistent definition names its NICs' bridges as this agent names them now (one defined
        before the per-agent tag names untagged bridges, gone since: its next start would fail)."""
        for uuid in sorted(found):
            bridges = {nic.mac.lower(): nic.bridge for nic in self._nics(uuid)}
            if not bridges or not driver.has_domain(uuid):
                continue
            xml = rebridged(driver.definition(uuid), bridges)
            if xml is not None:
                LOG.info("real agent %s: %s's NICs now in bridges %s", self.config.name, uuid,
                         sorted(set(bridges.values())))
                driver.redefine(xml)

    def _join(self, report: HostReport, found: dict[str, int]) -> None:
        self.bus.subscribe(agent_topic(self.config.host), typed(self._on_command))
        self.bus.subscribe(host_volumes_topic(self.config.host), typed(self._on_volume_command))
        send(self.bus, CONDUCTOR_TOPIC, HostsRegistered(agent=self.config.name, hosts=[report]))
        send(self.bus, CONDUCTOR_TOPIC, HostInstances(agent=self.config.name, host=self.config.host, instances=found))
        self._heartbeat()
        self.ready.set()

    def _heartbeat(self) -> None:
        if self._stopped:
            return
        self.runtime.call_later(self.config.heartbeat_seconds, self._heartbeat)  # first: a refused beat ends none
        send(self.bus, CONDUCTOR_TOPIC, Heartbeat(agent=self.config.name, hosts=[self.config.host],
                                                  at=self.runtime.clock.now()))

    def stop(self) -> None:
        """Stop answering and heartbeating; work already running finishes on its worker."""
        self._stopped = True
        self.runtime.call_soon(lambda: self.bus.unsubscribe(agent_topic(self.config.host)))
        self.runtime.call_soon(lambda: self.bus.unsubscribe(host_volumes_topic(self.config.host)))
        self._workers.shutdown(wait=False, cancel_futures=True)

    # commands (runtime thread)

    def _on_command(self, message: Message, envelope: Envelope) -> None:
        if isinstance(message, GetConsoleOutput):
            if envelope.reply_to is not None:
                reply_to = envelope.reply_to
                self._workers.submit(self._console, message, reply_to)
            return
        if not isinstance(message, Command) or getattr(message, "host", None) != self.config.host:
            return
        repeated = self._answered.get(message.command_id)
        if repeated is not None:
            send(self.bus, envelope.reply_to or CONDUCTOR_TOPIC, repeated)
            return
        if message.command_id in self._running:
            return
        if envelope.reply_to is not None:  # its sender waits there (one of several conductors)
            self._reply_to[message.command_id] = envelope.reply_to
        uuid = getattr(message, "instance_uuid", "")
        if isinstance(message, PlugPorts | UnplugPorts):
            if isinstance(message, PlugPorts):
                self.ports.plug(uuid, message.ports)
                self.ports.set_peers(message.tunnel_peers, message.peer_generations, message.neighbours)
                self.ports.set_dhcp_servers(message.dhcp_servers)
            else:
                self.ports.unplug(uuid, message.port_ids)
            self._workers.submit(self._plumb, message)
            return
        if isinstance(message, SnapshotInstance):
            self._running.add(message.command_id)
            self._workers.submit(self._snapshot, message)
            return
        if not isinstance(message, Instruction):
            # whatever else comes is refused at once rather than left to time out
            self._answer(InstanceActionResult(command_id=message.command_id, action=message.name, host=self.config.host,
                                              instance_uuid=uuid, ok=False,
                                              fault=f"{message.name} is not supported on real hosts yet"))
            return
        self._running.add(message.command_id)
        self._workers.submit(self._carry_out, message)

    def _on_volume_command(self, message: Message, envelope: Envelope) -> None:
        """Answered where the command asks (the conductor attaching a running server's volume), else to the volume
        manager (a build's volumes)."""
        if not isinstance(message, ConnectVolume | DisconnectVolume) or message.host != self.config.host:
            return
        repeated = self._volume_answers.get(message.command_id)
        if repeated is not None:
            send(self.bus, envelope.reply_to or VOLUME_TOPIC, repeated)
            return
        if message.command_id in self._running:
            return
        if envelope.reply_to is not None:
            self._reply_to[message.command_id] = envelope.reply_to
        self._running.add(message.command_id)
        self._workers.submit(self._connect_volume, message)

    def _answer(self, result: InstanceActionResult) -> None:
        self._running.discard(result.command_id)
        self._answered.remember(result.command_id, result)
        send(self.bus, self._reply_to.pop(result.command_id, CONDUCTOR_TOPIC), result)

    # work (worker threads)

    def _lock(self, instance_uuid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(instance_uuid, threading.Lock())

    def _carry_out(self, command: Instruction) -> None:
        driver = self.driver
        assert driver is not None  # commands are subscribed to only after start-up
        uuid = command.instance_uuid
        action = command.action if isinstance(command, PowerAction) else ACTIONS[type(command)]
        # a command that builds the instance here: if it fails, nothing of it (its ports neither) stays
        built = isinstance(command, SpawnInstance | FinishResize) or (isinstance(command, RebuildInstance)
                                                                      and command.evacuate)
        ok, fault, power = True, None, NOSTATE
        with self._lock(uuid):
            try:
                if isinstance(command, SpawnInstance | FinishResize):
                    nics = self._nics(uuid)
                    plug = self._plug_for(uuid)
                    if isinstance(command, SpawnInstance):
                        power = driver.spawn(command, SpawnTimings(), nics, plug)
                    else:
                        power = self._moves().receive(command, nics, plug)
                elif isinstance(command, DestroyInstance):
                    driver.destroy(uuid)
                    if self.mover is not None:
                        self.mover.forget(uuid)
                elif isinstance(command, ResizeInstance):
                    power = self._moves().send(command)
                elif isinstance(command, FinishRevertResize):
                    power = self._moves().take_back(command)
                elif isinstance(command, RebuildInstance) and command.evacuate:
                    power = evacuate(driver, command, self._nics(uuid), self._plug_for(uuid))
                elif isinstance(command, RebuildInstance):
                    power = rebuild(driver, command, self._plug_for(uuid))
                elif isinstance(command, PreLiveMigration):
                    self._live_moves().prepare(command)
                    deadline = self.runtime.clock.now() + WAIT_SECONDS
                    self.runtime.call_soon(lambda: self._await_guest(command, deadline))
                elif isinstance(command, LiveMigrateInstance):
                    power = self._live_moves().send(command)
                else:
                    power = driver.power(uuid, command.action)
            except NotOnHost as exc:
                ok, fault = False, str(exc)
            except Exception as exc:
                LOG.exception("%s of %s failed", action, uuid)
                ok, fault = False, f"{action} of {uuid} on {self.config.host} failed: {exc}"
                power = self._power_state(driver, uuid)
            if isinstance(command, DestroyInstance) or (built and not ok):
                self._forget_ports(uuid)
        if isinstance(command, DestroyInstance):
            with self._guard:
                self._locks.pop(uuid, None)
        result = InstanceActionResult(command_id=command.command_id, action=action, host=self.config.host,
                                      instance_uuid=uuid, ok=ok, fault=fault, power_state=power)
        self.runtime.call_soon(lambda: self._answer(result))

    def _nics(self, instance_uuid: str) -> tuple[Nic, ...]:
        tag = net_names.agent_tag(str(self.config.state_dir))
        return tuple(Nic(p.mac_address, net_names.bridge(p.network_id, tag), net_names.tap(p.port_id),
                         p.segment.mtu) for p in self.ports.of(instance_uuid))

    def _plug_for(self, instance_uuid: str) -> Callable[[], None] | None:
        """The host network's plumbing, to run before the instance's guest starts, when it has ports here."""
        return self._apply_network if self.ports.of(instance_uuid) else None

    def _live_moves(self) -> LiveMover:
        if self.live is None:
            raise NotOnHost(f"host {self.config.host} has no migration directory: it takes part in no live "
                            "migration (set real.migration_dir)")
        return self.live

    def _await_guest(self, command: PreLiveMigration, deadline: float) -> None:
        """(runtime thread) Look for the guest's state every quarter second while this host waits for it; when it
        is there, a worker runs it here. Waiting ends with the parcel (a rollback, a source that took the guest
        back) or at ``deadline``."""
        live, uuid = self.live, command.instance_uuid
        if live is None or self._stopped:
            return
        if live.state_arrived(uuid):
            self._workers.submit(self._take_in, command)
        elif live.waiting(uuid) and self.runtime.clock.now() < deadline:
            self.runtime.call_later(0.25, lambda: self._await_guest(command, deadline))
        else:
            LOG.info("%s: no longer waiting for %s", self.config.host, uuid)

    def _take_in(self, command: PreLiveMigration) -> None:
        """(worker) Run the arriving guest here; the source hears the verdict through the parcel and answers the
        conductor. A failure leaves nothing here (its ports go when the conductor abandons them)."""
        live = self.live
        assert live is not None
        with self._lock(command.instance_uuid):
            try:
                bridges = {nic.mac.lower(): nic.bridge for nic in self._nics(command.instance_uuid)}
                live.receive(command.instance_uuid, command, self._plug_for(command.instance_uuid), bridges)
            except Exception as exc:
                LOG.warning("%s: taking in %s failed: %s", self.config.host, command.instance_uuid, exc)

    def _moves(self) -> Mover:
        if self.mover is None:
            raise NotOnHost(f"host {self.config.host} has no migration directory: it takes part in no resize or "
                            "migration (set real.migration_dir)")
        return self.mover

    def _connect_volume(self, command: ConnectVolume | DisconnectVolume) -> None:
        driver = self.driver
        assert driver is not None
        connect = isinstance(command, ConnectVolume)
        action: Literal["connect", "disconnect"] = "connect" if connect else "disconnect"
        ok, fault = True, None
        with self._lock(command.instance_uuid):
            try:
                source = self._volume_source(command)
                if source is None:
                    if connect:
                        raise NotOnHost(f"Volume {command.volume_id} is not held by a back end of this host")
                elif isinstance(command, ConnectVolume):
                    driver.attach_volume(command.instance_uuid, source, command.mountpoint, command.volume_id)
                else:
                    driver.detach_volume(command.instance_uuid, source)
            except Exception as exc:
                LOG.warning("%s of volume %s to %s failed: %s", action, command.volume_id, command.instance_uuid, exc)
                ok, fault = False, f"{action} of volume {command.volume_id} on {self.config.host} failed: {exc}"
        result = HostVolumeResult(command_id=command.command_id, action=action, host=self.config.host,
                                  attachment_id=command.attachment_id, ok=ok, fault=fault)

        def answer() -> None:
            self._running.discard(result.command_id)
            self._volume_answers.remember(result.command_id, result)
            send(self.bus, self._reply_to.pop(result.command_id, VOLUME_TOPIC), result)

        self.runtime.call_soon(answer)

    def _volume_source(self, command: ConnectVolume | DisconnectVolume) -> VolumeSource | None:
        """Where the guest reaches the volume: the NBD export the connection names (a volume of another host's
        back end), else the file of this host's back ends. A disconnect finds either: a volume held by no back
        end here was attached over NBD (found in the domain by its export's name)."""
        if isinstance(command, ConnectVolume) and command.connection_info.get("driver_volume_type") == "nbd":
            data = command.connection_info.get("data", {})
            return NbdSource(str(data["host"]), int(data["port"]), str(data["name"]), data.get("access_mode") == "ro")
        path = self.find_volume(command.volume_id) if self.find_volume is not None else None
        if path is None and isinstance(command, DisconnectVolume):
            return NbdSource("", 0, f"volume-{command.volume_id}")
        return path

    def _snapshot(self, command: SnapshotInstance) -> None:
        """Capture the disk (holding the instance's lock), then upload it (not holding it); the file goes either
        way. Answered ok only once the image service has the data."""
        driver = self.driver
        assert driver is not None
        uuid, image_id = command.instance_uuid, command.image_id
        ok, fault, size = True, None, None
        source_format = command.image.disk_format if command.image is not None else "qcow2"
        captured = self.config.state_dir / "snapshots" / f"{image_id}.{'raw' if source_format == 'raw' else 'qcow2'}"
        try:
            if self.upload is None:
                raise RuntimeError("this host has no credentials to upload snapshots to the image service")
            with self._lock(uuid):
                self._progress(command, "image_pending_upload")
                size = driver.capture(uuid, captured, "raw" if source_format == "raw" else "qcow2")
            self._progress(command, "image_uploading")
            self.upload(image_id, captured)
        except NotOnHost as exc:
            ok, fault = False, str(exc)
        except Exception as exc:
            LOG.exception("snapshot of %s failed", uuid)
            ok, fault = False, f"snapshot of {uuid} on {self.config.host} failed: {exc}"
        finally:
            captured.unlink(missing_ok=True)
        result = InstanceActionResult(command_id=command.command_id, action="snapshot", host=self.config.host,
                                      instance_uuid=uuid, ok=ok, fault=fault,
                                      power_state=self._power_state(driver, uuid), image_size=size if ok else None,
                                      image_uploaded=ok)
        self.runtime.call_soon(lambda: self._answer(result))

    def _progress(self, command: SnapshotInstance,
                  task_state: Literal["image_pending_upload", "image_uploading"]) -> None:
        progress = SnapshotProgress(command_id=command.command_id, instance_uuid=command.instance_uuid,
                                    task_state=task_state)
        topic = self._reply_to.get(command.command_id, CONDUCTOR_TOPIC)
        self.runtime.call_soon(lambda: send(self.bus, topic, progress))

    def _forget_ports(self, instance_uuid: str) -> None:
        """An instance gone from this host (destroyed, or its spawn failed: the conductor plugs again before any
        new spawn) needs no network here, whether or not an UnplugPorts said so (a destroy reconciliation asked
        for may come without one). Done before the result is sent, so a retry's plug comes after."""
        if not self.ports.of(instance_uuid):
            return
        self.ports.unplug(instance_uuid)
        try:
            self._apply_network()
        except Exception:
            LOG.exception("removing the network of %s failed (the next change or start-up retries)", instance_uuid)

    def _apply_network(self) -> None:
        network = self.network
        assert network is not None
        network.apply(self._plan())

    def _plan(self) -> HostPlan:
        config = self.config
        local = VtepSpec(ip=config.tunnel_ip, port=config.tunnel_port) if config.tunnel_ip else None
        return plan(self.ports.snapshot(), self.ports.peers(), local, self.ports.dhcp_servers(),
                    self.ports.neighbours())

    def _plumb(self, command: PlugPorts | UnplugPorts) -> None:
        """Make the host's network match every plugged port (this command's change included); answer."""
        action: Literal["plug", "unplug"] = "plug" if isinstance(command, PlugPorts) else "unplug"
        port_ids = [p.port_id for p in command.ports] if isinstance(command, PlugPorts) else list(command.port_ids)
        ok, fault = True, None
        try:
            self._apply_network()
        except Exception as exc:
            LOG.exception("%s of the ports of %s failed", action, command.instance_uuid)
            ok, fault = False, f"{action} of ports on {self.config.host} failed: {exc}"
        result = PortsResult(command_id=command.command_id, action=action, host=self.config.host,
                             instance_uuid=command.instance_uuid, port_ids=port_ids, ok=ok, fault=fault)
        self.runtime.call_soon(lambda: send(self.bus, CONDUCTOR_TOPIC, result))

    @staticmethod
    def _power_state(driver: LibvirtHost, uuid: str) -> int:
        try:
            return driver.power_state(uuid)
        except Exception:  # the state is only a courtesy on a failure already being reported
            return NOSTATE

    def _console(self, command: GetConsoleOutput, reply_to: str) -> None:
        driver = self.driver
        try:
            if driver is None:
                raise NotOnHost("the agent is still starting")
            answer = ConsoleOutput(command_id=command.command_id, instance_uuid=command.instance_uuid, ok=True,
                                   output=driver.console_output(command.instance_uuid, command.length))
        except Exception as exc:
            answer = ConsoleOutput(command_id=command.command_id, instance_uuid=command.instance_uuid, ok=False,
                                   fault=str(exc))
        self.runtime.call_soon(lambda: send(self.bus, reply_to, answer))
