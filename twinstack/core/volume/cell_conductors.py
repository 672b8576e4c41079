"""Block storage as the conductor of a cell with a bus of its own reaches it (twinstack.core.compute.cell_buses).

Block storage is not in a cell: its manager and back ends run beside the top-level conductors, on the main bus, and
its records are in the main database, as Cinder serves every cell of a Nova deployment. A cell's hosts, though, hear
only their cell's bus. So the conductor of such a cell (Nova's cell conductor and computes, which call Cinder's API)
uses a volume service whose messages go two ways (:class:`CellStorageBus`): a command to one of its hosts' volume
topics (connect, disconnect) on the cell's bus, everything else (a volume to make or delete, an export to stop) on
the main bus, where block storage listens.

A host answers a connect or a disconnect where the command asks: the conductor's own reply topic for an attach or a
detach it waits for, else the ``volume`` topic, as it would the volume manager. On the cell's bus nobody else
listens there, so :class:`HostVolumeAnswers` takes those answers in the cell (booting from volumes, a server's
volumes let go when it is deleted or connected anew after a move) and settles the attachments in the records, as
the volume manager does. What they change is records only: an answer taken twice (a redelivery) changes nothing
the second time.
"""

from __future__ import annotations

from twinstack.core.volume import server_volumes
from twinstack.core.volume.service import VolumeService
from twinstack.rpc.bus import Bus, Handler, Publisher, typed
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.volume import VOLUME_TOPIC, HostVolumeResult, is_host_volumes_topic


class CellStorageBus:
    """The bus a cell's conductor sends block storage's messages on: its hosts' volume topics on ``cell_bus``, every
    other topic on ``main`` (the main bus, or a publisher on it). Subscriptions are the cell bus's."""

    def __init__(self, cell_bus: Bus, main: Publisher) -> None:
        self.cell_bus = cell_bus
        self.main = main

    def publish(self, topic: str, envelope: Envelope) -> None:
        (self.cell_bus if is_host_volumes_topic(topic) else self.main).publish(topic, envelope)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.cell_bus.subscribe(topic, handler)

    def unsubscribe(self, topic: str) -> None:
        self.cell_bus.unsubscribe(topic)


class HostVolumeAnswers:
    """The cell's hosts' answers to the connects and disconnects that named no conductor (see the module)."""

    def __init__(self, svc: VolumeService, cell_bus: Bus) -> None:
        self.svc = svc
        self.cell_bus = cell_bus

    def start(self) -> None:
        self.cell_bus.subscribe(VOLUME_TOPIC, typed(self.handle))

    def handle(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, HostVolumeResult):
            server_volumes.host_answered(self.svc, message)
