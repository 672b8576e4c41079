"""The simulated host agent: many hosts in one object, answering the compute protocol in virtual time.

It speaks exactly the messages a real agent speaks (twinstack.rpc.compute), registering its hosts,
heartbeating for all of them in one batched message, and answering commands after durations drawn
from the datacenter's behaviour. Faults are injected by calling :meth:`crash` (a crashed host stops
heartbeating and answers nothing), by the datacenter's ``faults`` (crashes at a time or midway
through a host's Nth build) or through the spawn failure probability.
"""

from __future__ import annotations

import logging
import random
from bisect import insort
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from twinstack.core.runtime import Runtime
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
    ImageSpec,
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
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.network import PlugPorts, PortSpec, PortsResult, UnplugPorts
from twinstack.sim.datacenter import Datacenter

RUNNING, PAUSED, SHUTDOWN, SUSPENDED = 1, 3, 4, 7
TIMELINE_LENGTH = 10_000
PORT_HISTORY_LENGTH = 20
LOG = logging.getLogger(__name__)

_WORK = (SpawnInstance, DestroyInstance, PowerAction, ResizeInstance, FinishResize, FinishRevertResize,
         PreLiveMigration, LiveMigrateInstance, RebuildInstance, SnapshotInstance)
"""The commands that take a host time and are answered with InstanceActionResult (a tuple: isinstance with a
union written inline built the union at every message)."""
_PORTS = (PlugPorts, UnplugPorts)
POWER_AFTER = {"reboot_soft": RUNNING, "reboot_hard": RUNNING, "start": RUNNING, "stop": SHUTDOWN,
               "pause": PAUSED, "unpause": RUNNING, "suspend": SUSPENDED, "resume": RUNNING}


@dataclass
class SimHost:
    report: HostReport
    nic_bytes_per_second: float
    up: bool = True
    instances: dict[str, int] = field(default_factory=dict)
    """instance uuid -> power state"""
    image_cache: set[str] = field(default_factory=set)
    ports: dict[str, PortSpec] = field(default_factory=dict)
    """port id -> what the host would program for it (VIF, segment, firewall rules, NAT), as last plugged"""
    port_instances: dict[str, str] = field(default_factory=dict)
    """port id -> the instance it is plugged for"""


