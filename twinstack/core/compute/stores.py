"""The seams between compute logic and where its state lives (SQL for a cloud, memory for a simulation).

The conductor and scheduler are written once against these protocols. The memory versions
(twinstack.core.compute.memory) double as their executable specification.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from twinstack.core.compute import states
from twinstack.core.compute.model import (
    ActionEvent,
    Aggregate,
    ComputeHost,
    Instance,
    InstanceAction,
    Migration,
    ServerGroup,
)
from twinstack.core.errors import BadRequest, CloudError
from twinstack.rpc.compute import FlavorSpec, ImageSpec

SORT_KEYS = frozenset({
    "created_at", "updated_at", "launched_at", "terminated_at", "name", "uuid", "vm_state", "task_state",
    "power_state", "project_id", "user_id", "availability_zone", "host", "node", "key_name", "launch_index",
    "locked_by", "reservation_id",
})
"""Instance attributes a listing may be sorted by."""


@dataclass(frozen=True)
class InstanceQuery:
    """Which instances a listing wants, in which order, from where: Nova's server list filters.

    Every filter given must hold (None means "any"). ``deleted`` None lists live instances only,
    or live and deleted ones when ``changes_since`` is given (as Nova does); True lists deleted only.
    """

    project_id: str | None = None
    user_id: str | None = None
    name_pattern: str | None = None
    """A regular expression searched (case-insensitively) in the name."""
    vm_states: frozenset[str] | None = None
    task_states: frozenset[str | None] | None = None
    power_states: frozenset[int] | None = None
    host: str | None = None
    node: str | None = None
    availability_zone: str | None = None
    image_id: str | None = None
    flavor_id: str | None = None
    reservation_id: str | None = None
    key_name: str | None = None
    locked: bool | None = None
    changes_since: float | None = None
    changes_before: float | None = None
    deleted: bool | None = None
    tags: frozenset[str] = frozenset()
    """Instances carrying every one of these tags."""
    tags_any: frozenset[str] = frozenset()
    not_tags: frozenset[str] = frozenset()
    """Instances not carrying all of these tags together."""
    not_tags_any: frozenset[str] = frozenset()
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    """(key, "asc"|"desc") pairs from SORT_KEYS; uuid breaks ties in the last direction."""
    marker: str | None = None
    limit: int | None = None


def sort_keys(sort: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The listing's order with uuid as the last tie-breaker (in the last key's direction), as the stores sort."""
    keys = list(sort)
    if not any(key == "uuid" for key, _ in keys):
        keys.append(("uuid", keys[0][1] if keys else "desc"))
    return keys


def _compare(a: Any, b: Any) -> int:
    """NULL lowest, as the SQL stores order (NULLS FIRST ascending, NULLS LAST descending)."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return int(a > b) - int(a < b)


def order_instances(instances: Iterable[Instance], sort: tuple[tuple[str, str], ...]) -> list[Instance]:
    """Instances from several databases merged in one listing's order (each database sorted its own)."""
    keys = sort_keys(sort)

    def compare(a: Instance, b: Instance) -> int:
        for key, direction in keys:
            found = _compare(getattr(a, key), getattr(b, key))
            if found:
                return -found if direction == "desc" else found
        return 0

    return sorted(instances, key=functools.cmp_to_key(compare))


class MarkerNotFound(BadRequest):
    def __init__(self, marker: str) -> None:
        super().__init__(f"marker [{marker}] not found")


def tags_match(tags: list[str], query: InstanceQuery) -> bool:
    """Nova's four tag filters over one instance's tags."""
    have = set(tags)
    if query.tags and not query.tags <= have:
        return False
    if query.tags_any and not query.tags_any & have:
        return False
    if query.not_tags and query.not_tags <= have:
        return False
    return not (query.not_tags_any and query.not_tags_any & have)


@dataclass(frozen=True)
class HostLoad:
    """A host's live instances and how many of them are busy (building, or with a task under way): what
    os-hypervisors shows as running_vms and current_workload."""

    instances: int
    busy: int


@dataclass(frozen=True)
class HostService:
    """What a server's view shows of its host (Nova's host_status): the service's flags and its last heartbeat."""

    disabled: bool
    forced_down: bool
    last_heartbeat: float


