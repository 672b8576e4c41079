"""The conductor's attach and detach of a running server's volumes (Nova's compute manager attach_volume and
detach_volume): the host agent connects or disconnects, the conductor drives it and keeps the records.

The API has reserved the attachment with its device (or marked it 'detaching') and cast AttachVolume (DetachVolume)
here. The conductor records the host's connection, sends ConnectVolume (DisconnectVolume) to the host's volume
topic with its own reply topic and waits for the answer under the same deadline as its other commands (given up
at once if the host is seen down). On the answer the attachment completes ('in-use') or goes; a failed or silent
attach ends with the attachment gone and the volume 'available' again, the host told to let go of whatever it
connected late, and the instance action's ``compute_attach_volume`` event in Error with the reason, as Nova
records a failed attach. A failed or silent detach rolls back to 'in-use' (Cinder's roll_detaching), so it can be
asked again.

Redelivery is harmless: an attachment already attached, detached or gone is left alone, a command already
waiting here is not sent twice, and a connect sent again carries the same command id, so the host answers it
rather than redoing it. An answer no command here waits for (sent by a conductor that restarted) still
completes an attachment that waits for exactly it: the records check the attachment's state.

What nothing drives any more (a lost cast, a conductor gone) is given up by :meth:`VolumeAttachFlow.sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.rpc.bus import send
from twinstack.rpc.compute import CONDUCTOR_TOPIC, InstanceActionResult
from twinstack.rpc.conductor import AttachVolume, DetachVolume
from twinstack.rpc.volume import (
    ConnectVolume,
    DisconnectVolume,
    HostVolumeResult,
    connect_topic,
    host_volumes_topic,
)

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)
ATTACH_EVENT = "compute_attach_volume"
DETACH_EVENT = "compute_detach_volume"
ATTACH, DETACH = "attach_volume", "detach_volume"
CONNECT = "connect_volume"
"""A moving server's volume connected on its next host (no instance action event of its own)."""
Followed = Callable[[Instance, str | None], None]
"""What a move does once its server's volumes are connected on its next host: with the fault of a failure, or None."""


@dataclass(frozen=True)
class StuckAttachment:
    """A server's attachment waiting for longer than it should in 'reserved', 'attaching' or 'detaching'."""

    attachment_id: str
    instance_uuid: str
    volume_id: str
    status: str
    host: str | None


class AttachedVolumes(Protocol):
    """What the conductor asks of block storage (``twinstack.core.volume.server_volumes.HostAttachments``)."""

    def connect(self, attachment_id: str, host: str) -> ConnectVolume | None:
        """Record the host's connection on the reserved attachment and answer the command to send (the same one
        again for an attachment already connecting there); None: nothing to connect."""
        ...

    def connected(self, attachment_id: str, ok: bool) -> None:
        """The host's answer: the attachment completes, or goes."""
        ...

    def give_up_connect(self, attachment_id: str) -> bool:
        """The attach failed without the host's answer: the attachment goes (volume available). True if it went;
        False if it was attached meanwhile or gone already."""
        ...

    def is_attached(self, attachment_id: str) -> bool:
        """The attachment is complete."""
        ...

    def disconnect(self, attachment_id: str) -> DisconnectVolume | None:
        """The command that has the host let go of a detaching attachment; None: nothing to detach."""
        ...

    def disconnected(self, attachment_id: str, ok: bool, host: str | None = None) -> None:
        """The host's answer: the attachment goes, or the detach rolls back. An ok from the attachment's own
        ``host`` after a detach was rolled back is the detach done late."""
        ...

    def move(self, instance_uuid: str, host: str, move_id: str) -> list[ConnectVolume]:
        """The server is to run on ``host`` (a resize or cold migration): its volumes connected elsewhere are
        recorded connecting there; the commands to send (ids unique to the move and the host) and wait for."""
        ...

    def forget(self, attachment_id: str) -> None:
        """The server is on no host: the attachment goes in the records alone (never an attached one)."""
        ...

    def stuck(self, older_than: float) -> list[StuckAttachment]:
        """Servers' attachments waiting longer than ``older_than`` seconds in reserved, attaching or detaching."""
        ...