class SimAgent:
    def __init__(self, name: str, runtime: Runtime, bus: Bus, datacenter: Datacenter, seed: int = 0) -> None:
        self.name = name
        self.runtime = runtime
        self.bus = bus
        self.behaviour = datacenter.behaviour
        self.crashes = datacenter.faults.crashes
        self._spawns: dict[str, int] = {}
        """host -> builds it has started"""
        self.rng = random.Random(seed)
        self.hosts: dict[str, SimHost] = {}
        for report in datacenter.host_reports():
            profile = datacenter.profiles[_profile_of(datacenter, report)]
            self.hosts[report.host] = SimHost(report, profile.nic_gbps * 1e9 / 8)
        self._answered: AnswerMemory[InstanceActionResult] = AnswerMemory(runtime.clock)
        self.port_log: list[PlugPorts | UnplugPorts] = []
        """Every plug and unplug received, in order (what tests and reports inspect besides :attr:`plugged`)."""
        self._working: dict[str, str] = {}
        """command id -> host, for commands under way (not answered yet)"""
        self._alive: list[str] | None = None
        """The names of the hosts that are up, in :attr:`hosts`' order (None: list them again at the next beat)."""
        self._order = {name: k for k, name in enumerate(self.hosts)}
        self.port_history: dict[str, deque[str]] = {}
        """instance uuid -> its last plugs and unplugs, on whichever host, as its console log prints them (so a
        client can see the ports follow a moving server: plugged on the destination, unplugged from the source)."""
        self.timeline: deque[tuple[str, str, str]] = deque(maxlen=TIMELINE_LENGTH)
        """(host, message name, instance uuid) of the last commands its live hosts received, in order: what
        arrived before what (the ports plugged on a host before the guest boots or migrates there). Bounded, so
        a long simulation keeps only the recent past."""
        self._reply_to: dict[str, str] = {}
        """command id -> the topic its sender waits on, for commands that named one (several conductors)"""
        self._spawning: dict[str, bool] = {}
        """instance uuid -> doomed (a destroy arrived while it was still spawning)"""

    def start(self) -> None:
        """Subscribe every host's topic, register the hosts and start the batched heartbeat."""
        handler = typed(self._on_command)
        for host in self.hosts:
            self.bus.subscribe(agent_topic(host), handler)
        send(self.bus, CONDUCTOR_TOPIC, HostsRegistered(agent=self.name,
                                                        hosts=[h.report for h in self.hosts.values()]))
        for crash in self.crashes:
            if crash.at_seconds is not None:
                self.runtime.call_later(crash.at_seconds, partial(self.crash, crash.host))
        self._heartbeat()

    def report_holdings(self) -> None:
        """Tell the conductor what each live host holds (HostInstances), as a real agent does when it (re)starts,
        so that the records follow the hosts. What a process of simulated hosts holds when it starts is nothing:
        the guests of a previous run died with its process, and their servers must not stay ACTIVE over nothing
        (twinstack.core.compute.host_sync). Sent after the registration, one message per host."""
        for name, host in self.hosts.items():
            if host.up:
                send(self.bus, CONDUCTOR_TOPIC, HostInstances(agent=self.name, host=name,
                                                              instances=dict(host.instances)))

    @property
    def plugged(self) -> dict[str, dict[str, PortSpec]]:
        """host -> port id -> the port as plugged there now."""
        return {name: dict(host.ports) for name, host in self.hosts.items() if host.ports}

    def _heartbeat(self) -> None:
        if self._alive is None:  # re-listed only after a crash or a repair: 10,000 hosts beat every few minutes
            self._alive = [name for name, host in self.hosts.items() if host.up]
        # re-armed first: a bus that refuses this beat (its broker away longer than the publish timeout) must not end
        # the heartbeats for good, or the hosts would stay down once it is back
        self.runtime.call_later(self.behaviour.heartbeat_seconds, self._heartbeat)
        # Built without validation: every field is this agent's own typed value, and validating 10,000 host
        # names cost a third of a millisecond per beat. A wire transport still validates the body it reads.
        # The list goes out as it is (the conductor may keep it to see the same list next time): never mutated,
        # only replaced (crash, repair).
        beat = Heartbeat.model_construct(agent=self.name, hosts=self._alive, at=float(self.runtime.clock.now()))
        send(self.bus, CONDUCTOR_TOPIC, beat)

    # faults

    def crash(self, host: str) -> None:
        """The host dies: its instances are gone, it answers nothing and stops heartbeating."""
        target = self.hosts[host]
        if target.up:
            self._relist(host, up=False)
        target.up = False
        self._working = {command: on for command, on in self._working.items() if on != host}
        self._reply_to = {command: topic for command, topic in self._reply_to.items() if command in self._working}
        target.instances.clear()
        target.ports.clear()
        target.port_instances.clear()

    def repair(self, host: str) -> None:
        target = self.hosts[host]
        if not target.up:
            self._relist(host, up=True)
        target.up = True

    def _relist(self, host: str, up: bool) -> None:
        """One host went down or came up: the list of live hosts changed by one name, found by bisection in the
        hosts' order (a walk over 10,000 hosts at every failure and repair was a percent of a run). A new list:
        the last one went out in a heartbeat, where the conductor may still hold it."""
        alive, order = self._alive, self._order
        if alive is None:
            return
        if host not in order:  # a host this list was not built for: list them all again at the next beat
            self._alive = None
            return
        alive = list(alive)
        if up:
            insort(alive, host, key=order.__getitem__)
        else:
            alive.remove(host)
        self._alive = alive

    # commands

    def _on_command(self, message: Message, envelope: Envelope) -> None:
        target = self.hosts.get(getattr(message, "host", None) or "")
        if target is not None and target.up:
            self.timeline.append((target.report.host, message.name, str(getattr(message, "instance_uuid", ""))))
            if LOG.isEnabledFor(logging.DEBUG):  # the timeline of a process, for a test to read in its log
                LOG.debug("host %s heard %s for %s (command %s)", target.report.host, message.name,
                          getattr(message, "instance_uuid", "-"), getattr(message, "command_id", "-"))
        if isinstance(message, GetConsoleOutput):
            self._console(message, envelope.reply_to)
            return
        if isinstance(message, _PORTS):
            self._ports(message)
            return
        if not isinstance(message, _WORK):
            return
        host = target  # the command's host, looked up above
        if host is None or not host.up:
            return
        repeated = self._answered.get(message.command_id)
        if repeated is not None:
            send(self.bus, envelope.reply_to or CONDUCTOR_TOPIC, repeated)
            return
        if message.command_id in self._working:
            return  # a repeat of work under way (a broker redelivers at once after a lost connection): its answer comes
        self._working[message.command_id] = host.report.host
        if envelope.reply_to is not None:
            self._reply_to[message.command_id] = envelope.reply_to
        if isinstance(message, SpawnInstance):
            self._spawn(host, message)
        elif isinstance(message, DestroyInstance):
            self._destroy(host, message)
        elif isinstance(message, PowerAction):
            self._power(host, message)
        elif isinstance(message, SnapshotInstance):
            self._snapshot(host, message)
        else:
            self._move(host, message)

    def _console(self, command: GetConsoleOutput, reply_to: str | None) -> None:
        """A synthetic boot log, the lines a small Linux guest would print (the real agent reads the guest's)."""
        host = self.hosts.get(command.host)
        if reply_to is None or host is None or not host.up:
            return
        uuid = command.instance_uuid
        if uuid not in host.instances:
            answer = ConsoleOutput(command_id=command.command_id, instance_uuid=uuid, ok=False,
                                   fault=f"Instance {uuid} is not on host {command.host}")
        else:
            lines = [f"[    0.000000] Linux version 6.1.0-sim (simulated host {command.host})",
                     "[    1.200000] Run /init as init process", f"twinstack-guest: hostname {uuid[:8]}",
                     *_port_lines(host, uuid), *self.port_history.get(uuid, ()), "twinstack-guest: ready"]
            shown = lines if command.length is None else lines[-command.length:] if command.length else []
            answer = ConsoleOutput(command_id=command.command_id, instance_uuid=uuid, ok=True,
                                   output="".join(line + "\n" for line in shown))
        send(self.bus, reply_to, answer)

    def _ports(self, command: PlugPorts | UnplugPorts) -> None:
        """Record what the host would program, at once (plugging takes no modelled time: it is sent before the
        spawn, and a spawn's boot time already covers the guest's VIFs), and answer PortsResult."""
        host = self.hosts.get(command.host)
        if host is None or not host.up:
            return
        self.port_log.append(command)
        uuid = command.instance_uuid
        if isinstance(command, PlugPorts):
            for port in command.ports:
                host.ports[port.port_id] = port
                host.port_instances[port.port_id] = uuid
            done = [port.port_id for port in command.ports]
            action = "plug"
        else:
            wanted = set(command.port_ids) or {p for p, owner in host.port_instances.items() if owner == uuid}
            done = sorted(p for p in wanted if host.port_instances.get(p) == uuid)
            for port_id in done:
                del host.ports[port_id], host.port_instances[port_id]
            action = "unplug"
        if uuid not in self.port_history and len(self.port_history) >= TIMELINE_LENGTH:
            del self.port_history[next(iter(self.port_history))]  # bounded: the instance heard of longest ago goes
        history = self.port_history.setdefault(uuid, deque(maxlen=PORT_HISTORY_LENGTH))
        history.append(f"sim-agent: {command.host} {action} {' '.join(done) or '-'}")
        send(self.bus, CONDUCTOR_TOPIC, PortsResult(command_id=command.command_id, action=action,
                                                    host=command.host, instance_uuid=uuid, port_ids=done))

    def _answer(self, host: SimHost, command_id: str, action: str, instance: str, ok: bool,
                fault: str | None = None, image_size: int | None = None) -> None:
        result = InstanceActionResult(command_id=command_id, action=action, host=host.report.host,
                                      instance_uuid=instance, ok=ok, fault=fault,
                                      power_state=host.instances.get(instance, 0), image_size=image_size)
        self._send_result(host, result)

    def _send_result(self, host: SimHost, result: InstanceActionResult) -> None:
        """Answer a command (to the topic its sender named, else the conductor's) and remember the answer."""
        self._working.pop(result.command_id, None)
        topic = self._reply_to.pop(result.command_id, CONDUCTOR_TOPIC)
        if not host.up:
            return
        self._answered.remember(result.command_id, result)
        send(self.bus, topic, result)

    def _spawn(self, host: SimHost, command: SpawnInstance) -> None:
        duration = self.behaviour.boot_seconds.sample(self.rng)
        image = command.image
        if image is not None and image.id not in host.image_cache:
            duration += image.size_bytes / host.nic_bytes_per_second
        fails = self.rng.random() < self.behaviour.spawn_failure_probability
        self._spawning[command.instance_uuid] = False
        started = self._spawns[host.report.host] = self._spawns.get(host.report.host, 0) + 1
        if any(c.host == host.report.host and c.during_spawn == started for c in self.crashes):
            self.runtime.call_later(duration / 2, lambda: self.crash(host.report.host))

        def done() -> None:
            doomed = self._spawning.pop(command.instance_uuid, False)
            if doomed:
                self._answer(host, command.command_id, "spawn", command.instance_uuid, False,
                             "Instance was deleted while it was spawning")
                return
            if fails:
                self._answer(host, command.command_id, "spawn", command.instance_uuid, False,
                             "Simulated spawn failure on host " + host.report.host)
                return
            if image is not None:
                host.image_cache.add(image.id)
            host.instances[command.instance_uuid] = RUNNING
            self._answer(host, command.command_id, "spawn", command.instance_uuid, True)

        self.runtime.call_later(duration, done)

    def _destroy(self, host: SimHost, command: DestroyInstance) -> None:
        if command.instance_uuid in self._spawning:
            self._spawning[command.instance_uuid] = True

        def done() -> None:
            host.instances.pop(command.instance_uuid, None)
            self._answer(host, command.command_id, "destroy", command.instance_uuid, True)

        self.runtime.call_later(self.behaviour.delete_seconds.sample(self.rng), done)

    def _power(self, host: SimHost, command: PowerAction) -> None:
        def done() -> None:
            if command.instance_uuid not in host.instances:
                self._answer(host, command.command_id, command.action, command.instance_uuid, False,
                             f"Instance {command.instance_uuid} is not on host {host.report.host}")
                return
            host.instances[command.instance_uuid] = POWER_AFTER[command.action]
            self._answer(host, command.command_id, command.action, command.instance_uuid, True)

        self.runtime.call_later(self.behaviour.power_seconds.sample(self.rng), done)

    def _snapshot(self, host: SimHost, command: SnapshotInstance) -> None:
        """Capture (``snapshot_seconds``), then upload ``snapshot_bytes`` at the NIC's speed, reporting each step."""
        uuid, behaviour = command.instance_uuid, self.behaviour
        fails = self.rng.random() < behaviour.snapshot_failure_probability

        def progress(task_state: Literal["image_pending_upload", "image_uploading"]) -> None:
            if host.up:
                send(self.bus, self._reply_to.get(command.command_id, CONDUCTOR_TOPIC),
                     SnapshotProgress(command_id=command.command_id, instance_uuid=uuid, task_state=task_state))

        def captured() -> None:
            if uuid not in host.instances:
                self._answer(host, command.command_id, "snapshot", uuid, False,
                             f"Instance {uuid} is not on host {host.report.host}")
                return
            if fails:
                self._answer(host, command.command_id, "snapshot", uuid, False,
                             f"Snapshot of instance {uuid} failed on host {host.report.host} (injected failure)")
                return
            progress("image_pending_upload")
            progress("image_uploading")
            self.runtime.call_later(behaviour.snapshot_bytes / host.nic_bytes_per_second, uploaded)

        def uploaded() -> None:
            self._answer(host, command.command_id, "snapshot", uuid, True, image_size=behaviour.snapshot_bytes)

        self.runtime.call_later(behaviour.snapshot_seconds.sample(self.rng), captured)

    # moves

    def _boot_seconds(self, host: SimHost, image: ImageSpec | None) -> float:
        duration = self.behaviour.boot_seconds.sample(self.rng)
        if image is not None and image.id not in host.image_cache:
            duration += image.size_bytes / host.nic_bytes_per_second
        return duration

    def _move(self, host: SimHost, command: ResizeInstance | FinishResize | FinishRevertResize | PreLiveMigration
              | LiveMigrateInstance | RebuildInstance) -> None:
        """The move commands, each answered after its time: a resize or cold migration powers the guest off on
        the source (which keeps its copy until the conductor destroys it or takes it back) after
        ``migrate_seconds``, then boots it on the destination (the spawn failure probability applies, as to
        rebuilds and evacuations); a live migration prepares the destination, then moves the running guest
        after ``migrate_seconds``."""
        uuid, name = command.instance_uuid, host.report.host
        behaviour = self.behaviour
        if isinstance(command, ResizeInstance | LiveMigrateInstance):
            duration = behaviour.migrate_seconds.sample(self.rng)
            action = "resize_migrate" if isinstance(command, ResizeInstance) else "live_migrate"
            live = isinstance(command, LiveMigrateInstance)

            def moved() -> None:
                if uuid not in host.instances:
                    self._answer(host, command.command_id, action, uuid, False,
                                 f"Instance {uuid} is not on host {name}")
                    return
                if live:
                    power = host.instances.pop(uuid)
                else:
                    power = host.instances[uuid] = SHUTDOWN  # the source keeps its copy, off
                self._send_result(host, InstanceActionResult(command_id=command.command_id, action=action, host=name,
                                                             instance_uuid=uuid, ok=True, power_state=power))

            self.runtime.call_later(duration, moved)
            return
        if isinstance(command, FinishRevertResize | PreLiveMigration):
            reverting = isinstance(command, FinishRevertResize)
            power = SHUTDOWN if isinstance(command, FinishRevertResize) and not command.power_on else RUNNING
            action = "resize_revert_finish" if reverting else "live_prepare"

            def ready() -> None:
                if reverting and uuid not in host.instances:
                    self._answer(host, command.command_id, action, uuid, False,
                                 f"Instance {uuid} is not on host {name}")
                    return
                host.instances[uuid] = power  # a live migration's destination shell runs once the guest arrives
                self._answer(host, command.command_id, action, uuid, True)

            self.runtime.call_later(behaviour.power_seconds.sample(self.rng), ready)
            return
        # FinishResize or RebuildInstance: a boot on this host
        action = "resize_finish" if isinstance(command, FinishResize) else "rebuild"
        duration = self._boot_seconds(host, command.image)
        fails = self.rng.random() < behaviour.spawn_failure_probability

        def booted() -> None:
            if fails:
                if isinstance(command, FinishResize) or command.evacuate:
                    host.instances.pop(uuid, None)  # nothing of a failed boot is left here
                self._answer(host, command.command_id, action, uuid, False,
                             f"Simulated {action} failure on host {name}")
                return
            if command.image is not None:
                host.image_cache.add(command.image.id)
            host.instances[uuid] = RUNNING if command.power_on else SHUTDOWN
            self._answer(host, command.command_id, action, uuid, True)

        self.runtime.call_later(duration, booted)


