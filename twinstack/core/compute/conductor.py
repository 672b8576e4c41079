"""The conductor: the only writer of instance state, driving host agents through messages.

Flows (each a handler of one message; handlers run one at a time on the runtime):

* build: ask the scheduler (which claims the first host and offers alternates) through
  :mod:`twinstack.core.compute.scheduling` (in this process, or the scheduler service over the bus), send SpawnInstance;
  on failure or silence past ``build_timeout`` release the claim and move to the next alternate
  that still has room, until ``max_attempts``; then ERROR with Nova's NoValidHost fault.
* delete: send DestroyInstance and release the allocation when the agent confirms; an instance
  on a host that is down (or never placed) is deleted locally at once. Released exactly once.
* power actions: send PowerAction; the vm_state follows the agent's answer.
* moves (resize, cold and live migration, evacuate, rebuild): :mod:`twinstack.core.compute.moves`.
* ports (with ``networking``): bound to the host and plugged there (PlugPorts) before a spawn or a move's
  boot, unplugged (UnplugPorts) before a destroy; RefreshPorts from the network API re-plugs bound ports.
* snapshots (createImage): :mod:`twinstack.core.compute.snapshots`.
* console logs (a cell's conductor on its own bus): the API's request relayed to the host, its answer back to the
  main bus, :mod:`twinstack.core.compute.console`.
* volumes of a build (boot from volume, volumes attached at boot): made and connected on the host before the
  spawn, :mod:`twinstack.core.compute.volume_boot`.
* volumes of a running server (``server add volume`` / ``server remove volume``): ConnectVolume and
  DisconnectVolume to its host, under a deadline, :mod:`twinstack.core.compute.volume_attach`.
* hosts: registration makes resource providers; batched heartbeats keep hosts up; a host silent
  for ``service_down_time`` is down, and commands waiting on it fail at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import uuid4

from twinstack.core.compute import recovery, states
from twinstack.core.compute.aggregate_view import AggregateView
from twinstack.core.compute.aggregates import effective_zone
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cell_handover import INSTANCE_REQUESTS, CellHandover
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.console import ConsoleRelay
from twinstack.core.compute.deadlines import Deadlines
from twinstack.core.compute.host_locations import HostLocations
from twinstack.core.compute.host_sync import sync_host
from twinstack.core.compute.memory import MemoryMigrationStore
from twinstack.core.compute.model import ActionEvent, Aggregate, ComputeHost, Fault, Instance, ServerGroup
from twinstack.core.compute.moves import MoveFlows
from twinstack.core.compute.scheduling import Destinations, LocalDestinations
from twinstack.core.compute.snapshots import SnapshotFlow
from twinstack.core.compute.stores import (
    CachesHosts,
    EventRecord,
    Expected,
    HostStore,
    ImageSnapshots,
    InstanceDeleted,
    InstanceStore,
    MigrationQuery,
    MigrationStore,
    NoValidHost,
    Placement,
    RequestSpec,
    Scheduler,
    SchedulerFeedback,
    keeps_history,
    resources_of,
)
from twinstack.core.compute.takeover import Claim
from twinstack.core.compute.tunnel_peers import TunnelPeers, vxlan_networks
from twinstack.core.compute.volume_attach import VolumeAttachFlow
from twinstack.core.compute.volume_boot import VolumeBootFlow, volume_backed, volume_image
from twinstack.core.runtime import Runtime, Timer
from twinstack.rpc.bus import Bus, Publisher, send, typed
from twinstack.rpc.compute import (
    CONDUCTOR_TOPIC,
    DestroyInstance,
    GetConsoleOutput,
    Heartbeat,
    HostInstances,
    HostsRegistered,
    InstanceActionResult,
    PowerAction,
    SnapshotProgress,
    SpawnInstance,
    agent_topic,
)
from twinstack.rpc.conductor import (
    AttachVolume,
    BuildInstances,
    BuildPlaced,
    ChangePowerState,
    ConfirmResize,
    DeleteInstance,
    DetachVolume,
    HostsChanged,
    LiveMigrateServer,
    MigrateServer,
    RebuildServer,
    RevertResize,
    SnapshotServer,
)
from twinstack.rpc.messages import Command, Envelope, Message
from twinstack.rpc.network import NeighbourSpec, PlugPorts, PortSpec, PortsResult, RefreshPorts, UnplugPorts
from twinstack.rpc.scheduler import DestinationsSelected
from twinstack.rpc.volume import HostVolumeResult

LOG = logging.getLogger(__name__)

BUILD_EVENT = "compute__do_build_and_run_instance"
SCHEDULE_EVENT = "conductor_schedule_and_build_instances"
DELETE_EVENT = "compute_terminate_instance"

POWER_TRANSITIONS: dict[str, tuple[str, str, str]] = {
    # action: (task state while it runs, vm state after, instance action event name)
    "reboot_soft": (states.REBOOTING, states.ACTIVE, "compute_reboot_instance"),
    "reboot_hard": (states.REBOOTING_HARD, states.ACTIVE, "compute_reboot_instance"),
    "stop": (states.POWERING_OFF, states.STOPPED, "compute_stop_instance"),
    "start": (states.POWERING_ON, states.ACTIVE, "compute_start_instance"),
    "pause": (states.PAUSING, states.PAUSED, "compute_pause_instance"),
    "unpause": (states.UNPAUSING, states.ACTIVE, "compute_unpause_instance"),
    "suspend": (states.SUSPENDING, states.SUSPENDED, "compute_suspend_instance"),
    "resume": (states.RESUMING, states.ACTIVE, "compute_resume_instance"),
}
POWER_ACTIONS = {task_state: action for action, (task_state, _after, _event) in POWER_TRANSITIONS.items()}
"""The power action a task state is the running of."""


@dataclass(frozen=True)
class ConductorSettings:
    max_attempts: int = 3
    build_timeout: float = 600.0
    service_down_time: float = 60.0
    check_interval: float = 10.0
    alternates: int = 2
    allow_resize_to_same_host: bool = False
    """Nova's option of that name: may a resize or cold migration land on the host it leaves?"""
    block_device_poll_seconds: float = 0.5
    attachment_grace: float = 60.0
    """Seconds past ``build_timeout`` after which a volume attachment still reserved, attaching or detaching,
    with nothing driving it, is given up (see VolumeAttachFlow.sweep)."""
    """How often a build waiting for its volumes looks at them again (Nova's block_device_allocate_retries_interval)."""
    replug_delay: float = 0.25
    """How long RefreshPorts are gathered before the re-plugs go out: a burst of changes (servers booting into
    a group every member's rules name) re-plugs each bound port once, not once per change."""
    recovery_delay: float | None = 5.0
    """Seconds after start before finishing the work a previous conductor left half done
    (:mod:`twinstack.core.compute.recovery`): long enough for the broker to redeliver what it never acknowledged.
    None: no recovery (several conductors that do not start together)."""
    cell: str | None = None
    """The cell with a bus of its own this conductor drives, on that bus (Nova's cell conductor, ``twinstack conductor
    --cell``): builds handed over to it, its instances' actions, its hosts' reports. None: the top-level conductor,
    which schedules every build and drives the instances of the cells without a bus of their own."""
    aggregate_refresh_seconds: float | None = 10.0
    """How long the aggregates and the hosts' locations read to record a placed server's node, cell and zone are
    kept without word of a change (the scheduler's ``host_refresh_seconds``, by default): see
    twinstack.core.compute.aggregate_view and twinstack.core.compute.host_locations."""
    reply_topic: str | None = None
    """Where agents answer this conductor's commands (the envelope's ``reply_to``); None: the shared conductor
    topic, right for one conductor. Several conductors (``twinstack conductor`` run more than once) each need
    their own, so an answer reaches the conductor that waits for it."""


