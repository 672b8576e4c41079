"""A resized or cold-migrated server's volumes are connected on the host it is about to run on before the command
that boots it there (FinishResize on the destination, FinishRevertResize on the source when reverted), as Nova's
finish_resize connects them before its driver defines the guest: a volume-backed server boots from its root volume.
A destination that cannot connect one sends the server back to its source, volumes and all.

The conductor runs against simulated hosts in virtual time (tests.sim.test_conductor_moves' cloudlet); block
storage is a double that keeps each attachment's host, and each host's volume topic answers connects after
CONNECT_SECONDS, noting what the host's simulated agent held at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.sim.test_conductor_moves import MEDIUM, Cloudlet, cloudlet
from twinstack.core.compute import move_requests as moves
from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.core.compute.volume_attach import StuckAttachment
from twinstack.rpc.bus import send, typed
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.volume import ConnectVolume, DisconnectVolume, HostVolumeResult, host_volumes_topic

CONNECT_SECONDS = 3.0


@dataclass
class Seen:
    at: float
    host: str
    command_id: str
    guest: int | None
    """the power state of the server on that host's simulated agent when the connect came (None: not there)"""


@dataclass
class Volumes:
    """Block storage's attachments of one server, by attachment id: the host each is connected (or connecting) on."""

    hosts: dict[str, str] = field(default_factory=dict)
    attached: dict[str, bool] = field(default_factory=dict)

    def move(self, instance_uuid: str, host: str, move_id: str) -> list[ConnectVolume]:
        commands = []
        for attachment_id, now in self.hosts.items():
            if now != host:
                self.hosts[attachment_id], self.attached[attachment_id] = host, False
                commands.append(ConnectVolume(command_id=f"connect-{attachment_id}-{move_id}-{host}", host=host,
                                              instance_uuid=instance_uuid, volume_id=f"v-{attachment_id}",
                                              attachment_id=attachment_id, mountpoint="/dev/vdb"))
        return commands

    def connected(self, attachment_id: str, ok: bool) -> None:
        self.attached[attachment_id] = ok

    def connect(self, attachment_id: str, host: str) -> ConnectVolume | None:
        return None

    def give_up_connect(self, attachment_id: str) -> bool:
        return False

    def is_attached(self, attachment_id: str) -> bool:
        return self.attached.get(attachment_id, False)

    def disconnect(self, attachment_id: str) -> DisconnectVolume | None:
        return None

    def disconnected(self, attachment_id: str, ok: bool, host: str | None = None) -> None:
        pass

    def forget(self, attachment_id: str) -> None:
        pass

    def stuck(self, older_than: float) -> list[StuckAttachment]:
        return []


class Hosts:
    """Every host's volume topic: connects noted and answered after CONNECT_SECONDS (failed on ``failing``)."""

    def __init__(self, c: Cloudlet, vm: Instance) -> None:
        self.c, self.vm = c, vm
        self.seen: list[Seen] = []
        self.failing: set[str] = set()
        for host in c.agent.hosts:
            c.bus.subscribe(host_volumes_topic(host), typed(self._on_command))

    def _on_command(self, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, ConnectVolume):
            return
        self.seen.append(Seen(self.c.runtime.clock.now(), message.host, message.command_id,
                              self.c.agent.hosts[message.host].instances.get(self.vm.uuid)))
        ok = message.host not in self.failing
        answer = HostVolumeResult(command_id=message.command_id, action="connect", host=message.host,
                                  attachment_id=message.attachment_id, ok=ok,
                                  fault=None if ok else f"cannot reach the volume from {message.host}")
        self.c.runtime.call_later(CONNECT_SECONDS, lambda: send(self.c.bus, envelope.reply_to or "", answer))


def with_a_volume() -> tuple[Cloudlet, Instance, Volumes, Hosts]:
    c = cloudlet()
    vm = c.boot()
    volumes = Volumes(hosts={"att-1": vm.host or ""})
    c.conductor.volume_attach.volumes = volumes
    return c, vm, volumes, Hosts(c, vm)


def test_a_resize_connects_the_volumes_on_the_destination_before_the_server_is_built_there() -> None:
    c, vm, volumes, hosts = with_a_volume()
    source = vm.host
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(1 + 5 + 1)  # scheduled, the source's disk sent (5 s), the connect out
    [seen] = hosts.seen
    dest = seen.host
    assert dest != source and seen.guest is None, "connected before the destination built anything"
    assert vm.task_state == states.RESIZE_FINISH and volumes.hosts == {"att-1": dest}
    c.later(15)
    assert vm.status == "VERIFY_RESIZE" and vm.host == dest and volumes.attached == {"att-1": True}
    assert c.events(vm, "req-resize")[-1] == ("compute_finish_resize", "Success", dest)


def test_a_revert_connects_the_volumes_on_the_source_again_before_powering_its_copy_on() -> None:
    c, vm, volumes, hosts = with_a_volume()
    source = vm.host or ""
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(30)
    assert vm.status == "VERIFY_RESIZE"
    moves.revert_resize(c.compute, vm.uuid, "u", "req-revert")
    c.later(5)
    [there, back] = hosts.seen
    assert back.host == source and back.command_id != there.command_id, "a connect of its own, not a repeat"
    assert back.guest == states.SHUTDOWN, "the source's copy still off while its volumes are connected"
    assert volumes.hosts == {"att-1": source}
    c.later(10)
    assert vm.status == "ACTIVE" and vm.host == source and volumes.attached == {"att-1": True}
    assert c.agent.hosts[source].instances[vm.uuid] == states.RUNNING
    assert c.migration(vm) == "reverted"


def test_a_destination_that_cannot_connect_a_volume_sends_the_server_back_with_its_volumes() -> None:
    c, vm, volumes, hosts = with_a_volume()
    source = vm.host or ""
    before = c.used()
    hosts.failing = {h for h in c.agent.hosts if h != source}
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(40)
    [there, back] = hosts.seen
    assert there.host != source and back.host == source
    assert vm.status == "ACTIVE" and vm.host == source and vm.flavor.name == "m1.small"
    assert vm.fault is not None and f"cannot reach the volume from {there.host}" in vm.fault.message
    assert volumes.hosts == {"att-1": source} and volumes.attached == {"att-1": True}
    assert c.migration(vm) == "error" and c.used() == before
    assert vm.uuid not in c.agent.hosts[there.host].instances, "nothing left on the destination"
    assert c.agent.hosts[source].instances[vm.uuid] == states.RUNNING
    assert ("compute_finish_resize", "Error", there.host) in c.events(vm, "req-resize")


def test_a_server_without_volumes_moves_without_waiting() -> None:
    c = cloudlet()
    vm = c.boot()
    c.conductor.volume_attach.volumes = Volumes()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(1 + 5 + 10 + 1)  # scheduled, sent, booted: no connect in between
    assert vm.status == "VERIFY_RESIZE"
