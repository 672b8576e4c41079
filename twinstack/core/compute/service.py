"""The compute API's logic: record what a user asked for, check it can be done, hand it to the conductor.

The HTTP layer and the simulator's workloads both call these functions, so a simulated request
takes exactly the path a real one does. Nothing here waits for a host: answers are immediate
and the conductor carries the work out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from twinstack.core.compute import states
from twinstack.core.compute.model import Instance, InstanceAction
from twinstack.core.compute.stores import InstanceStore
from twinstack.core.errors import Conflict, NotFound
from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Bus, send
from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.conductor import CONDUCTOR_TOPIC, BuildInstances, ChangePowerState, DeleteInstance

# vm_states from which each power action may start (Nova's check_instance_state rules)
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "reboot_soft": frozenset({states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR}),
    "reboot_hard": frozenset({states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR}),
    "stop": frozenset({states.ACTIVE, states.ERROR}),
    "start": frozenset({states.STOPPED}),
    "pause": frozenset({states.ACTIVE}),
    "unpause": frozenset({states.PAUSED}),
    "suspend": frozenset({states.ACTIVE}),
    "resume": frozenset({states.SUSPENDED}),
}
TASK_STATE_OF = {
    "reboot_soft": states.REBOOTING, "reboot_hard": states.REBOOTING_HARD, "stop": states.POWERING_OFF,
    "start": states.POWERING_ON, "pause": states.PAUSING, "unpause": states.UNPAUSING,
    "suspend": states.SUSPENDING, "resume": states.RESUMING,
}
NOVA_ACTION_NAMES = {"reboot_soft": "reboot", "reboot_hard": "reboot"}


@dataclass(frozen=True)
class BootRequest:
    name: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    availability_zone: str | None = None
    key_name: str | None = None
    key_data: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_count: int = 1


class ComputeService:
    def __init__(self, runtime: Runtime, bus: Bus, instances: InstanceStore) -> None:
        self.runtime = runtime
        self.bus = bus
        self.instances = instances

    def _now(self) -> float:
        return self.runtime.clock.now()

    def create_servers(self, request: BootRequest, request_id: str) -> list[Instance]:
        """Record ``max_count`` instances in BUILD/scheduling and ask the conductor to build them."""
        now = self._now()
        reservation = "r-" + uuid.uuid4().hex[:8]
        created: list[Instance] = []
        for index in range(request.max_count):
            name = request.name if request.max_count == 1 else f"{request.name}-{index + 1}"
            instance = Instance(
                uuid=str(uuid.uuid4()), name=name, project_id=request.project_id, user_id=request.user_id,
                flavor=request.flavor, image=request.image, created_at=now, updated_at=now,
                requested_availability_zone=request.availability_zone, key_name=request.key_name,
                key_data=request.key_data, user_data=request.user_data, metadata=dict(request.metadata),
                scheduler_hints=dict(request.scheduler_hints), reservation_id=reservation, launch_index=index,
            )
            self.instances.save(instance)
            self.instances.add_action(InstanceAction(request_id, instance.uuid, "create", request.project_id,
                                                     request.user_id, now))
            created.append(instance)
        send(self.bus, CONDUCTOR_TOPIC, BuildInstances(instance_uuids=[i.uuid for i in created],
                                                       request_id=request_id))
        return created

    def get(self, uuid: str) -> Instance:
        instance = self.instances.get(uuid)
        if instance is None or instance.vm_state == states.DELETED:
            raise NotFound(f"Instance {uuid} could not be found.")
        return instance

    def delete_server(self, uuid: str, user_id: str, request_id: str) -> None:
        instance = self.get(uuid)
        if instance.locked_by is not None:
            raise Conflict(f"Instance {uuid} is locked")
        instance.task_state = states.DELETING
        instance.updated_at = self._now()
        self.instances.save(instance)
        self.instances.add_action(InstanceAction(request_id, uuid, "delete", instance.project_id, user_id,
                                                 self._now()))
        send(self.bus, CONDUCTOR_TOPIC, DeleteInstance(instance_uuid=uuid, request_id=request_id))

    def power_action(self, uuid: str, action: str, user_id: str, request_id: str) -> None:
        """Refuse (409, as Nova words it) an action the instance's state does not allow; else start it."""
        instance = self.get(uuid)
        allowed = ALLOWED_FROM[action]
        if instance.locked_by is not None:
            raise Conflict(f"Instance {uuid} is locked")
        if instance.vm_state not in allowed or (instance.task_state is not None and action != "reboot_hard"):
            verb = NOVA_ACTION_NAMES.get(action, action)
            if instance.task_state is not None:
                raise Conflict(f"Cannot '{verb}' instance {uuid} while it is in task_state {instance.task_state}")
            raise Conflict(f"Cannot '{verb}' instance {uuid} while it is in vm_state {instance.vm_state}")
        instance.task_state = TASK_STATE_OF[action]
        instance.updated_at = self._now()
        self.instances.save(instance)
        self.instances.add_action(InstanceAction(request_id, uuid, NOVA_ACTION_NAMES.get(action, action),
                                                 instance.project_id, user_id, self._now()))
        send(self.bus, CONDUCTOR_TOPIC, ChangePowerState(instance_uuid=uuid, action=action, request_id=request_id))