ResultHandler = Callable[[Instance, InstanceActionResult], None]


def unplaced(instance: Instance) -> bool:
    """Is ``instance`` building on no host yet (a build of it is to be scheduled)?"""
    return instance.vm_state == states.BUILDING and instance.host is None


def asked_no_network(instance: Instance) -> bool:
    """Did the server ask for no network (``networks: none``)? Then its build has no port to bind or plug, and the
    conductor does not look for one: the API made none for it, and nothing attaches one while it builds (as in Nova,
    which allocates nothing for it, and plugs no port it did not allocate)."""
    return instance.attributes.requested_networks == "none"


class Networking(Protocol):
    """What the conductor asks of the network service (``twinstack.core.network.instance_ports.SqlNetworking``)."""

    def bind(self, instance_uuid: str, host: str) -> list[PortSpec]:
        """Bind the instance's ports to ``host`` (``binding:host_id``, ACTIVE) and answer their plugs."""
        ...

    def ready(self, instance_uuid: str, host: str) -> list[PortSpec]:
        """Ready the instance's ports on ``host`` while they stay bound where they are (an inactive binding there,
        as Nova asks Neutron for a live migration's destination) and answer their plugs."""
        ...

    def move(self, instance_uuid: str, host: str) -> list[PortSpec]:
        """Make the ports' binding on ``host`` the active one (``binding:host_id``), dropping the one they leave;
        answer their plugs."""
        ...

    def abandon(self, instance_uuid: str, host: str) -> None:
        """Drop the ports' readied (inactive) bindings on ``host``: the move there failed."""
        ...

    def release(self, instance_uuid: str) -> list[str]:
        """The server is deleted: delete the ports made for it, unbind the others; answer the security groups the
        deleted ports left (their members' rules change). Idempotent."""
        ...

    def bound(self, port_ids: Sequence[str], member_changes: Sequence[str] = ()) -> dict[tuple[str, str],
                                                                                        list[PortSpec]]:
        """The plugs of those of ``port_ids`` bound to a host, and of the bound ports whose rules name one of the
        ``member_changes`` groups as remote group, per (host, instance)."""
        ...

    def ports_by_host(self, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """network id -> host -> the servers' ports bound (or readied) there: whose tunnel endpoints a VXLAN
        network's hosts must reach (:mod:`twinstack.core.compute.tunnel_peers`)."""
        ...

    def peer_generations(self, network_ids: Sequence[str], raise_them: bool = False) -> dict[str, int]:
        """Each network's tunnel peers generation, raised by one first (and committed) if ``raise_them``."""
        ...

    def tunnelled_hosts(self, instance_uuid: str | None = None) -> dict[str, list[str]]:
        """VXLAN network -> the hosts the instance's ports on it are bound (or readied) on; no instance: every
        VXLAN network with a server's port bound, and their hosts."""
        ...

    def dhcp_servers(self, host: str, network_ids: Sequence[str]) -> dict[str, str]:
        """``host``'s DHCP port on each network (made if missing): subnet id -> its address."""
        ...

    def release_dhcp(self, network_ids: Sequence[str]) -> None:
        """Delete the DHCP ports of hosts no longer holding a server's port on these networks."""
        ...

    def routed_networks(self, network_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each network -> the other networks of the routers with an interface on it: their servers' hosts hold
        copies of those routers, with legs on it (:mod:`twinstack.core.network.router_legs`)."""
        ...

    def neighbours(self, network_ids: Sequence[str]) -> dict[str, list[NeighbourSpec]]:
        """Each network -> the servers' bound ports' IPv4 addresses and MACs there (router copies' entries)."""
        ...


@dataclass
class Pending:
    instance_uuid: str
    action: str
    host: str
    request_id: str
    deadline: float
    """Runtime time after which the conductor stops waiting (checked every ``check_interval``)."""
    on_result: ResultHandler | None = None
    """Who handles the answer (the move flows); None: the conductor's own build, delete and power handling."""


class Conductor:
    def __init__(self, runtime: Runtime, bus: Bus, instances: InstanceStore, hosts: HostStore,
                 placement: Placement, scheduler: Scheduler, settings: ConductorSettings | None = None,
                 server_groups: Callable[[str], ServerGroup | None] | None = None,
                 migrations: MigrationStore | None = None,
                 aggregates: Callable[[], Iterable[Aggregate]] | None = None,
                 networking: Networking | None = None,
                 snapshots: ImageSnapshots | None = None) -> None:
        """``server_groups`` looks a group up by uuid, so that builds honour its policy; ``migrations`` keeps
        the records of moves (in memory if not given); ``aggregates`` lists the host aggregates, so that an
        instance takes its host's effective availability zone; ``networking`` binds an instance's ports
        when it lands on a host, so that the host's agent is told to plug them (None: no ports, no plugs);
        ``snapshots`` is the image service server snapshots go to."""
        self.runtime = runtime
        self.bus = bus
        self.instances = instances
        self.hosts = hosts
        self.placement = placement
        self.scheduler = scheduler
        self.settings = settings or ConductorSettings()
        self.server_groups = server_groups
        self.migrations: MigrationStore = migrations if migrations is not None else MemoryMigrationStore()
        self.aggregates = None if aggregates is None else AggregateView(
            aggregates, self.now, self.settings.aggregate_refresh_seconds)
        """The aggregates as last read (re-read when told they changed): a server's zone comes from them."""
        self.host_locations = HostLocations(hosts.locations, hosts.get, self.now,
                                            self.settings.aggregate_refresh_seconds)
        """The hosts' nodes, cells and zones as last read or registered here: where a placed server is."""
        self.networking = networking
        self.host_view = scheduler if isinstance(scheduler, CachesHosts) else None
        """The scheduler, if it caches hosts and must hear when they change."""
        self.feedback = scheduler if isinstance(scheduler, SchedulerFeedback) else None
        """The scheduler, if it wants to hear of tasks and builds (its IoOps and BuildFailure weighers do)."""
        self._pending: dict[str, Pending] = {}
        self.started_at = self.now()
        """When :meth:`start` ran: work on instances untouched since before then is a previous conductor's."""
        self._deadlines = Deadlines()
        """(deadline, command id) of every command sent, earliest first; answered ones are skipped when popped."""
        self._replug_ports: set[str] = set()
        self._replug_groups: set[str] = set()
        self._replug_timer: Timer | None = None
        self.tunnels = TunnelPeers(runtime, hosts.get_many, self.settings.replug_delay)
        """The VXLAN peers each PlugPorts names, and the re-plugs when a network's hosts change."""
        self.moves = MoveFlows(self)
        self.snapshots = snapshots
        self.snapshot_flow = SnapshotFlow(self)
        self.release_volumes: Callable[[str], object] | None = None
        """Forget a deleted server's volume attachments (deleting its delete_on_termination volumes); set by the
        volume plane when block storage runs beside compute."""
        self.on_work: Callable[[Sequence[str]], object] | None = None
        """Told of the instances this conductor takes work on (a build, before it schedules it; a delete or a power
        action, before it sends it): a WorkTakeover records them, where several conductors share the work, so that
        another conductor drives them again if this one dies."""
        self.on_handover: Callable[[str], Claim] | None = None
        """Claims a build handed over to this conductor of a cell (BuildPlaced) in the registry its cell's conductors
        share (WorkTakeover.claim), where several drive the cell: it drives the build only if no live peer does.
        None: it drives every build handed over to it (recorded through ``on_work``, if set)."""
        self.volume_boot = VolumeBootFlow(self, self.settings.block_device_poll_seconds)
        """Builds with volume mappings; its ``volumes`` (block storage) is set by the volume plane."""
        self.volume_attach = VolumeAttachFlow(self)
        """Attaches and detaches of running servers' volumes; its ``volumes`` is set by the volume plane."""
        self.destinations: Destinations = LocalDestinations(scheduler)
        """Where builds get their hosts: ``scheduler``, in this process, unless replaced (before :meth:`start`) by
        a RemoteDestinations asking the scheduler service (``[compute] scheduler = "remote"``)."""
        self.cell_buses: CellBuses | None = None
        """The buses of the cells that have their own (the top-level conductor's): a build placed in one is handed
        over to its conductor there, and so is an action on one of its instances that reached this conductor."""
        self.cells = CellHandover(self)
        self.main_bus: Publisher | None = None
        """A cell's conductor's way to the main bus, where the API waits for the console logs it relays (set where
        it runs; None: console requests are not relayed)."""
        self.console = ConsoleRelay(self)

    def start(self) -> None:
        self.started_at = self.now()
        self.bus.subscribe(CONDUCTOR_TOPIC, typed(self.handle))
        if self.settings.reply_topic is not None:
            self.bus.subscribe(self.settings.reply_topic, typed(self.handle))
        self.runtime.call_later(self.settings.check_interval, self._check_hosts)
        if self.settings.recovery_delay is not None:
            self.runtime.call_later(self.settings.recovery_delay, self._recover)

    def now(self) -> float:
        return self.runtime.clock.now()

    def _recover(self) -> None:
        recovery.recover(self, self.started_at)
        self.replug_tunnels()

    def replug_tunnels(self) -> None:
        """Look again at every VXLAN network with a server's port bound (re-plugging its tunnelling hosts with a
        newer generation): a starting conductor does, since a look another conductor had pending when it died
        is lost with it."""
        if self.networking is not None:
            self._tunnels_changed(self.networking.tunnelled_hosts())

    def handle(self, message: Message, envelope: Envelope) -> None:
        if isinstance(message, INSTANCE_REQUESTS) and self.cells.forwarded(message):
            return
        if isinstance(message, InstanceActionResult):
            self._on_result(message)
        elif isinstance(message, DestinationsSelected):
            self.destinations.hear(message)
        elif isinstance(message, Heartbeat):
            self.hosts.heartbeat(message.hosts, message.at)
        elif isinstance(message, BuildInstances):
            for uuid in message.instance_uuids:
                self._build(uuid, message.request_id)
        elif isinstance(message, BuildPlaced):
            self.cells.build_placed(message)
        elif isinstance(message, DeleteInstance):
            self._delete(message.instance_uuid, message.request_id)
        elif isinstance(message, ChangePowerState):
            self._power(message.instance_uuid, message.action, message.request_id)
        elif isinstance(message, SnapshotProgress):
            self.snapshot_flow.progress(message)
        elif isinstance(message, SnapshotServer):
            self.snapshot_flow.start(message)
        elif isinstance(message, HostVolumeResult):
            self.volume_attach.answered(message)
        elif isinstance(message, AttachVolume):
            self.volume_attach.attach(message)
        elif isinstance(message, DetachVolume):
            self.volume_attach.detach(message)
        elif isinstance(message, GetConsoleOutput):
            self.console.relay(message, envelope.reply_to)
        elif isinstance(message, HostsRegistered):
            self._register(message)
        elif isinstance(message, HostsChanged):
            self._hosts_changed()
        elif isinstance(message, RefreshPorts):
            self._gather_refresh(message.port_ids, message.group_ids)
            self._tunnels_changed(message.tunnelled)
        elif isinstance(message, PortsResult):
            if not message.ok:
                LOG.warning("%s of ports %s of %s on %s failed: %s", message.action, message.port_ids,
                            message.instance_uuid, message.host, message.fault)
        elif isinstance(message, HostInstances):
            sync_host(self, message)
        elif isinstance(message, MigrateServer | ConfirmResize | RevertResize | LiveMigrateServer | RebuildServer):
            self.moves.handle(message)

    # cells with a bus of their own: twinstack.core.compute.cell_handover

    def serves(self, instance: Instance) -> bool:
        """Does this conductor drive ``instance`` (not a cell's conductor on that cell's own bus)?"""
        return self.cells.serves(instance)

    def to_host(self, host: str, message: Message) -> None:
        """Send ``message`` (expecting no answer here) to ``host``'s agent, on the bus its cell's agents listen on."""
        self.cells.to_host(host, message)

    # hosts

    def _register(self, message: HostsRegistered) -> None:
        now = self.now()
        hosts: list[ComputeHost] = []
        for report in message.hosts:
            hosts.append(ComputeHost(
                host=report.host, agent=message.agent, cell=report.cell,
                availability_zone=report.availability_zone, rack=report.rack,
                hypervisor_type=report.hypervisor_type,
                hypervisor_hostname=report.hypervisor_hostname or report.host, host_ip=report.host_ip,
                inventory={rc: inv.model_dump() for rc, inv in report.inventory.items()},
                traits=list(report.traits), last_heartbeat=now, tunnel_ip=report.tunnel_ip,
                tunnel_port=report.tunnel_port,
            ))
        self.placement.register_hosts(hosts)  # first: the API lists a host from the store with its usage
        self.hosts.upsert_all(hosts)
        self.host_locations.learn(hosts)
        self._hosts_changed()

    def _hosts_changed(self) -> None:
        if self.aggregates is not None:
            self.aggregates.invalidate()
        if self.host_view is not None:
            self.host_view.invalidate()

    def is_up(self, host: ComputeHost) -> bool:
        return not host.forced_down and self.now() - host.last_heartbeat <= self.settings.service_down_time

    def _check_hosts(self) -> None:
        """Fail the commands past their deadline, and those waiting on a host seen down. Only hosts with a
        command in flight are looked at: a few, where reading every host each ``check_interval`` would cost a
        10,000-host fleet O(hosts).

        Deadlines are checked here, every ``check_interval``, as Nova's periodic task checks
        ``instance_build_timeout``, rather than by a timer per command: a timer per command was an event per
        command in the runtime's queue, a fifth of an offline run's events, each one almost always cancelled."""
        # re-armed first: a failure below (the database unreachable for a moment) must not end the checks for good
        self.runtime.call_later(self.settings.check_interval, self._check_hosts)
        if self.cell_buses is not None:
            self.cell_buses.flush()  # what cells' buses refused, tried again once they count as up
        now, deadlines = self.now(), self._deadlines
        while (due := deadlines.pop_due(now)) is not None:
            self._give_up(due[1], "timed out")  # one answered or cancelled meanwhile is no longer pending
        waiting = {pending.host for pending in self._pending.values()}
        down = {name for name in waiting if (host := self.hosts.get(name)) is not None and not self.is_up(host)}
        if down:
            for command_id, pending in list(self._pending.items()):
                if pending.host in down:
                    self._give_up(command_id, f"Host {pending.host} is down.")

    # build

    def spec(self, instance: Instance, ignore: frozenset[str] = frozenset()) -> RequestSpec:
        group_id = instance.server_group_id or instance.scheduler_hints.get("group")
        group = self.server_groups(group_id) if group_id and self.server_groups is not None else None
        counts: dict[str, int] = {}
        for member in group.members if group is not None else ():
            other = self.instances.get(member) if member != instance.uuid else None
            if other is not None and other.host is not None and other.vm_state != states.DELETED:
                counts[other.host] = counts.get(other.host, 0) + 1
        return RequestSpec(
            instance_uuid=instance.uuid, project_id=instance.project_id, user_id=instance.user_id,
            flavor=instance.flavor, image=instance.image,
            availability_zone=instance.requested_availability_zone, hints=instance.scheduler_hints,
            ignore_hosts=ignore, alternates=self.settings.alternates,
            server_group_policy=group.policy if group is not None else None,
            server_group_hosts=frozenset(counts), server_group_host_counts=counts,
            server_group_rules=dict(group.rules) if group is not None else {},
            volume_backed=volume_backed(instance),
        )

    def _build(self, uuid: str, request_id: str) -> None:
        if keeps_history(self.instances):  # its scheduling starts in the read's transaction, if it is to be placed
            instance = self.instances.get_and_start_event(uuid, request_id, ActionEvent(SCHEDULE_EVENT, self.now()),
                                                          unplaced)
        else:  # a store that would drop the event: none is built
            instance = self.instances.get(uuid)
        if instance is None or not unplaced(instance):
            return  # deleted before it was scheduled, or a redelivered build: nothing to do
        if self.on_work is not None:
            # recorded before it is scheduled, and only here, where this conductor drives it: a build placed
            # already (redelivered after its conductor died unacknowledged) stays that conductor's, so that a
            # takeover of it finds it
            self.on_work([uuid])
        if self.destinations.answers_later or self.placement.allocations(uuid):
            # claimed by an attempt that failed before it recorded the host (released in SQL whatever this process's
            # columns know, where a scheduler service claims: it takes an instance holding a claim as served)
            self.placement.release(uuid)
        self.destinations.select(self.spec(instance), lambda hosts: self._scheduled(instance, request_id, hosts),
                                 lambda exc: self._unschedulable(instance, request_id, exc))

    def awaits_placement(self, uuid: str) -> bool:
        """Is the instance still building on no host (so that destinations chosen for it are wanted)?"""
        instance = self.instances.get(uuid)
        return instance is not None and unplaced(instance)

    def _current(self, instance: Instance) -> Instance | None:
        """The instance as it is now, where the answer came after the build asked (it may have changed, or gone):
        None unless it still waits to be placed."""
        if not self.destinations.answers_later:
            return instance
        current = self.instances.get(instance.uuid)
        if current is None or current.vm_state != states.BUILDING or current.host is not None:
            return None
        return current

    def _scheduled(self, asked: Instance, request_id: str, hosts: list[str]) -> None:
        """The scheduler chose ``hosts`` and the first is claimed for the instance: build there."""
        instance = self._current(asked)
        if instance is None:
            current = self.instances.get(asked.uuid)
            if current is None or current.host is None:
                self.placement.release(asked.uuid)  # deleted or errored meanwhile: the claim handed to it goes
            return
        instance.alternates = hosts[1:]
        self._spawn_on(instance, hosts[0], request_id, scheduled=True)

    def _unschedulable(self, asked: Instance, request_id: str, exc: NoValidHost) -> None:
        instance = self._current(asked)
        if instance is None:
            return
        self.event_finish(instance, request_id, SCHEDULE_EVENT, "Error", exc.message)
        self.volume_boot.abandon(instance.uuid)  # the volumes the API reserved for it are free again
        # a server in ERROR on no host holds nothing: a claim an earlier attempt took (a scheduler service's handed
        # over, or one a killed conductor made before it recorded the host) goes, whatever the columns here knew
        self.placement.release(instance.uuid)
        self._error(instance, exc.message)

    def resume_work(self, uuid: str) -> None:
        """Drive again the work another conductor left on ``uuid`` (it died; see twinstack.core.compute.takeover).
        What it sent cannot be answered here, so the work is done over, as Nova's compute does at start for the
        tasks it finds: a delete is sent again (a host already rid of the guest answers at once), a power action is
        carried out again, and a build starts over (on a cell's conductor: on to its alternates, see
        :meth:`_resume_cell_build`; one placed in a cell with a bus of its own: its hand-over is sent again, see
        CellHandover.hand_over_again). Harmless for an instance in none of these or driven here."""
        instance = self.instances.get(uuid)
        if instance is None or instance.vm_state == states.DELETED or uuid in self.in_flight():
            return
        if instance.host is not None and not self.serves(instance):
            if self.cells.handed_over(instance):
                # its hand-over may have died with the conductor that placed it: sent again (a conductor of the
                # cell that drives it already ignores it)
                self.cells.hand_over_again(instance, self._build_request(uuid))
            return  # else its cell's conductor drives it (and finishes it if it restarts)
        actions = self.instances.actions(uuid)
        request_id = actions[-1].request_id if actions else "req-" + uuid4().hex
        if instance.task_state == states.DELETING:
            self._delete(uuid, request_id)
        elif (action := POWER_ACTIONS.get(instance.task_state or "")) is not None:
            self._power(uuid, action, request_id)
        elif instance.vm_state == states.BUILDING and self.settings.cell is not None:
            self._resume_cell_build(instance, actions[0].request_id if actions else request_id)
        elif instance.vm_state == states.BUILDING:
            self._resume_build(instance, actions[0].request_id if actions else request_id)

    def _build_request(self, uuid: str) -> str:
        """The request that created the instance (its first action's), under which its build goes on."""
        actions = self.instances.actions(uuid)
        return actions[0].request_id if actions else "req-" + uuid4().hex

    def _resume_build(self, instance: Instance, request_id: str) -> None:
        """A build starts over: a guest its conductor may have begun is destroyed on its host and the claim
        released, then the instance is scheduled afresh, under the request that created it."""
        uuid = instance.uuid
        if instance.host is not None:
            if self.host_up(instance.host):
                self.unplug_ports(uuid, instance.host)
                self.destroy_on(instance.host, uuid)
            self.placement.release(uuid)
            instance.host = instance.node = None
            instance.alternates = []
            instance.task_state = states.SCHEDULING
            instance.updated_at = self.now()
            self.instances.save(instance)
        self._build(uuid, request_id)

    def _resume_cell_build(self, instance: Instance, request_id: str) -> None:
        """A cell's conductor schedules nothing (the top-level conductor placed the build and handed it over): the
        spawn its dead peer sent counts as failed, as after its restart (twinstack.core.compute.recovery), the
        half-built guest is destroyed and the build moves on to the alternates it was given; a build waiting for its
        volumes (what its peer made of them is lost with it) is aborted."""
        if instance.host is None:
            return  # not placed in this cell (yet): the top-level conductors' work
        if instance.task_state == states.BLOCK_DEVICE_MAPPING:
            self.abort_build(instance, request_id, recovery.INTERRUPTED)
        else:
            self.spawn_failed(instance, request_id, recovery.INTERRUPTED)

    def zone_of(self, host: str, own_zone: str) -> str:
        """The host's effective availability zone: its aggregate's if it sits in one with a zone, else its own."""
        if self.aggregates is None:
            return own_zone
        return effective_zone(host, own_zone, self.aggregates.all())

    def place(self, instance: Instance, host_name: str) -> None:
        """Record ``instance`` as on ``host_name``: host, node, cell and availability zone (not saved), from the
        hosts' locations as last read (see twinstack.core.compute.host_locations)."""
        where = self.host_locations.of(host_name)
        instance.host = host_name
        instance.node = where.hypervisor_hostname if where else host_name
        instance.cell = where.cell if where else None
        instance.availability_zone = self.zone_of(host_name, where.availability_zone) if where else None

    def _spawn_on(self, instance: Instance, host_name: str, request_id: str, scheduled: bool = False) -> None:
        """Start the build on ``host_name`` (claimed): its volumes first if it has any, then the spawn. If the
        host's cell keeps its instances in a database that does not answer, nothing is recorded there and the build
        moves on to alternates of other cells (the scheduler, told to re-read its hosts, skips that cell).

        ``scheduled``: the scheduler just chose the host, so its scheduling event ends here, as the build event
        starts, in the write that saves the instance placed (one transaction where there were three)."""
        where = (instance.cell, instance.availability_zone)
        unplaced = (instance.host, instance.node, instance.cell, instance.availability_zone, instance.task_state,
                    instance.attempts, instance.updated_at)
        self.place(instance, host_name)
        elsewhere = not self.serves(instance)
        if elsewhere and self.cells.refusing(instance):
            # its bus refused a message a moment ago: nothing is recorded in the cell for a build it cannot take
            if scheduled:
                self.event_finish(instance, request_id, SCHEDULE_EVENT, "Success")
            self.cell_unavailable(instance, request_id, host_name, where, CellUnavailable(instance.cell or ""))
            return
        with_volumes = self.volume_boot.needed(instance)
        instance.task_state = states.BLOCK_DEVICE_MAPPING if with_volumes else states.SPAWNING
        instance.attempts += 1
        instance.updated_at = self.now()
        # recorded before the instance is saved placed: a failure until then is retried by the build message's
        # redelivery; from then on, a deadline (spawn) or the volume step's polling (volumes) carries it
        # (one write: the scheduling event, if the scheduler just chose the host, ends as the build event starts)
        try:
            if keeps_history(self.instances):
                self.instances.record_and_save(instance, request_id, EventRecord(
                    finished=SCHEDULE_EVENT if scheduled else None, finish_time=instance.updated_at,
                    started=ActionEvent(BUILD_EVENT, instance.updated_at, host=host_name)))
            else:  # a store that would drop the events: none is built
                self.instances.save(instance)
        except InstanceDeleted:
            # deleted by another conductor while this one scheduled it: the claim just made is nobody's
            LOG.info("build of %s stopped on %s: the server was deleted meanwhile", instance.uuid, host_name)
            self.placement.release(instance.uuid)
            return
        except CellUnavailable as exc:
            self.cell_unavailable(instance, request_id, host_name, where, exc)
            return
        except Exception:
            # the write failed (the database away a moment): nothing was recorded, and the instance is left unplaced
            # as it was, also where the store holds this very object (memory), so that the build is taken again
            (instance.host, instance.node, instance.cell, instance.availability_zone, instance.task_state,
             instance.attempts, instance.updated_at) = unplaced
            raise
        if elsewhere:
            self.cells.hand_over(instance, host_name, request_id, where)
        elif with_volumes:
            self.volume_boot.start(instance, host_name, request_id)
        else:
            self.spawn(instance, host_name, request_id)

    def cell_unavailable(self, instance: Instance, request_id: str, host_name: str,
                          where: tuple[str | None, str | None], exc: CellUnavailable) -> None:
        """The host's cell keeps its instances in a database that does not answer, and nothing was written there:
        the claim goes and the instance is scheduled afresh (its alternates are of that same cell), by a
        scheduler told to re-read its hosts and cells, so that it sees the cell as down. Each such try counts as
        an attempt, so a cell that looks up to the scheduler and down here ends the build in ERROR."""
        LOG.warning("build of %s not placed on %s: %s", instance.uuid, host_name, exc.message)
        self.placement.release(instance.uuid)
        self.event_finish(instance, request_id, BUILD_EVENT, "Error", exc.message)
        instance.host = instance.node = None
        instance.cell, instance.availability_zone = where
        instance.alternates = []
        if isinstance(self.scheduler, CachesHosts):
            self.scheduler.invalidate()
        if instance.attempts >= self.settings.max_attempts:
            self.volume_boot.abandon(instance.uuid)
            self._error(instance, f"No valid host was found. Exceeded max scheduling attempts "
                                  f"{self.settings.max_attempts} for instance {instance.uuid}. "
                                  f"Last exception: {exc.message}")
            return
        if self.settings.cell is not None:
            # a cell's conductor does not schedule (the top-level one does, over every cell): as Nova's cell
            # conductor, it has only the alternates it was given, and those were of this very cell
            self._reschedule(instance, request_id, exc.message)
            return
        instance.task_state = states.SCHEDULING
        instance.updated_at = self.now()
        self.instances.save(instance)
        self._build(instance.uuid, request_id)

    def spawn(self, instance: Instance, host_name: str, request_id: str) -> None:
        """Plug the instance's ports on its host and have the host spawn it (its volumes, if any, connected).

        The spawn's deadline is set once the instance is saved spawning and before anything else can fail: if
        plugging or sending fails (the database or the broker gone for a moment), the spawn is given up when it
        passes and the build moves on, where it would otherwise wait in ``spawning`` for an answer to a command
        never sent. A failed save is the caller's to retry (the volume step takes itself again)."""
        if instance.task_state != states.SPAWNING:
            instance.task_state = states.SPAWNING
            instance.updated_at = self.now()
            self.instances.save(instance)
        command = SpawnInstance(host=host_name, instance_uuid=instance.uuid, instance_name=instance.name,
                                flavor=instance.flavor, image=instance.image, user_data=instance.user_data,
                                metadata=instance.metadata, key_data=instance.key_data,
                                volume_image=volume_image(instance))
        self.expect(command.command_id, instance.uuid, "spawn", host_name, request_id, self.settings.build_timeout)
        if not asked_no_network(instance):
            self.plug_ports(instance.uuid, host_name)
        send(self.bus, agent_topic(host_name), command, reply_to=self.settings.reply_topic)

    def build_again(self, uuid: str, request_id: str) -> None:
        """Build a recorded instance that no host holds yet from the start (its build message was lost)."""
        self._build(uuid, request_id)

    def spawn_failed(self, instance: Instance, request_id: str, reason: str) -> None:
        """The spawn on the instance's host is given up (its answer was lost with the conductor that sent it):
        whatever it left there is destroyed and its ports unplugged, and the build moves on to its alternates, or,
        with none left but attempts to spare, is scheduled again (the host did not fail: its conductor did)."""
        if instance.host is not None:
            self.unplug_ports(instance.uuid, instance.host)
            self.destroy_on(instance.host, instance.uuid)
        if instance.alternates or instance.attempts >= self.settings.max_attempts or self.settings.cell is not None:
            self._reschedule(instance, request_id, reason)  # a cell's conductor only has the alternates it was given
            return
        self.placement.release(instance.uuid)
        instance.host = instance.node = None
        instance.task_state = states.SCHEDULING
        instance.updated_at = self.now()
        self.instances.save(instance)
        self._build(instance.uuid, request_id)

    def _reschedule(self, instance: Instance, request_id: str, reason: str) -> None:
        """Try the alternates in order; each must still fit (the claim decides)."""
        self.placement.release(instance.uuid)
        failed_host = instance.host
        if failed_host:
            self.event_finish(instance, request_id, BUILD_EVENT, "Error", reason)
        tried = []
        while instance.alternates and instance.attempts < self.settings.max_attempts:
            candidate = instance.alternates.pop(0)
            resources = resources_of(instance.flavor, volume_backed(instance))
            if self.placement.claim(instance.uuid, instance.project_id, instance.user_id, candidate, resources):
                LOG.info("rescheduling %s from %s to %s: %s", instance.uuid, failed_host, candidate, reason)
                self._spawn_on(instance, candidate, request_id)
                return
            tried.append(candidate)
        LOG.info("build of %s failed on %s (%s): no alternate left (%s had no room)", instance.uuid, failed_host,
                 reason, ", ".join(tried) or "none offered")
        instance.host = instance.node = None
        self.volume_boot.abandon(instance.uuid)
        self._error(instance, f"No valid host was found. Exceeded max scheduling attempts "
                              f"{self.settings.max_attempts} for instance {instance.uuid}. "
                              f"Last exception: {reason}")

    def abort_build(self, instance: Instance, request_id: str, reason: str, details: str = "") -> None:
        """Nova's BuildAbortException: the build stops on its host without a reschedule; the claim is released,
        the volumes too, and the instance is in ERROR with "Build of instance ... aborted: <reason>". As in Nova,
        the volumes are released before the ERROR is saved: whoever sees ERROR sees none of them attached."""
        self.placement.release(instance.uuid)
        self.event_finish(instance, request_id, BUILD_EVENT, "Error", details or reason)
        instance.host = instance.node = None
        self.volume_boot.abandon(instance.uuid)
        self._error(instance, f"Build of instance {instance.uuid} aborted: {reason}", details=details)

    def _error(self, instance: Instance, message: str, code: int = 500, details: str = "") -> None:
        instance.vm_state = states.ERROR
        instance.task_state = None
        instance.fault = Fault(code=code, message=message, details=details, created=self.now())
        instance.updated_at = self.now()
        self.instances.save(instance)

    # delete

    def _delete(self, uuid: str, request_id: str) -> None:
        instance = self.instances.get(uuid)
        if instance is None or instance.vm_state == states.DELETED:
            return
        self._cancel_pending(uuid)
        self.destinations.cancel(uuid)
        if instance.vm_state == states.RESIZED:
            self.moves.confirm_for_delete(instance, request_id)
        instance.task_state = states.DELETING
        instance.updated_at = self.now()
        self.instances.save(instance)
        self.event_start(instance, request_id, DELETE_EVENT, instance.host)
        if self.on_work is not None:
            self.on_work([uuid])  # before the destroy goes out: if this conductor dies, another sends it again
        host = self.hosts.get(instance.host) if instance.host else None
        if host is None or not self.is_up(host):
            self._finish_delete(instance, request_id)
            return
        self.unplug_ports(uuid, host.host)
        self.send(DestroyInstance(host=host.host, instance_uuid=uuid), uuid, "destroy", host.host, request_id,
                   self.settings.build_timeout)

    def _finish_delete(self, instance: Instance, request_id: str) -> None:
        self.placement.release(instance.uuid)
        if self.release_volumes is not None:
            try:
                self.release_volumes(instance.uuid)
            except Exception:  # the server is gone whatever its volumes' fate; their records say what is left
                LOG.exception("releasing the volumes of deleted server %s failed", instance.uuid)
        if instance.uuid in self.volume_boot.building():
            self.volume_boot.abandon(instance.uuid)  # deleted while building: the volumes its build made go too
        self.release_ports(instance.uuid)
        for migration in self.migrations.find(MigrationQuery(instance_uuid=instance.uuid)):
            self.placement.release(migration.uuid)  # a move left open (e.g. VERIFY_RESIZE): its source too
        now = self.now()
        instance.vm_state = states.DELETED
        instance.task_state = None
        instance.power_state = states.NOSTATE
        instance.deleted_at = instance.terminated_at = instance.updated_at = now
        self.instances.save(instance)
        self.event_finish(instance, request_id, DELETE_EVENT, "Success")

    # power

    def _power(self, uuid: str, action: str, request_id: str) -> None:
        instance = self.instances.get(uuid)
        transition = POWER_TRANSITIONS.get(action)
        if instance is None or transition is None or instance.host is None:
            return
        task_state, _after, event = transition
        instance.task_state = task_state
        instance.updated_at = self.now()
        self.instances.save(instance)
        self.event_start(instance, request_id, event, instance.host)
        if self.on_work is not None:
            self.on_work([uuid])  # before the command goes out: if this conductor dies, another does it again
        self.send(PowerAction(host=instance.host, instance_uuid=uuid, action=action),
                   uuid, action, instance.host, request_id, self.settings.build_timeout)

    # ports: plugged before a spawn, unplugged before a destroy, re-plugged when what they carry changes

    def plug_ports(self, instance_uuid: str, host: str, left: str | None = None) -> None:
        """Bind the instance's ports to ``host`` and tell its agent to plug them (sent before the command that
        boots the instance there, so the bus delivers the plug first). ``left``: the host a move takes them from,
        whose tunnel peers change too."""
        if self.networking is None:
            return
        plugs = self.networking.bind(instance_uuid, host)
        if plugs:
            self._plug(host, instance_uuid, plugs)
            self.tunnels.changed(self.networking, self._plug, vxlan_networks(plugs), [host, left or ""])

    def ready_ports(self, instance_uuid: str, host: str) -> None:
        """Ready the instance's ports on ``host`` and tell its agent to plug them while they stay bound where they
        are: a live migration's destination, before the guest arrives (Nova's pre_live_migration plugs the VIFs
        there, on an inactive binding); :meth:`move_ports` then activates it, :meth:`abandon_ports` drops it."""
        if self.networking is None:
            return
        plugs = self.networking.ready(instance_uuid, host)
        if plugs:
            self._plug(host, instance_uuid, plugs)
            self.tunnels.changed(self.networking, self._plug, vxlan_networks(plugs), [host])

    def move_ports(self, instance_uuid: str, host: str, left: str | None = None) -> None:
        """The guest runs on ``host`` now: its readied bindings there become the active ones, and the agent hears
        the plug again (whole, so whatever changed while the guest moved is there). ``left``: the source."""
        if self.networking is None:
            return
        plugs = self.networking.move(instance_uuid, host)
        if plugs:
            self._plug(host, instance_uuid, plugs)
            self.tunnels.changed(self.networking, self._plug, vxlan_networks(plugs), [host, left or ""])

    def abandon_ports(self, instance_uuid: str, host: str) -> None:
        """The move to ``host`` failed: its readied bindings go, and its agent unplugs what it was told to plug."""
        if self.networking is None:
            return
        tunnelled = self.networking.tunnelled_hosts(instance_uuid)
        self.networking.abandon(instance_uuid, host)
        self.unplug_ports(instance_uuid, host)
        self._tunnels_changed(tunnelled)

    def unplug_ports(self, instance_uuid: str, host: str) -> None:
        if self.networking is not None:
            self.to_host(host, UnplugPorts(host=host, instance_uuid=instance_uuid))

    def release_ports(self, instance_uuid: str) -> None:
        """A deleted server's ports go (the API released them when it accepted the delete; this covers a delete
        whose API process died before it could, or one redone after a restart)."""
        if self.networking is None:
            return
        try:
            tunnelled = self.networking.tunnelled_hosts(instance_uuid)  # unknown once released
            left = self.networking.release(instance_uuid)
        except Exception:  # the server is gone whatever its ports' fate; `twinstack audit` finds what is left
            LOG.exception("releasing the ports of deleted server %s failed", instance_uuid)
            return
        self._tunnels_changed(tunnelled)
        if left:
            self._gather_refresh([], left)

    def rebind_ports(self, instance_uuid: str, host: str, left: str | None = None) -> None:
        """Bind the instance's ports back to ``host`` without plugging anything: a move that failed after its
        ports followed it (to ``left``), back to a source that is down (it plugs nothing until it returns)."""
        if self.networking is not None:
            plugs = self.networking.bind(instance_uuid, host)
            self.tunnels.changed(self.networking, self._plug, vxlan_networks(plugs), [host, left or ""])

    def _tunnels_changed(self, tunnelled: Mapping[str, Sequence[str]]) -> None:
        """Ports left these VXLAN networks' hosts (network -> hosts): re-plug the hosts still there."""
        if self.networking is not None and tunnelled:
            self.tunnels.changed(self.networking, self._plug, tunnelled, {h for hs in tunnelled.values() for h in hs})

    def _gather_refresh(self, port_ids: Sequence[str], member_changes: Sequence[str]) -> None:
        """Gather what changed for ``replug_delay``, then re-plug once (a plug carries each port whole, as it is
        then: one re-plug after many changes is as right as one per change)."""
        if self.networking is None:
            return
        self._replug_ports.update(port_ids)
        self._replug_groups.update(member_changes)
        if self._replug_timer is None:
            self._replug_timer = self.runtime.call_later(self.settings.replug_delay, self._refresh_ports)

    def _refresh_ports(self) -> None:
        port_ids, groups = sorted(self._replug_ports), sorted(self._replug_groups)
        self._replug_ports.clear()
        self._replug_groups.clear()
        self._replug_timer = None
        if self.networking is None:
            return
        for (host, instance_uuid), plugs in self.networking.bound(port_ids, groups).items():
            self._plug(host, instance_uuid, plugs)

    def _plug(self, host: str, instance_uuid: str, plugs: list[PortSpec]) -> None:
        """Send the plug, naming for each VXLAN network of its ports the other hosts' tunnel endpoints."""
        assert self.networking is not None
        tunnels = self.tunnels.for_plug(self.networking, host, plugs)
        self.to_host(host, PlugPorts(host=host, instance_uuid=instance_uuid, ports=plugs, tunnel_peers=tunnels.peers,
                                     peer_generations=tunnels.generations, dhcp_servers=tunnels.dhcp_servers,
                                     neighbours=tunnels.neighbours))

    # commands and their answers

    def send(self, command: Command, instance_uuid: str, action: str, host: str, request_id: str,
             timeout: float, on_result: ResultHandler | None = None) -> None:
        """Send ``command`` to ``host``'s agent and wait for its answer (or give up after ``timeout``, or as soon
        as the host is seen down); ``on_result`` handles it. The host counts one task meanwhile (io_ops)."""
        self.expect(command.command_id, instance_uuid, action, host, request_id, timeout, on_result)
        send(self.bus, agent_topic(host), command, reply_to=self.settings.reply_topic)

    def expect(self, command_id: str, instance_uuid: str, action: str, host: str, request_id: str,
               timeout: float, on_result: ResultHandler | None = None) -> None:
        """Wait for the answer to command ``command_id``, about to be sent to ``host``, for ``timeout`` seconds."""
        deadline = self.now() + timeout
        self._pending[command_id] = Pending(instance_uuid, action, host, request_id, deadline, on_result)
        self._deadlines.add(timeout, deadline, command_id)
        if self.feedback is not None:
            self.feedback.task_started(host)

    def send_if_up(self, command: Command, instance: Instance, action: str, host: str, request_id: str,
                   on_result: ResultHandler) -> None:
        """:meth:`send`, unless ``host`` is known to be down: then the command fails at once, unsent, with the
        answer a give-up would bring."""
        if self.host_up(host):
            self.send(command, instance.uuid, action, host, request_id, self.settings.build_timeout, on_result)
            return
        on_result(instance, InstanceActionResult(command_id=command.command_id, action=action, host=host,
                                                 instance_uuid=instance.uuid, ok=False,
                                                 fault=f"{action} on {host}: Host {host} is down."))

    def pending_command(self, command_id: str) -> Pending | None:
        """The command ``command_id`` if this conductor waits for its answer."""
        return self._pending.get(command_id)

    def answer(self, result: InstanceActionResult) -> None:
        """Handle an answer to a command sent with :meth:`expect` (an agent's answer in another shape, made one)."""
        self._on_result(result)

    def _cancel_pending(self, instance_uuid: str) -> None:
        for command_id, pending in list(self._pending.items()):
            if pending.instance_uuid == instance_uuid:
                del self._pending[command_id]
                self.snapshot_flow.cancelled(command_id)
                self.volume_attach.cancelled(command_id)
                if self.feedback is not None:
                    self.feedback.task_finished(pending.host)

    def _give_up(self, command_id: str, reason: str) -> None:
        pending = self._pending.get(command_id)
        if pending is None:
            return
        failure = InstanceActionResult(command_id=command_id, action=pending.action, host=pending.host,
                                       instance_uuid=pending.instance_uuid, ok=False,
                                       fault=f"{pending.action} on {pending.host}: {reason}")
        self._on_result(failure)

    def _on_result(self, result: InstanceActionResult) -> None:
        pending = self._pending.pop(result.command_id, None)
        if pending is None:
            pending = self._adopt(result)
            if pending is None:
                return  # late, repeated or superseded (e.g. a spawn answer after a delete)
        elif self.feedback is not None:
            self.feedback.task_finished(pending.host)
            if pending.action == "spawn":
                self.feedback.build_finished(pending.host, result.ok)
        try:
            self._handle_result(pending, result)
        except Exception:
            # kept, so that the answer's redelivery finds its command again, or its deadline fails it: an answer
            # whose handling failed halfway (the database dropped the connection) must not leave the instance
            # waiting for nothing
            self._pending.setdefault(result.command_id, pending)
            self._deadlines.add(self.settings.check_interval, self.now() + self.settings.check_interval,
                                result.command_id)
            raise

    def _handle_result(self, pending: Pending, result: InstanceActionResult) -> None:
        if pending.on_result is None and pending.action == "spawn" and result.ok and self._spawned(pending, result):
            return
        instance = self.instances.get(pending.instance_uuid)
        if instance is None:
            return
        if pending.on_result is None and (instance.vm_state == states.DELETED or (
                pending.action != "destroy" and instance.task_state == states.DELETING) or (
                pending.action == "spawn" and instance.vm_state != states.BUILDING)):
            # deleted, or being deleted, since the command went out (or, for a spawn, no longer building: a delete
            # that failed put it in ERROR): the delete owns the instance now. A conductor cancels its own commands
            # when it takes a delete, but where several share the work the delete may be another's: a spawn
            # answered late must neither bring the server back nor reschedule it, and a destroy given up after
            # another conductor finished the delete must not put the deleted server in ERROR.
            LOG.info("%s answer for %s ignored: the server no longer waits for it (%s, task %s)", pending.action,
                     instance.uuid, instance.vm_state, instance.task_state)
            if pending.action == "spawn" and instance.vm_state == states.DELETED:
                self._clean_up_after_delete(instance.uuid, pending.host, result.ok)
            return
        request_id = pending.request_id
        if pending.on_result is not None:
            pending.on_result(instance, result)
        elif pending.action == "spawn":
            if result.ok:
                now = self.now()
                instance.vm_state, instance.task_state = states.ACTIVE, None
                instance.power_state = result.power_state or states.RUNNING
                instance.launched_at = instance.updated_at = now
                instance.fault = None
                if keeps_history(self.instances):
                    self.instances.save_and_record(instance, request_id, EventRecord(finished=BUILD_EVENT,
                                                                                     finish_time=now))
                else:
                    self.instances.save(instance)
                self.volume_boot.finished(instance.uuid)
            else:
                self._reschedule(instance, request_id, result.fault or "spawn failed")
        elif pending.action == "destroy":
            if result.ok or not self.host_up(pending.host):
                self._finish_delete(instance, request_id)
            else:
                self.event_finish(instance, request_id, DELETE_EVENT, "Error", result.fault)
                self._error(instance, result.fault or "delete failed")
        else:
            _task_state, after, event = POWER_TRANSITIONS[pending.action]
            instance.task_state = None
            instance.updated_at = self.now()
            if result.ok:
                instance.vm_state = after
                instance.power_state = result.power_state
            self.instances.save(instance)
            self.event_finish(instance, request_id, event, "Success" if result.ok else "Error", result.fault)

    def _spawned(self, pending: Pending, result: InstanceActionResult) -> bool:
        """The spawn succeeded: the server is ACTIVE and its build event finished, in one conditional write (Nova's
        ``instance.save(expected_task_state=SPAWNING)``) made only if it is still spawning on that host and not
        deleted, so that neither a delete recorded meanwhile (by the API or another conductor) is undone nor the
        server brought back. False: not written (the server changed meanwhile, or the store cannot write
        conditionally): the answer is handled from the instance as read, as any other."""
        now = self.now()
        changes = {"vm_state": states.ACTIVE, "task_state": None,
                   "power_state": result.power_state or states.RUNNING, "launched_at": now, "updated_at": now,
                   "fault": None}
        record = EventRecord(finished=BUILD_EVENT, finish_time=now) if keeps_history(self.instances) else None
        if not self.instances.update_expecting(
                pending.instance_uuid, Expected(states.BUILDING, states.SPAWNING, pending.host), changes,
                pending.request_id if record is not None else None, record):
            return False
        self.volume_boot.finished(pending.instance_uuid)
        return True

    def _clean_up_after_delete(self, uuid: str, host: str, spawned: bool) -> None:
        """A spawn answered after the delete finished (another conductor deleted the server while this one built
        it, so the delete may have released before this build claimed): the claim goes, and a guest it started
        is destroyed with its ports unplugged. Idempotent."""
        self.placement.release(uuid)
        if spawned and self.host_up(host):
            self.unplug_ports(uuid, host)
            self.destroy_on(host, uuid)

    def _adopt(self, result: InstanceActionResult) -> Pending | None:
        """A spawn's or a destroy's answer to a previous conductor (the broker kept it while this one restarted):
        taken as this conductor's own if the instance still waits for exactly that, untouched since before this
        conductor started, so the build or delete completes instead of being redone."""
        waiting_for = {"spawn": states.SPAWNING, "destroy": states.DELETING}.get(result.action)
        if waiting_for is None or result.instance_uuid in self.in_flight():
            return None
        instance = self.instances.get(result.instance_uuid)
        if (instance is None or instance.host != result.host or instance.task_state != waiting_for
                or instance.updated_at >= self.started_at):
            return None
        LOG.info("taking over the %s answer for %s from a previous conductor", result.action, instance.uuid)
        return Pending(instance.uuid, result.action, result.host, recovery.last_request(self, instance.uuid),
                       self.now())

    # what an agent found when it (re)started: twinstack.core.compute.host_sync

    def in_flight(self) -> set[str]:
        """Instances with a command sent and not yet answered."""
        return ({pending.instance_uuid for pending in self._pending.values()} | self.volume_boot.building()
                | self.destinations.waiting())

    @property
    def shares_builds(self) -> bool:
        """Other conductors drive builds too (a build takeover records this one's): a build not in flight here
        may be in flight there."""
        return self.on_work is not None

    def destroy_on(self, host: str, instance_uuid: str) -> None:
        """Remove an instance a host holds but should not (no record follows: none is kept of it)."""
        self.to_host(host, DestroyInstance(host=host, instance_uuid=instance_uuid))

    def redo_delete(self, instance_uuid: str) -> None:
        self._delete(instance_uuid, "req-" + uuid4().hex)

    def host_up(self, name: str) -> bool:
        host = self.hosts.get(name)
        return host is not None and self.is_up(host)

    # action history

    def event_start(self, instance: Instance, request_id: str, event: str, host: str | None = None) -> None:
        if keeps_history(self.instances):  # a store that would drop the event: none is built
            self.instances.start_event(instance.uuid, request_id, ActionEvent(event, self.now(), host=host))

    def event_finish(self, instance: Instance, request_id: str, event: str, result: str,
                      traceback: str | None = None) -> None:
        if keeps_history(self.instances):
            self.instances.finish_event(instance.uuid, request_id, event, self.now(), result, traceback)