@dataclass(frozen=True)
class HostLocation:
    """Where a host is, as a server placed on it records it: its node (hypervisor hostname), cell and the zone its
    agent reported (an aggregate's zone may override it)."""

    hypervisor_hostname: str
    cell: str
    availability_zone: str

    @staticmethod
    def of(host: ComputeHost) -> HostLocation:
        return HostLocation(host.hypervisor_hostname, host.cell, host.availability_zone)


def keeps_history(store: object) -> bool:
    """Whether ``store`` records instance actions and events. A store may say it does not with ``keep_history =
    False`` (the offline simulator's, which drops them: nobody reads them there); a caller then need not build
    them. Why: building an action or an event per step of every lifecycle, to be dropped, was a percent or two of
    an offline run. Any other store keeps them."""
    return getattr(store, "keep_history", True) is not False


class InstanceStore(Protocol):
    def get(self, uuid: str) -> Instance | None: ...

    def load_by_host(self) -> dict[str, HostLoad]:
        """Per host with live instances, its HostLoad, counted by the store (a hypervisor list over a big
        cloud must not load every instance)."""
        ...

    def save(self, instance: Instance) -> None:
        """Insert the whole instance, or update the state the conductor owns.

        On update the user-owned fields (name, metadata, locked_by, attributes) are left as stored
        and copied back into ``instance``: only :meth:`update_user_fields` changes them.

        A store several conductors share raises :class:`InstanceDeleted`, writing nothing, when the stored
        instance is deleted and ``instance`` is not: a conductor that read it before another deleted it must not
        bring it back (in one process, where the instance objects are the store's own, that cannot happen).
        """
        ...

    def update_user_fields(self, instance: Instance) -> None:
        """Write the user-owned fields (name, metadata, locked_by, attributes) of a stored instance."""
        ...

    def find(self, query: InstanceQuery) -> list[Instance]:
        """The instances matching ``query``, sorted, after ``marker`` (MarkerNotFound if unknown), at most
        ``limit`` of them."""
        ...

    def add_action(self, action: InstanceAction) -> None: ...

    def actions(self, instance_uuid: str) -> list[InstanceAction]:
        """The instance's actions, oldest first, each with its events."""
        ...

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None: ...

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None: ...

    def record_and_save(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        """The action's events changed as ``record`` says, then :meth:`save`: one transaction where the instance and
        its action share a database (all or nothing: InstanceDeleted leaves the events as they were), else one after
        the other, in that order. How a build records its step with the instance's new state, in one write."""
        ...

    def save_and_record(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        """:meth:`save`, then the action's events changed as ``record`` says: one transaction where they share a
        database, else in that order."""
        ...

    def get_and_start_event(self, uuid: str, request_id: str, event: ActionEvent,
                            when: Callable[[Instance], bool]) -> Instance | None:
        """:meth:`get`, and, if ``when`` holds for the instance read, :meth:`start_event` of ``event``: one transaction
        where the instance and its action share a database, else one after the other. How a build reads the
        instance it schedules and records that its scheduling starts, in one round trip."""
        ...

    def update_expecting(self, uuid: str, expected: Expected, changes: Mapping[str, Any],
                         request_id: str | None = None, record: EventRecord | None = None) -> bool:
        """Nova's ``instance.save(expected_task_state=...)``: write ``changes`` (fields the conductor owns, by
        attribute name; only those) and, with ``request_id``, ``record``'s events, only if the stored instance is
        still as ``expected``; the check and the write are one step against every other writer (a delete the API
        records meanwhile, another conductor). One transaction where the instance and its action share a database.

        False: nothing written. The instance is not as expected (deleted, its task changed, gone), or the store
        cannot check and write in one step (instances across several cell databases): the caller reads the
        instance and decides from what it finds, as it would without this call."""
        ...


@dataclass(frozen=True)
class Expected:
    """What a conditional write (InstanceStore.update_expecting) expects of the stored instance: not deleted, in
    ``vm_state`` and ``task_state``, on ``host`` (None: on no host)."""

    vm_state: str
    task_state: str | None
    host: str | None

    def matches(self, instance: Instance) -> bool:
        return (instance.vm_state == self.vm_state and instance.task_state == self.task_state
                and instance.host == self.host and instance.vm_state != states.DELETED)


@dataclass(frozen=True)
class EventRecord:
    """What a write changes in an action's events besides the instance (InstanceStore.record_and_save): the latest
    unfinished ``finished`` event (if named) ends with ``result`` at ``finish_time``, then ``started`` (if given)
    starts, as finish_event and start_event would."""

    finished: str | None = None
    finish_time: float = 0.0
    result: str = "Success"
    traceback: str | None = None
    started: ActionEvent | None = None


class RecordsEvents(Protocol):
    def get(self, uuid: str) -> Instance | None: ...

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None: ...

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None: ...


def record_events(store: RecordsEvents, instance_uuid: str, request_id: str, record: EventRecord) -> None:
    """``record``'s events through the store's own calls, the finished one first: for a store that writes them
    apart from the instance (in memory, or across cell databases)."""
    if record.finished is not None:
        store.finish_event(instance_uuid, request_id, record.finished, record.finish_time, record.result,
                           record.traceback)
    if record.started is not None:
        store.start_event(instance_uuid, request_id, record.started)


def read_then_start_event(store: RecordsEvents, uuid: str, request_id: str, event: ActionEvent,
                          when: Callable[[Instance], bool]) -> Instance | None:
    """InstanceStore.get_and_start_event one step after the other: for a store that writes events apart from the
    instance (in memory, or across cell databases)."""
    instance = store.get(uuid)
    if instance is not None and when(instance):
        store.start_event(uuid, request_id, event)
    return instance


class HostStore(Protocol):
    def upsert(self, host: ComputeHost) -> None: ...

    def upsert_all(self, hosts: Sequence[ComputeHost]) -> None:
        """Upsert many hosts at once (an agent registers thousands: one transaction, not one each)."""
        ...

    def get(self, host: str) -> ComputeHost | None: ...

    def get_many(self, hosts: Iterable[str]) -> dict[str, ComputeHost]:
        """The named hosts that exist, by name (a page of servers shows its hosts' states: one query)."""
        ...

    def services(self, hosts: Iterable[str]) -> dict[str, HostService]:
        """The named hosts' service states, by name (a page of servers shows each one's host_status: one query
        of three columns, not whole hosts with their inventories)."""
        ...

    def locations(self) -> dict[str, HostLocation]:
        """Every host's location, by name (a conductor keeps them to record where it places servers: three short
        columns a host, not whole hosts with their inventories)."""
        ...

    def heartbeat(self, hosts: Iterable[str], at: float) -> None: ...

    def all(self) -> list[ComputeHost]: ...

    def set_service(self, host: str, disabled: bool | None = None, disabled_reason: str | None = None,
                    forced_down: bool | None = None) -> ComputeHost | None:
        """An operator's change to the host's service: each flag given is set (enabling clears the reason).

        Returns the host as it now is, or None if unknown. Re-registration keeps these flags.
        """
        ...


class AggregateStore(Protocol):
    """Host aggregates: membership and metadata the scheduler reads (an availability_zone key makes a zone)."""

    def all(self) -> list[Aggregate]:
        """Every aggregate, by id."""
        ...

    def get(self, aggregate_id: int) -> Aggregate | None: ...

    def create(self, name: str, metadata: dict[str, str], now: float) -> Aggregate:
        """A new aggregate with no hosts; Conflict (Nova's AggregateNameExists) if the name is taken."""
        ...

    def save(self, aggregate: Aggregate) -> None:
        """Write name, hosts, metadata and updated_at; Conflict if the new name is another's."""
        ...

    def delete(self, aggregate_id: int) -> None: ...


class ServerGroupStore(Protocol):
    """Server groups. Members are not kept apart: they are the live instances whose server_group_id names
    the group, so a deleted server leaves its group with nothing to clean up."""

    def create(self, group: ServerGroup, limit: int) -> None:
        """Store the group if its project holds fewer than ``limit`` groups (-1: no limit), atomically
        against concurrent creations; else QuotaExceeded and nothing stored."""
        ...

    def get(self, uuid: str) -> ServerGroup | None:
        """The group with its live members (oldest first)."""
        ...

    def find(self, project_id: str | None = None) -> list[ServerGroup]:
        """The groups of one project (every project when None), oldest first, with their live members."""
        ...

    def delete(self, uuid: str) -> bool:
        """Forget the group (its members stay, in no group); False if it was unknown."""
        ...

    def member_hosts(self, uuid: str) -> list[str]:
        """The host of every live member placed on one (a host appears once per member on it)."""
        ...


class QuotaStore(Protocol):
    """Per-project quota limits, and usage counted from what exists (nothing is tracked, nothing drifts)."""

    def overrides(self, project_id: str) -> dict[str, int]:
        """The limits set for the project; the defaults hold for every resource not named."""
        ...

    def set_limits(self, project_id: str, limits: Mapping[str, int]) -> None: ...

    def reset_limits(self, project_id: str) -> None:
        """Back to the defaults for every resource."""
        ...

    def usage(self, project_id: str) -> dict[str, int]:
        """What the project uses now: instances, cores and ram of its live instances, its server groups."""
        ...


class Admission(Protocol):
    """Records new instances only within their project's quota and their server group's size."""

    def admit(self, instances: Sequence[Instance], min_count: int,
              actions: Sequence[InstanceAction] = ()) -> list[Instance]:
        """Store as many of ``instances`` (in order, all of one project and one request, at most one group)
        as the quotas allow, at least ``min_count``, and return them, with the create action of each one stored
        (``actions``: one per instance, in the same order; none for a store that keeps no history); else raise
        (QuotaExceeded, 403, or BadRequest for an unknown group) with nothing stored.

        Atomic: the count, the checks and the writes are one step per project, so two requests racing
        for the last slot cannot both pass.
        """
        ...

    def admit_resize(self, instance: Instance) -> None:
        """Store ``instance`` (its ``new_flavor`` and task state already set) only if its project's quota holds
        the growth from ``instance.flavor`` to ``instance.new_flavor``; else QuotaExceeded (403) with nothing
        written. Atomic with the project's other admissions, as :meth:`admit` is."""
        ...


@dataclass(frozen=True)
class MigrationQuery:
    """Which migration records a listing wants (every filter given must hold), newest first."""

    instance_uuid: str | None = None
    host: str | None = None
    """Source or destination compute."""
    source_compute: str | None = None
    statuses: frozenset[str] | None = None
    migration_type: str | None = None
    changes_since: float | None = None
    changes_before: float | None = None
    marker: str | None = None
    """The uuid of the last record of the previous page (MarkerNotFound if unknown)."""
    limit: int | None = None


class MigrationStore(Protocol):
    """Migration records: written by the conductor as a move goes, read by the API (os-migrations)."""

    def add(self, migration: Migration) -> None:
        """Store a new record and give it its ``id``."""
        ...

    def save(self, migration: Migration) -> None:
        """Write the record's status, hosts and updated_at."""
        ...

    def get(self, uuid: str) -> Migration | None: ...

    def find(self, query: MigrationQuery) -> list[Migration]:
        """The matching records, newest first (created_at, then id, descending)."""
        ...


class ImageSnapshots(Protocol):
    """The image service, as server snapshots (createImage) need it."""

    def create(self, name: str, instance_uuid: str, project_id: str, user_id: str, source: ImageSpec | None,
               metadata: Mapping[str, str], root_gb: int = 0) -> str:
        """A new ``queued`` image for a snapshot of the instance, owned by ``project_id``; its id. Its min_ram is
        the source image's, its min_disk the larger of the source's and the flavor's root disk ``root_gb`` (as Nova
        sets them, so the snapshot never boots on a flavor too small for the server it came from)."""
        ...

    def store(self, image_id: str, size: int) -> bool:
        """Give the image its data (``size`` bytes); True when it is ``active``. A failure leaves it ``killed``."""
        ...

    def uploaded(self, image_id: str) -> bool:
        """Whether the image is ``active``: what a host that uploaded the data itself left it as."""
        ...

    def kill(self, image_id: str) -> None:
        """The snapshot failed: the image is ``killed`` (unless it was deleted meanwhile)."""
        ...


class Placement(Protocol):
    """The claims the conductor makes and releases; the scheduler also reads capacity through it."""

    def register_host(self, host: ComputeHost) -> None:
        """Make (or update) the host's resource provider, inventory, traits and zone aggregate."""
        ...

    def register_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        """register_host for many hosts at once (one transaction where the store has them)."""
        ...

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        """Allocate atomically; False (and nothing changed) when the host has no room any more."""
        ...

    def release(self, consumer: str) -> None:
        """Drop every allocation of the consumer (releasing twice is harmless)."""
        ...

    def move(self, source: str, target: str) -> bool:
        """Hand every allocation of consumer ``source`` to consumer ``target``, atomically: no host's usage
        changes and no other claim can slip in between. False (nothing changed) if ``source`` holds nothing
        or ``target`` already holds something. How a move parks the source host's allocation on its
        migration record, and how a revert gives it back."""
        ...

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]: ...

    def usage(self, host: str) -> dict[str, int]:
        """What is allocated on ``host`` per resource class (empty for an unknown host)."""
        ...


@dataclass(slots=True)
class RequestSpec:
    """Everything the scheduler needs to place one instance. Read-only to whoever receives it (filters, weighers,
    a scheduler service): change a copy (``dataclasses.replace``).

    Why not ``frozen=True``: a frozen dataclass sets each of these fields through ``object.__setattr__``, which
    made building one (once per scheduling decision) about three times dearer, a couple of percent of an offline
    run; nothing hashes a spec (its dicts make it unhashable anyway)."""

    instance_uuid: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    availability_zone: str | None = None
    server_group_policy: str | None = None
    server_group_hosts: frozenset[str] = frozenset()
    server_group_rules: dict[str, int] = field(default_factory=dict)
    """The group's rules, e.g. {"max_server_per_host": 2} for anti-affinity (microversion 2.64)."""
    server_group_host_counts: dict[str, int] = field(default_factory=dict)
    """How many members already sit on each host (a host only in server_group_hosts counts one)."""
    hints: dict[str, Any] = field(default_factory=dict)
    ignore_hosts: frozenset[str] = frozenset()
    alternates: int = 2
    volume_backed: bool = False
    """The root disk is a volume: the host gives it no disk (placement is asked for no root DISK_GB)."""
    consumer: str | None = None
    """Who holds the claim the scheduler makes: the instance (None), or, when a scheduler service answers a
    conductor, the request's id, which the conductor hands to the instance when it takes the answer."""

    @property
    def resources(self) -> dict[str, int]:
        return resources_of(self.flavor, self.volume_backed)


def resources_of(flavor: FlavorSpec, volume_backed: bool = False) -> dict[str, int]:
    """The placement resources a flavor asks for, as Nova derives them: a server booted from a volume claims no
    DISK_GB for its root (its root is on the block storage back end), only for ephemeral and swap disks."""
    resources = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb}
    root_gb = 0 if volume_backed else flavor.disk_gb
    disk = root_gb + flavor.ephemeral_gb + (flavor.swap_mb + 1023) // 1024
    if disk:
        resources["DISK_GB"] = disk
    return {rc: amount for rc, amount in resources.items() if amount}


