"""Nova's instance states: vm_state and task_state, and the ``status`` the API shows for each pair."""

from __future__ import annotations

# vm states
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
PAUSED = "paused"
SUSPENDED = "suspended"
RESIZED = "resized"
ERROR = "error"
DELETED = "deleted"
SOFT_DELETED = "soft-delete"
RESCUED = "rescued"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task states
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
"""A build's volumes are being made and connected on its host, before it spawns."""
SPAWNING = "spawning"
DELETING = "deleting"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
REBUILDING = "rebuilding"
REBUILD_SPAWNING = "rebuild_spawning"
MIGRATING = "migrating"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
IMAGE_SNAPSHOT_PENDING = "image_snapshot_pending"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
SNAPSHOT_TASKS = frozenset({IMAGE_SNAPSHOT_PENDING, IMAGE_SNAPSHOT, IMAGE_PENDING_UPLOAD, IMAGE_UPLOADING})
"""A snapshot's steps; the status stays what the vm_state shows (Nova maps none of them)."""

# power states (integers, as Nova reports them)
NOSTATE, RUNNING, POWER_PAUSED, SHUTDOWN, CRASHED, POWER_SUSPENDED = 0, 1, 3, 4, 6, 7

_BY_TASK: dict[str, dict[str | None, str]] = {
    ACTIVE: {
        None: "ACTIVE", REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT", REBUILDING: "REBUILD",
        REBUILD_SPAWNING: "REBUILD", MIGRATING: "MIGRATING", RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE",
        RESIZE_FINISH: "RESIZE",
    },
    BUILDING: {None: "BUILD"},
    STOPPED: {None: "SHUTOFF", RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE", RESIZE_FINISH: "RESIZE",
              REBUILDING: "REBUILD", REBUILD_SPAWNING: "REBUILD"},
    RESIZED: {None: "VERIFY_RESIZE", RESIZE_REVERTING: "REVERT_RESIZE"},
    PAUSED: {None: "PAUSED", MIGRATING: "MIGRATING"},
    SUSPENDED: {None: "SUSPENDED"},
    RESCUED: {None: "RESCUE"},
    ERROR: {None: "ERROR", REBUILDING: "REBUILD", REBUILD_SPAWNING: "REBUILD"},
    DELETED: {None: "DELETED"},
    SOFT_DELETED: {None: "SOFT_DELETED"},
    SHELVED: {None: "SHELVED"},
    SHELVED_OFFLOADED: {None: "SHELVED_OFFLOADED"},
}


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API's ``status`` for a vm_state and task_state pair, as Nova maps them."""
    by_task = _BY_TASK.get(vm_state)
    if by_task is None:
        return "UNKNOWN"
    return by_task.get(task_state, by_task[None])


def states_for_status(statuses: list[str]) -> tuple[frozenset[str], frozenset[str | None] | None]:
    """The vm_states and task_states the given API statuses stand for (Nova's inverse mapping).

    When a status is a vm_state's default (e.g. ACTIVE), any task_state matches: the second item is
    None. Unknown statuses match nothing, so both sets may come back empty.
    """
    wanted = {status.strip().upper() for status in statuses}
    vm_states: set[str] = set()
    task_states: set[str | None] = set()
    any_task = False
    for vm_state, by_task in _BY_TASK.items():
        for task_state, status in by_task.items():
            if status in wanted:
                vm_states.add(vm_state)
                task_states.add(task_state)
                any_task = any_task or task_state is None
    return frozenset(vm_states), None if any_task else frozenset(task_states)


STATUSES = frozenset(status for by_task in _BY_TASK.values() for status in by_task.values())
"""Every status an instance can show, as the API spells it."""
