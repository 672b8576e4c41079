"""The conductor's part in cells with a bus of their own (twinstack.core.compute.cell_buses): Nova's split between the
super-conductor, which schedules every build, and each cell's conductor, which drives the instances of its cell.

* The top-level conductor (``ConductorSettings.cell`` None) records a build placed on a host of such a cell in the
  cell, then hands it over on the cell's bus (BuildPlaced); that bus refusing, the build is placed afresh elsewhere,
  as for a cell whose database does not answer. An action on one of the cell's instances that reached it anyway (the
  API read the instance before it was placed) is forwarded there, and a command that expects no answer to one of
  the cell's hosts (a re-plug the network API asked for, a guest to destroy) goes out on the cell's bus.
* A cell's conductor (``ConductorSettings.cell`` its name), on its cell's bus, carries a handed-over build on from
  there (volumes, spawn, alternates of its cell) and drives every instance of its cell. Where several share a
  cell, each claims the builds handed over to it (``on_handover``): one that a live peer already drives is left to
  it (a hand-over redelivered, or sent again by a top-level conductor that took over a dead one's builds), and
  another of the cell takes a build over if its conductor dies (twinstack.core.compute.takeover).

What the top-level conductor sends to a cell's bus it posts (CellBuses.post): a broker that makes a publish wait
never holds up its runtime, which runs every cell's work.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from twinstack.core.compute import states
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.model import Instance
from twinstack.core.compute.takeover import Claim
from twinstack.rpc.bus import send
from twinstack.rpc.compute import agent_topic
from twinstack.rpc.conductor import (
    CONDUCTOR_TOPIC,
    AttachVolume,
    BuildPlaced,
    ChangePowerState,
    ConfirmResize,
    DeleteInstance,
    DetachVolume,
    LiveMigrateServer,
    MigrateServer,
    RebuildServer,
    RevertResize,
    SnapshotServer,
)
from twinstack.rpc.messages import Message

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)

HANDED_OVER = (states.BLOCK_DEVICE_MAPPING, states.SPAWNING)
"""The tasks of a build handed over to a cell's conductor (its volumes, then its spawn)."""

InstanceRequest = (DeleteInstance | ChangePowerState | SnapshotServer | AttachVolume | DetachVolume | MigrateServer
                   | ConfirmResize | RevertResize | LiveMigrateServer | RebuildServer)
INSTANCE_REQUESTS = (DeleteInstance, ChangePowerState, SnapshotServer, AttachVolume, DetachVolume, MigrateServer,
                     ConfirmResize, RevertResize, LiveMigrateServer, RebuildServer)
"""The API's requests about one instance: carried out by the conductor that drives it (CellHandover.home)."""