class InstanceDeleted(Exception):
    """A save would bring back an instance the store holds as deleted (another conductor deleted it meanwhile):
    nothing was written. A deleted instance is final."""


class NoValidHost(CloudError):
    status = 500
    title = "No valid host"

    def __init__(self, reason: str = "There are not enough hosts available.") -> None:
        super().__init__(f"No valid host was found. {reason}")


class Scheduler(Protocol):
    def select_destinations(self, spec: RequestSpec) -> list[str]:
        """Hosts for the instance: the first already claimed, the rest alternates for retries.

        Raises NoValidHost when no host passes the filters or every claim lost its race.
        """
        ...


@runtime_checkable
class RemembersActions(Protocol):
    """An instance store that remembers its actions' row ids (so that a build's events look none up): told of the
    actions another writer recorded in its database (an admission writes a create's with the instances)."""

    def recorded_actions(self, actions: Sequence[InstanceAction], ids: Sequence[int]) -> None: ...


@runtime_checkable
class CachesHosts(Protocol):
    """A scheduler that keeps its own view of the hosts (the FilterScheduler's HostState, re-read only every
    so often, since reading thousands of hosts per decision would dominate it): told when that view is stale."""

    def invalidate(self) -> None: ...


@runtime_checkable
class SchedulerFeedback(Protocol):
    """What a scheduler may want to hear from the conductor: tasks starting and ending on hosts (Nova's
    num_io_ops) and builds ending (its failed_builds). Optional: a scheduler without these hears nothing."""

    def task_started(self, host: str) -> None: ...

    def task_finished(self, host: str) -> None: ...

    def build_finished(self, host: str, ok: bool) -> None: ...
