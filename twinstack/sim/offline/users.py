"""The cloud's users, simulated: they submit requests through the compute API's logic and delete servers.

Every request goes through :meth:`ComputeService.create_servers` (a group first through the server group
store, as ``openstack server group create`` would), exactly as an HTTP request does; deletes through
:meth:`ComputeService.delete_server`. A user deletes a server when its lifetime ends, at once when it ends
in ERROR (refused or failed: nothing more will come of it), and when its host is seen to have died.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

from twinstack.core.compute import states
from twinstack.core.compute.model import ServerGroup
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.errors import CloudError
from twinstack.core.runtime import Runtime
from twinstack.sim.offline.stores import OfflineInstanceStore, OfflineServerGroupStore
from twinstack.sim.offline.workload import Arrivals, Request

Submitted = Callable[[Request], None]


class Users:
    def __init__(self, runtime: Runtime, service: ComputeService, instances: OfflineInstanceStore,
                 groups: OfflineServerGroupStore, on_submit: Submitted | None = None) -> None:
        self.runtime = runtime
        self.service = service
        self.instances = instances
        self.groups = groups
        self.on_submit = on_submit
        self._requests = 0

    def follow(self, arrivals: Arrivals) -> None:
        """Submit every request of ``arrivals`` at its time, pulling the next only when one is submitted."""
        def pull() -> None:
            item = next(arrivals, None)
            if item is None:
                return
            at, request = item

            def fire() -> None:
                self.submit(request)
                pull()

            self.runtime.call_later(max(0.0, at - self._elapsed()), fire)

        pull()

    def _elapsed(self) -> float:
        return self.runtime.clock.now()

    def submit(self, request: Request) -> None:
        self._requests += 1
        request_id = f"req-{self._requests}"
        hints: dict[str, str] = {}
        group = request.group
        if group is not None:
            rules = {"max_server_per_host": group.max_server_per_host} if group.max_server_per_host else {}
            made = ServerGroup(uuid=str(uuid.UUID(int=self._requests)), name=f"group-{self._requests}",
                               policy=group.policy, project_id=request.project, user_id="user", rules=rules,
                               created_at=self._elapsed())
            self.groups.create(made, -1)
            hints["group"] = made.uuid
        if self.on_submit is not None:
            self.on_submit(request)
        created = self.service.create_servers(BootRequest(
            name=f"vm-{self._requests}", project_id=request.project, user_id="user", flavor=request.flavor,
            availability_zone=request.zone, scheduler_hints=hints, metadata={"workload": request.source},
            min_count=request.count,
            max_count=request.count), request_id)
        if math.isfinite(request.lifetime):
            uuids = [instance.uuid for instance in created]
            self.runtime.call_later(request.lifetime, lambda: self.delete_all(uuids, hints.get("group")))

    def delete_all(self, uuids: list[str], group: str | None = None) -> None:
        for instance in uuids:
            self.delete(instance)
        if group is not None:
            self.groups.delete(group)

    def delete(self, instance_uuid: str) -> None:
        """Delete the server if it still exists and is not being deleted already."""
        instance = self.instances.get(instance_uuid)
        if instance is None or instance.task_state == states.DELETING:
            return
        try:
            self.service.delete_server(instance_uuid, "user", f"req-del-{instance_uuid[:8]}")
        except CloudError:
            return