def _port_lines(host: SimHost, instance_uuid: str) -> list[str]:
    """The instance's ports as the simulated host programmed them, one line per NIC (as cloud-init prints its
    net device table) and one per firewall rule, NAT mapping and segment: what an operator (or a test through
    ``openstack console log show``) can read of the last plug the agent got."""
    lines: list[str] = []
    mine = [host.ports[p] for p, owner in host.port_instances.items() if owner == instance_uuid]
    for index, port in enumerate(mine):
        nic = f"eth{index}"
        addresses = " ".join(f"{f.ip_address}/{f.cidr.rsplit('/', 1)[-1]} gw {f.gateway_ip or '-'}"
                             for f in port.fixed_ips)
        lines.append(f"twinstack-guest: {nic} {port.mac_address} {addresses}".rstrip())
        segment = port.segment
        lines.append(f"sim-host: {nic} port {port.port_id} network {port.network_id} {segment.network_type} "
                     f"{segment.segmentation_id if segment.segmentation_id is not None else '-'} "
                     f"physnet {segment.physical_network or '-'} mtu {segment.mtu} "
                     f"port-security {'on' if port.port_security_enabled else 'off'}")
        for rule in port.security_group_rules:
            ports = "any" if rule.port_range_min is None else f"{rule.port_range_min}-{rule.port_range_max}"
            remote = rule.remote_ip_prefix or (f"group {rule.remote_group_id} [{','.join(rule.remote_addresses)}]"
                                               if rule.remote_group_id else "any")
            lines.append(f"sim-host: {nic} rule {rule.id} {rule.direction} {rule.ethertype} "
                         f"{rule.protocol or 'any'} {ports} remote {remote}")
        for pair in port.allowed_address_pairs:
            lines.append(f"sim-host: {nic} allowed-address-pair {pair.get('ip_address', '')} "
                         f"{pair.get('mac_address', port.mac_address)}")
        for fip in port.floating_ips:
            lines.append(f"sim-host: {nic} floating-ip {fip.floating_ip_address} -> {fip.fixed_ip_address or '-'}")
    return lines


def _profile_of(datacenter: Datacenter, report: HostReport) -> str:
    for cell in datacenter.cells:
        for zone in cell.zones:
            for rack in zone.racks:
                if rack.name == report.rack:
                    return rack.hosts.profile
    return "standard"
