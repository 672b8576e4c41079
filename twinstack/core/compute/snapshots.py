"""The conductor's snapshot flow (Nova's createImage): the host captures the disk, the image gets its data.

The API has made the ``queued`` image and put the instance in ``image_snapshot_pending``. Here the
instance goes to ``image_snapshot`` as SnapshotInstance is sent; the agent's SnapshotProgress moves it to
``image_pending_upload`` and ``image_uploading``; its answer ends the task (task_state None, the vm_state
unchanged). The image turns ``active`` only once its data is stored (by the conductor, or by a host that
uploaded it through the image API itself: then the conductor only checks it is active); a failed or silent
host, a failed store, or the instance deleted meanwhile leaves it ``killed``. The instance action records
``compute_snapshot_instance``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.rpc.compute import InstanceActionResult, SnapshotInstance, SnapshotProgress
from twinstack.rpc.conductor import SnapshotServer

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

SNAPSHOT_EVENT = "compute_snapshot_instance"


class SnapshotFlow:
    """The snapshot handlers of one conductor."""

    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor
        self.images: dict[str, str] = {}
        """command id -> image id, for snapshots under way"""

    def start(self, message: SnapshotServer) -> None:
        c, snapshots = self.c, self.c.snapshots
        if snapshots is None:
            return
        instance = c.instances.get(message.instance_uuid)
        if instance is None or instance.host is None or instance.task_state != states.IMAGE_SNAPSHOT_PENDING:
            snapshots.kill(message.image_id)  # deleted, or another task took over, before the snapshot began
            return
        instance.task_state = states.IMAGE_SNAPSHOT
        instance.updated_at = c.now()
        c.instances.save(instance)
        c.event_start(instance, message.request_id, SNAPSHOT_EVENT, instance.host)
        command = SnapshotInstance(host=instance.host, instance_uuid=instance.uuid, image_id=message.image_id,
                                   image=instance.image)
        self.images[command.command_id] = message.image_id

        def done(target: Instance, result: InstanceActionResult) -> None:
            self._finish(target, result, message.request_id)

        c.send_if_up(command, instance, "snapshot", instance.host, message.request_id, done)

    def progress(self, message: SnapshotProgress) -> None:
        c = self.c
        if message.command_id not in self.images:
            return  # late, or the snapshot was given up
        instance = c.instances.get(message.instance_uuid)
        if instance is None or instance.task_state not in states.SNAPSHOT_TASKS:
            return
        instance.task_state = message.task_state
        instance.updated_at = c.now()
        c.instances.save(instance)

    def cancelled(self, command_id: str) -> None:
        """The instance is being deleted while its snapshot runs: the image will never get its data."""
        image_id = self.images.pop(command_id, None)
        if image_id is not None and self.c.snapshots is not None:
            self.c.snapshots.kill(image_id)

    def _finish(self, instance: Instance, result: InstanceActionResult, request_id: str) -> None:
        c, snapshots = self.c, self.c.snapshots
        image_id = self.images.pop(result.command_id, None)
        if image_id is None or snapshots is None:
            return
        fault = result.fault
        stored = False
        if result.ok and result.image_uploaded:
            stored = snapshots.uploaded(image_id)
            if not stored:
                fault = f"Image {image_id} is not active after the host's upload (deleted meanwhile, or it failed)"
        elif result.ok and result.image_size is not None:
            stored = snapshots.store(image_id, result.image_size)
            if not stored:
                fault = f"Image {image_id} could not be stored (deleted meanwhile, or the store failed)"
        elif result.ok:
            fault = "The host reported no snapshot data"
        if not stored:
            snapshots.kill(image_id)
        if instance.task_state in states.SNAPSHOT_TASKS:
            instance.task_state = None
            instance.updated_at = c.now()
            c.instances.save(instance)
        c.event_finish(instance, request_id, SNAPSHOT_EVENT, "Success" if stored else "Error",
                       None if stored else fault)