class CellHandover:
    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor

    def home(self, cell: str | None) -> str | None:
        """Which conductor drives the instances and hosts of ``cell``: the cell's own (its name) if the cell has a
        bus of its own, else the top-level conductor (None)."""
        c = self.c
        if cell is None:
            return None
        if cell == c.settings.cell or (c.cell_buses is not None and c.cell_buses.own(cell)):
            return cell
        return None

    def serves(self, instance: Instance) -> bool:
        """Does this conductor drive ``instance`` (recovery finishes only the work of its own instances)?"""
        return self.home(instance.cell) == self.c.settings.cell

    def _spans(self) -> bool:
        """Is this the top-level conductor of a cloud with cells that have a bus of their own?"""
        c = self.c
        return c.cell_buses is not None and c.settings.cell is None and bool(c.cell_buses.cells())

    def refusing(self, instance: Instance) -> bool:
        """Has the bus of the cell ``instance`` is placed in refused a message a moment ago (so nothing is recorded
        there for a build it cannot take)?"""
        buses = self.c.cell_buses
        return buses is not None and instance.cell is not None and instance.cell in buses.down()

    def forwarded(self, message: InstanceRequest) -> bool:
        """An action on an instance another conductor drives (the API read the instance before it was placed in a
        cell with a bus of its own, or an older API sent it here): forwarded to that cell's conductor, without
        waiting for its broker (held while the cell's bus is down, see CellBuses.post)."""
        c = self.c
        if not self._spans():
            return False
        instance = c.instances.get(message.instance_uuid)
        home = self.home(instance.cell) if instance is not None else None
        if home is None:
            return False
        assert c.cell_buses is not None
        c.cell_buses.post(home, CONDUCTOR_TOPIC, message)
        return True

    def hand_over(self, instance: Instance, host_name: str, request_id: str,
                  where: tuple[str | None, str | None]) -> None:
        """The build is recorded placed in a cell with a bus of its own: its conductor there carries it on. If that
        bus refuses (at once while the cell is down, or later: the hand-over is posted, so that a broker that makes
        a publish wait never holds this conductor up), the build is placed afresh elsewhere (``where``: its cell and
        zone before it was placed), as for a cell whose database does not answer, unless it changed meanwhile."""
        c = self.c
        assert c.cell_buses is not None and instance.cell is not None
        uuid = instance.uuid

        def refused(exc: CellUnavailable) -> None:
            current = c.instances.get(uuid)
            if (current is not None and current.vm_state == states.BUILDING and current.host == host_name
                    and current.uuid not in c.in_flight()):
                c.cell_unavailable(current, request_id, host_name, where, exc)

        c.cell_buses.post(instance.cell, CONDUCTOR_TOPIC,
                          BuildPlaced(instance_uuid=uuid, host=host_name, request_id=request_id), refused=refused)
        LOG.debug("build of %s handed over to cell %s's conductor (host %s)", uuid, instance.cell, host_name)

    def hand_over_again(self, instance: Instance, request_id: str) -> None:
        """A build recorded placed in a cell with a bus of its own whose hand-over may never have gone out: its
        top-level conductor died between the two (or with the hand-over posted and not yet published), and this one
        took its work over. The hand-over is sent again: a conductor of the cell already driving the build ignores
        it (see :meth:`build_placed`). A refusal never places it afresh (a conductor of the cell may be driving it):
        the message is held until the cell's bus takes messages again (CellBuses.post)."""
        c = self.c
        assert c.cell_buses is not None and instance.cell is not None and instance.host is not None
        c.cell_buses.post(instance.cell, CONDUCTOR_TOPIC,
                          BuildPlaced(instance_uuid=instance.uuid, host=instance.host, request_id=request_id))
        LOG.warning("build of %s handed over again to cell %s's conductors (host %s)", instance.uuid, instance.cell,
                    instance.host)

    def handed_over(self, instance: Instance) -> bool:
        """Is ``instance`` a build this top-level conductor placed in a cell with a bus of its own, waiting there
        for its volumes or its spawn (the cell's conductors' to drive)?"""
        return (self._spans() and instance.vm_state == states.BUILDING and instance.host is not None
                and instance.task_state in HANDED_OVER and self.home(instance.cell) is not None)

    def build_placed(self, message: BuildPlaced) -> None:
        """A build the top-level conductor placed on one of this cell's hosts: connect its volumes if it has any,
        then spawn. Ignored if the instance no longer waits for exactly that (deleted, rescheduled meanwhile, or a
        repeated message whose build is under way here).

        Where the cell's conductors share its work, the build is claimed first (``on_handover``): a message that
        reaches a second conductor while a live one drives the build (redelivered by the broker, or sent again by a
        top-level conductor that took over) is ignored there, and one held by a dead conductor is taken over as its
        adoption would have been (Conductor.resume_work). Either way one conductor drives it."""
        c = self.c
        instance = c.instances.get(message.instance_uuid)
        if (instance is None or instance.vm_state != states.BUILDING or instance.host != message.host
                or instance.uuid in c.in_flight() or instance.task_state not in HANDED_OVER):
            return
        if c.on_handover is not None:
            claim = c.on_handover(instance.uuid)
            if claim is Claim.REFUSED:
                return  # a live peer drives it
            if claim is Claim.ORPHANED:
                c.resume_work(instance.uuid)  # the spawn its dead peer sent counts as failed, as in a takeover
                return
        elif c.on_work is not None:
            c.on_work([instance.uuid])  # this conductor of the cell's drives it now: another takes it over if it dies
        if instance.task_state == states.BLOCK_DEVICE_MAPPING:
            c.volume_boot.start(instance, message.host, message.request_id)
        else:
            c.spawn(instance, message.host, message.request_id)

    def to_host(self, host: str, message: Message) -> None:
        """Send ``message`` (expecting no answer here) to ``host``'s agent, on the bus its cell's agents listen on:
        this conductor's, unless the host is in a cell with a bus of its own that another conductor drives (a re-plug
        the network API asked of the top-level conductor, a guest to destroy on a host of such a cell)."""
        c = self.c
        if self._spans():
            known = c.hosts.get(host)
            home = self.home(known.cell) if known is not None else None
            if home is not None:
                assert c.cell_buses is not None
                c.cell_buses.post(home, agent_topic(host), message)  # held while the cell's bus is down
                return
        send(c.bus, agent_topic(host), message)