class VolumeAttachFlow:
    """The attach and detach handlers of one conductor."""

    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor
        self.volumes: AttachedVolumes | None = None
        """Block storage; set by the volume plane when it runs beside the conductor (None: attaches are ignored)."""
        self._waiting: dict[str, str] = {}
        """command id -> attachment id, for the commands sent and not yet answered"""

    def attach(self, message: AttachVolume) -> None:
        c, volumes = self.c, self.volumes
        if volumes is None:
            LOG.warning("attach of volume %s to %s ignored: no block storage beside this conductor",
                        message.volume_id, message.instance_uuid)
            return
        instance = c.instances.get(message.instance_uuid)
        if instance is None or instance.vm_state == states.DELETED or instance.task_state == states.DELETING:
            volumes.give_up_connect(message.attachment_id)  # the server's delete releases the rest
            return
        if instance.task_state is not None:
            # the server began a task (a move, say) after the API reserved: its host may change under the connect
            if volumes.give_up_connect(message.attachment_id):
                c.event_start(instance, message.request_id, ATTACH_EVENT, instance.host)
                c.event_finish(instance, message.request_id, ATTACH_EVENT, "Error",
                               f"{ATTACH}: instance {instance.uuid} is in task_state {instance.task_state}")
            return
        if instance.host is None:
            volumes.forget(message.attachment_id)
            return
        command = volumes.connect(message.attachment_id, instance.host)
        if command is None or command.command_id in self._waiting:
            return  # done already, or sent and waited for here: a redelivery
        host = instance.host
        c.event_start(instance, message.request_id, ATTACH_EVENT, host)
        self._waiting[command.command_id] = message.attachment_id

        def done(target: Instance, result: InstanceActionResult) -> None:
            self._attached(target, message, result)

        self._send(instance, command, ATTACH, message.request_id, done)

    def _send(self, instance: Instance, command: ConnectVolume | DisconnectVolume, action: str, request_id: str,
              done: Callable[[Instance, InstanceActionResult], None]) -> None:
        """Send the host its command under the conductor's deadline; a host known to be down fails it at once."""
        c, host = self.c, command.host
        if not c.host_up(host):
            done(instance, self._failure(command.command_id, instance.uuid, host, action, f"Host {host} is down."))
            return
        c.expect(command.command_id, instance.uuid, action, host, request_id, c.settings.build_timeout, done)
        topic = connect_topic(command) if isinstance(command, ConnectVolume) else host_volumes_topic(host)
        send(c.bus, topic, command, reply_to=c.settings.reply_topic or CONDUCTOR_TOPIC)

    def _attached(self, instance: Instance, message: AttachVolume, result: InstanceActionResult) -> None:
        c, volumes = self.c, self.volumes
        self._waiting.pop(result.command_id, None)
        if volumes is None:
            return
        if result.ok:
            volumes.connected(message.attachment_id, True)
            c.event_finish(instance, message.request_id, ATTACH_EVENT, "Success")
            return
        if not volumes.give_up_connect(message.attachment_id):
            # attached meanwhile (the host's answer reached block storage another way): the attach worked
            attached = volumes.is_attached(message.attachment_id)
            c.event_finish(instance, message.request_id, ATTACH_EVENT, "Success" if attached else "Error",
                           None if attached else result.fault)
            return
        LOG.info("attach of volume %s to %s failed: %s", message.volume_id, instance.uuid, result.fault)
        if c.host_up(result.host):
            # a host that connects after the conductor gave up must not keep the volume: its disconnect comes after
            send(c.bus, host_volumes_topic(result.host), DisconnectVolume(
                host=result.host, instance_uuid=instance.uuid, volume_id=message.volume_id,
                attachment_id=message.attachment_id), reply_to=c.settings.reply_topic or CONDUCTOR_TOPIC)
        c.event_finish(instance, message.request_id, ATTACH_EVENT, "Error", result.fault)

    def detach(self, message: DetachVolume) -> None:
        c, volumes = self.c, self.volumes
        if volumes is None:
            return
        instance = c.instances.get(message.instance_uuid)
        if instance is None or instance.vm_state == states.DELETED:
            return  # the server's delete releases its attachments
        if message.attachment_id in self._waiting.values():
            return  # a redelivery of a detach sent and waited for here
        command = volumes.disconnect(message.attachment_id)
        if command is None:
            return
        host = command.host
        c.event_start(instance, message.request_id, DETACH_EVENT, host)
        self._waiting[command.command_id] = message.attachment_id

        def done(target: Instance, result: InstanceActionResult) -> None:
            self._detached(target, message, result)

        self._send(instance, command, DETACH, message.request_id, done)

    def _detached(self, instance: Instance, message: DetachVolume, result: InstanceActionResult) -> None:
        self._waiting.pop(result.command_id, None)
        if self.volumes is None:
            return
        self.volumes.disconnected(message.attachment_id, result.ok, result.host if result.ok else None)
        self.c.event_finish(instance, message.request_id, DETACH_EVENT, "Success" if result.ok else "Error",
                            None if result.ok else result.fault)

    def answered(self, answer: HostVolumeResult) -> None:
        """A host's answer to a connect or a disconnect. One this conductor waits for goes through its pending
        commands (deadline, instance action); any other only settles an attachment still waiting for it."""
        pending = self.c.pending_command(answer.command_id)
        if pending is not None:
            self.c.answer(InstanceActionResult(command_id=answer.command_id, action=pending.action,
                                               host=answer.host, instance_uuid=pending.instance_uuid,
                                               ok=answer.ok, fault=answer.fault))
            return
        if self.volumes is None:
            return
        if answer.action == "connect":
            self.volumes.connected(answer.attachment_id, answer.ok)
        else:
            self.volumes.disconnected(answer.attachment_id, answer.ok, answer.host)

    def follow(self, instance: Instance, host: str, move_id: str, request_id: str, then: Followed) -> None:
        """The server is about to run on ``host`` (a resize or cold migration finishing there, or reverted to its
        source): its volumes are connected there first, as Nova's finish_resize and finish_revert_resize connect
        them before the driver defines the guest (a volume-backed server's root volume is the disk it boots from).
        Each connect is sent with this conductor's reply topic and waited for under its deadline; ``then`` runs
        once every one is answered, with the fault of a failure (None when all connected: each attachment is
        complete on ``host`` then). A failed connect leaves its attachment 'attaching' on ``host``, for the move
        going back to take along (it is the server's still). At once when nothing is to be connected."""
        volumes = self.volumes
        commands = volumes.move(instance.uuid, host, move_id) if volumes is not None else []
        if volumes is None or not commands:
            then(instance, None)
            return
        left = {command.command_id: command.attachment_id for command in commands}
        faults: list[str] = []

        def done(target: Instance, result: InstanceActionResult) -> None:
            self._waiting.pop(result.command_id, None)
            attachment_id = left.pop(result.command_id, None)
            if attachment_id is None:
                return
            if result.ok:
                volumes.connected(attachment_id, True)
            else:
                faults.append(result.fault or f"connecting a volume of {target.uuid} on {host} failed")
            if not left:
                then(target, faults[0] if faults else None)

        for command in commands:
            self._waiting[command.command_id] = command.attachment_id
        for command in commands:
            self._send(instance, command, CONNECT, request_id, done)

    def cancelled(self, command_id: str) -> None:
        """The conductor stopped waiting for ``command_id`` (its server deleted): nothing waits for it here."""
        self._waiting.pop(command_id, None)

    def in_flight(self) -> int:
        """Connects and disconnects sent and waited for here."""
        return len(self._waiting)

    def start_sweep(self) -> None:
        """Begin the periodic :meth:`sweep` (once block storage is set)."""
        self.c.runtime.call_later(self._sweep_interval(), self.sweep)

    def _sweep_interval(self) -> float:
        settings = self.c.settings
        return min(60.0, max(settings.check_interval, (settings.build_timeout + settings.attachment_grace) / 2))

    def sweep(self) -> None:
        """Give up what nothing drives any more: an attachment 'reserved' or 'attaching' past ``build_timeout``
        plus ``attachment_grace`` since its reservation (its AttachVolume lost, or its conductor gone) goes, the
        volume available again and its host told to let go; a 'detaching' one as old is rolled back to
        attached ('in-use'), so that it can be asked again. Attachments this conductor still waits for, those of
        servers being built (the build drives them), those of no server known here and those of servers another
        conductor drives (in a cell with a bus of its own) are left alone."""
        self.c.runtime.call_later(self._sweep_interval(), self.sweep)
        c, volumes = self.c, self.volumes
        if volumes is None:
            return
        waiting = set(self._waiting.values())
        for stuck in volumes.stuck(c.settings.build_timeout + c.settings.attachment_grace):
            instance = c.instances.get(stuck.instance_uuid)
            if (stuck.attachment_id in waiting or instance is None or instance.vm_state == states.BUILDING
                    or not c.serves(instance)):  # a cell's conductor on its own bus sweeps its servers' own
                continue
            LOG.warning("attachment %s of volume %s to %s stayed %s: given up", stuck.attachment_id,
                        stuck.volume_id, stuck.instance_uuid, stuck.status)
            if stuck.status == "detaching":
                volumes.disconnected(stuck.attachment_id, False)
            elif volumes.give_up_connect(stuck.attachment_id) and stuck.host is not None:
                send(c.bus, host_volumes_topic(stuck.host), DisconnectVolume(
                    host=stuck.host, instance_uuid=stuck.instance_uuid, volume_id=stuck.volume_id,
                    attachment_id=stuck.attachment_id), reply_to=c.settings.reply_topic or CONDUCTOR_TOPIC)

    @staticmethod
    def _failure(command_id: str, instance_uuid: str, host: str, action: str, reason: str) -> InstanceActionResult:
        return InstanceActionResult(command_id=command_id, action=action, host=host, instance_uuid=instance_uuid,
                                    ok=False, fault=f"{action} on {host}: {reason}")
