"""Memory stores tuned for long offline runs: the same contracts, no history kept past an instance's end.

A 30-day scenario creates a million instances; the plain memory stores keep every one (and its actions and
events) forever, which costs gigabytes and makes server group lookups walk all of them. These keep only live
instances, index group members, and tell an observer about every state the conductor writes, which is how
the metrics see boots, refusals and deletions without reaching into the conductor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from twinstack.core.compute import states
from twinstack.core.compute.memory import MemoryInstanceStore
from twinstack.core.compute.model import ActionEvent, Instance, InstanceAction, ServerGroup

Observer = Callable[[Instance], None]


class OfflineInstanceStore(MemoryInstanceStore):
    """Live instances only: a save in DELETED forgets the instance (after the observer has seen it).

    With ``keep_history`` False (the default) instance actions and events are not recorded at all; nobody
    reads them offline, and they are most of the memory a lifecycle costs; the conductor reads the flag too, and
    builds no event for a store that would drop it.
    """

    def __init__(self, observer: Observer | None = None, keep_history: bool = False) -> None:
        super().__init__()
        self.observer = observer
        self.keep_history = keep_history
        self.groups: OfflineServerGroupStore | None = None

    def save(self, instance: Instance) -> None:
        if instance.vm_state == states.DELETED:
            self.instances.pop(instance.uuid, None)
            self.forget_history(instance.uuid)
        else:
            new = instance.uuid not in self.instances
            super().save(instance)
            if new and instance.server_group_id and self.groups is not None:
                self.groups.add_member(instance.server_group_id, instance.uuid)
        if self.observer is not None:
            self.observer(instance)

    def forget_history(self, uuid: str) -> None:
        if self.keep_history:
            self._actions.pop(uuid, None)

    def add_action(self, action: InstanceAction) -> None:
        if self.keep_history:
            super().add_action(action)

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None:
        if self.keep_history:
            super().start_event(instance_uuid, request_id, event)

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None:
        if self.keep_history:
            super().finish_event(instance_uuid, request_id, event, finish_time, result, traceback)


class OfflineServerGroupStore:
    """Server groups whose members are indexed as they are recorded (the memory store walks every instance).

    Members are the group's live instances, oldest first, as the ServerGroupStore contract says; a member
    deleted since is dropped from the index the next time the group is read. No quota applies offline.
    """

    def __init__(self, instances: OfflineInstanceStore) -> None:
        self.instances = instances
        self.groups: dict[str, ServerGroup] = {}
        self._members: dict[str, list[str]] = {}
        instances.groups = self

    def add_member(self, group: str, uuid: str) -> None:
        self._members.setdefault(group, []).append(uuid)

    def _live(self, uuid: str) -> list[str]:
        live = [m for m in self._members.get(uuid, []) if m in self.instances.instances]
        self._members[uuid] = live
        return live

    def create(self, group: ServerGroup, limit: int) -> None:
        self.groups[group.uuid] = replace(group, members=[], rules=dict(group.rules))
        self._members[group.uuid] = []

    def get(self, uuid: str) -> ServerGroup | None:
        group = self.groups.get(uuid)
        return None if group is None else replace(group, members=self._live(uuid), rules=dict(group.rules))

    def find(self, project_id: str | None = None) -> list[ServerGroup]:
        return [g for g in (self.get(u) for u in self.groups) if g is not None
                and (project_id is None or g.project_id == project_id)]

    def delete(self, uuid: str) -> bool:
        self._members.pop(uuid, None)
        return self.groups.pop(uuid, None) is not None

    def member_hosts(self, uuid: str) -> list[str]:
        found = (self.instances.get(m) for m in self._live(uuid))
        return [i.host for i in found if i is not None and i.host]
