"""What the scheduler knows about every host, held column-wise: one NumPy array per fact, one slot per host.

A decision over 10,000 hosts is then a handful of array operations (DESIGN.md rule 6) instead of a Python loop
calling a filter per host, as Nova's HostManager does. Host ``i`` is ``names[i]``; ``index`` maps back.

* per resource class ``r`` (rows of 2-D arrays, shape classes x hosts): ``capacity`` = floor((total - reserved)
  * allocation_ratio), ``used``, ``free`` = capacity - used, ``min_unit``, ``max_unit``, ``step_size``
  (``free`` is float64 so weighers feed BLAS without a conversion; integers are exact in it up to 2**53);
* ``trait_rows`` (traits x hosts, bool) and ``member`` (aggregates x hosts, bool);
* per host: ``cell``, ``zone`` (effective: an aggregate's availability zone wins over the reported one),
  ``rack``, ``hypervisor``, ``architecture`` as integer codes into :class:`Codes`; ``enabled``,
  ``forced_down``, ``eligible`` (enabled and not forced down), ``last_heartbeat``; ``instances``
  (consumers holding an allocation), ``io_ops`` (instances in a task), ``failed_builds`` (since the last
  success).

Usage changes (claims and releases) touch one slot per resource class and never rebuild anything; they also
refresh that host's slot in each cached "has room for this usage" mask (:meth:`room_for`), so a decision
reads room for 10,000 hosts without comparing 10,000 numbers per resource class. Structural
changes (a host registered or updated, traits, aggregates) bump :attr:`version`, which drops every mask
memoised with :meth:`memo` (masks that depend on structure only, e.g. "hosts in zone az1").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from twinstack.core.compute.model import Aggregate, ComputeHost

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Codes32 = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]
Usage = tuple[tuple[int, int], ...]
"""(resource class row, amount) pairs: a request or an allocation resolved against one HostState."""

MAX_UNIT = 2_147_483_647
"""Placement's max_unit when an inventory names none."""

T = TypeVar("T")

_ROOM_MASKS = 64
"""How many distinct usages keep a cached room mask (about one per flavor in use); the oldest goes first."""


class Codes:
    """Small integer codes for the distinct values of a text column (zones, cells, traits...), in first-seen order."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        """The code of ``name``, given a new one if it was never seen."""
        found = self._codes.get(name)
        if found is None:
            found = self._codes[name] = len(self.names)
            self.names.append(name)
        return found

    def get(self, name: str) -> int | None:
        return self._codes.get(name)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class HostView:
    """One host read out of the columns, as a per-host plug-in filter sees it (the slow path)."""

    host: str
    cell: str
    availability_zone: str
    rack: str | None
    hypervisor_type: str
    traits: frozenset[str]
    capacity: Mapping[str, int]
    used: Mapping[str, int]
    free: Mapping[str, int]
    aggregates: tuple[Aggregate, ...]
    enabled: bool
    forced_down: bool
    last_heartbeat: float
    instances: int
    io_ops: int
    failed_builds: int


_HOST_COLUMNS: dict[str, tuple[type[Any], Any]] = {
    "cell": (np.int32, 0), "zone": (np.int32, 0), "reported_zone": (np.int32, 0), "rack": (np.int32, -1),
    "hypervisor": (np.int32, 0), "architecture": (np.int32, -1),
    "enabled": (np.bool_, True), "forced_down": (np.bool_, False), "eligible": (np.bool_, True),
    "last_heartbeat": (np.float64, -math.inf),
    "instances": (np.int64, 0), "io_ops": (np.int64, 0), "failed_builds": (np.int64, 0),
}
_RC_COLUMNS: dict[str, tuple[type[Any], int]] = {
    "capacity": (np.int64, 0), "used": (np.int64, 0), "free": (np.float64, 0), "min_unit": (np.int64, 1),
    "max_unit": (np.int64, MAX_UNIT), "step_size": (np.int64, 1)}


class HostState:
    """The column-wise state of every known host. Not thread-safe: one writer (the runtime's loop) at a time."""

    # per host
    cell: Codes32
    zone: Codes32
    reported_zone: Codes32
    rack: Codes32
    hypervisor: Codes32
    architecture: Codes32
    enabled: Mask
    forced_down: Mask
    eligible: Mask
    last_heartbeat: Floats
    instances: Ints
    io_ops: Ints
    failed_builds: Ints
    # per resource class x host
    capacity: Ints
    used: Ints
    free: Floats
    min_unit: Ints
    max_unit: Ints
    step_size: Ints
    # per trait / aggregate x host
    trait_rows: Mask
    member: Mask

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.resource_classes = Codes()
        self.traits = Codes()
        self.cells = Codes()
        self.zones = Codes()
        self.racks = Codes()
        self.hypervisor_types = Codes()
        self.architectures = Codes()
        self.aggregates: list[Aggregate] = []
        self.closed_cells: frozenset[str] = frozenset()
        self.version = 0
        self.total_io_ops = 0
        self.total_failed_builds = 0
        self._memo: dict[Hashable, Any] = {}
        self._room: dict[Usage, Mask] = {}
        self._units_trivial: list[bool] = []
        self._every_unit_trivial = False
        self._units_version = -1
        self._host_room = 0
        self._host_buf: dict[str, npt.NDArray[Any]] = {}
        self._rc_buf: dict[str, npt.NDArray[Any]] = {}
        self._trait_buf: Mask = np.zeros((0, 0), dtype=np.bool_)
        self._member_buf: Mask = np.zeros((0, 0), dtype=np.bool_)
        self._allocate(64, 4, 16, 4)

    # sizes and buffers ---------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return len(self.names)

    def _allocate(self, hosts: int, classes: int, traits: int, aggregates: int) -> None:
        """(Re)allocate every buffer at least this large, keeping what they hold."""
        old_hosts = self._host_room
        self._host_room = hosts
        for name, (dtype, fill) in _HOST_COLUMNS.items():
            buf = np.full(hosts, fill, dtype=dtype)
            if old_hosts:
                buf[:old_hosts] = self._host_buf[name]
            self._host_buf[name] = buf
        for name, (dtype, fill) in _RC_COLUMNS.items():
            self._rc_buf[name] = _grown(self._rc_buf.get(name), (classes, hosts), fill, dtype)
        self._trait_buf = _grown(self._trait_buf, (traits, hosts), False, np.bool_)
        self._member_buf = _grown(self._member_buf, (aggregates, hosts), False, np.bool_)
        self._reslice()

    def _ensure(self, hosts: int = 0, classes: int = 0, traits: int = 0, aggregates: int = 0) -> None:
        rooms = (self._host_room, self._rc_buf["capacity"].shape[0], self._trait_buf.shape[0],
                 self._member_buf.shape[0])
        wanted = (hosts, classes, traits, aggregates)
        if any(w > r for w, r in zip(wanted, rooms, strict=True)):
            self._allocate(*(max(r, 2 * w if w > r else r) for w, r in zip(wanted, rooms, strict=True)))

    def _reslice(self) -> None:
        """Point the public column attributes at the live part of the buffers (views, no copies)."""
        n, h = self.n, self._host_buf
        self.cell, self.zone, self.reported_zone = h["cell"][:n], h["zone"][:n], h["reported_zone"][:n]
        self.rack, self.hypervisor, self.architecture = h["rack"][:n], h["hypervisor"][:n], h["architecture"][:n]
        self.enabled, self.forced_down, self.eligible = h["enabled"][:n], h["forced_down"][:n], h["eligible"][:n]
        self.last_heartbeat = h["last_heartbeat"][:n]
        self.instances, self.io_ops, self.failed_builds = h["instances"][:n], h["io_ops"][:n], h["failed_builds"][:n]
        r, b = len(self.resource_classes), self._rc_buf
        self.capacity, self.used, self.free = b["capacity"][:r, :n], b["used"][:r, :n], b["free"][:r, :n]
        self.min_unit, self.max_unit = b["min_unit"][:r, :n], b["max_unit"][:r, :n]
        self.step_size = b["step_size"][:r, :n]
        self.trait_rows = self._trait_buf[:len(self.traits), :n]
        self.member = self._member_buf[:len(self.aggregates), :n]
        self._room.clear()  # the masks are shaped for the old number of hosts

    def _changed(self) -> None:
        self.version += 1
        self._memo.clear()

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per structural version: for masks that depend on no usage. Arrays come back
        read-only, so a caller cannot spoil the shared copy."""
        try:
            return self._memo[key]  # type: ignore[no-any-return]
        except KeyError:
            value = compute()
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            self._memo[key] = value
            return value

    def resource_row(self, resource_class: str) -> int:
        """The row of ``resource_class``, made (with zero capacity on every host) if it is new."""
        row = self.resource_classes.get(resource_class)
        if row is None:
            row = self.resource_classes.code(resource_class)
            self._ensure(classes=row + 1)
            self._reslice()
        return row

    def trait_row(self, trait: str) -> int:
        row = self.traits.get(trait)
        if row is None:
            row = self.traits.code(trait)
            self._ensure(traits=row + 1)
            self._reslice()
        return row

    # hosts -----------------------------------------------------------------------------------------

    def upsert_host(self, host: ComputeHost) -> int:
        """Register ``host`` (or refresh what it reports: place, inventory, traits, service flags); usage is kept.

        Returns the host's index. An inventory that shrinks below its usage leaves the host over-full (free
        negative), so it takes nothing more until enough is released, as Placement does.
        """
        i = self.index.get(host.host)
        if i is None:
            i = self.n
            self._ensure(hosts=i + 1)
            self.names.append(host.host)
            self.index[host.host] = i
            self._reslice()
        self.cell[i] = self.cells.code(host.cell)
        self.reported_zone[i] = self.zones.code(host.availability_zone)
        self.rack[i] = -1 if host.rack is None else self.racks.code(host.rack)
        self.hypervisor[i] = self.hypervisor_types.code(host.hypervisor_type.lower())
        arches = [t[len("HW_ARCH_"):].lower() for t in host.traits if t.startswith("HW_ARCH_")]
        self.architecture[i] = self.architectures.code(arches[0]) if arches else -1
        self._set_service(i, host)
        rows = [self.trait_row(t) for t in host.traits]
        self.trait_rows[:, i] = False
        self.trait_rows[rows, i] = True
        self._set_inventory(i, host.inventory)
        for a, aggregate in enumerate(self.aggregates):
            self.member[a, i] = host.host in aggregate.hosts
        self.zone[i] = self._effective_zone(i)
        self._changed()
        return i

    def _set_service(self, i: int, host: ComputeHost) -> None:
        self.enabled[i] = not host.disabled
        self.forced_down[i] = host.forced_down
        self.eligible[i] = not host.disabled and not host.forced_down
        self.last_heartbeat[i] = host.last_heartbeat

    def _set_inventory(self, i: int, inventory: Mapping[str, Mapping[str, Any]]) -> None:
        rows = {self.resource_row(rc): record for rc, record in inventory.items()}
        for r in range(len(self.resource_classes)):
            record = rows.get(r)
            if record is None:
                cap, low, high, step = 0, 1, MAX_UNIT, 1
            else:
                cap = math.floor((record["total"] - record.get("reserved", 0)) * record.get("allocation_ratio", 1.0))
                low, step = record.get("min_unit", 1), record.get("step_size", 1)
                high = record.get("max_unit") or MAX_UNIT
            self.capacity[r, i], self.min_unit[r, i], self.max_unit[r, i], self.step_size[r, i] = cap, low, high, step
            self.free[r, i] = cap - self.used[r, i]
        self._refresh_room(i)

    def sync_hosts(self, hosts: Sequence[ComputeHost],
                   register: Callable[[Sequence[ComputeHost]], None] | None = None) -> None:
        """Catch up with the host store: register hosts never seen (through ``register`` when given: a placement
        over these columns takes them in), refresh every host's service flags and heartbeat (a few vector
        assignments; registered attributes of known hosts are left as they are). About 3 ms for 10,000 hosts: the
        Python objects are read once each."""
        count, index = len(hosts), self.index
        try:
            at = np.fromiter((index[h.host] for h in hosts), dtype=np.int64, count=count)
        except KeyError:
            unknown = [host for host in hosts if host.host not in index]
            if register is not None:
                register(unknown)
            for host in unknown:
                if host.host not in index:  # left out by ``register`` (no provider yet): columns all the same
                    self.upsert_host(host)
            at = np.fromiter((index[h.host] for h in hosts), dtype=np.int64, count=count)
        disabled = np.fromiter((h.disabled for h in hosts), dtype=np.bool_, count=count)
        forced = np.fromiter((h.forced_down for h in hosts), dtype=np.bool_, count=count)
        self.enabled[at] = ~disabled
        self.forced_down[at] = forced
        self.eligible[at] = ~(disabled | forced)
        self.last_heartbeat[at] = np.fromiter((h.last_heartbeat for h in hosts), dtype=np.float64, count=count)

    def heartbeat(self, hosts: Iterable[str], at: float) -> None:
        rows = [i for i in map(self.index.get, hosts) if i is not None]
        self.last_heartbeat[rows] = at

    def set_service(self, host: str, disabled: bool | None = None, forced_down: bool | None = None) -> None:
        i = self.index[host]
        if disabled is not None:
            self.enabled[i] = not disabled
        if forced_down is not None:
            self.forced_down[i] = forced_down
        self.eligible[i] = self.enabled[i] and not self.forced_down[i]

    # cells -----------------------------------------------------------------------------------------

    def set_closed_cells(self, names: Iterable[str]) -> None:
        """The cells that take no new builds (an operator disabled them)."""
        closed = frozenset(names)
        if closed != self.closed_cells:
            self.closed_cells = closed
            self._changed()

    def open_cells_mask(self) -> Mask | None:
        """The hosts in cells open to builds, or None when no known cell is closed."""
        if not self.closed_cells:
            return None
        codes = [c for c in map(self.cells.get, self.closed_cells) if c is not None]
        if not codes:
            return None
        return self.memo("open_cells", lambda: ~np.isin(self.cell, codes))

    # aggregates ------------------------------------------------------------------------------------

    def set_aggregates(self, aggregates: Iterable[Aggregate]) -> None:
        """Replace the known aggregates (membership, metadata, availability zones); ordered by id."""
        self.aggregates = sorted(aggregates, key=lambda a: a.id)
        self._ensure(aggregates=len(self.aggregates))
        self._reslice()
        self.member[:] = False
        for a, aggregate in enumerate(self.aggregates):
            rows = [i for i in map(self.index.get, aggregate.hosts) if i is not None]
            self.member[a, rows] = True
        self.zone[:] = self.reported_zone
        for a in reversed(range(len(self.aggregates))):  # the lowest id wins where zones would overlap
            zone = self.aggregates[a].availability_zone
            if zone:
                self.zone[self.member[a]] = self.zones.code(zone)
        self._changed()

    def _effective_zone(self, i: int) -> int:
        for a, aggregate in enumerate(self.aggregates):
            if aggregate.availability_zone and self.member[a, i]:
                return self.zones.code(aggregate.availability_zone)
        return int(self.reported_zone[i])

    # usage ---------------------------------------------------------------------------------------

    def usage_rows(self, resources: Mapping[str, int]) -> Usage | None:
        """``resources`` as (row, amount) pairs, zero amounts dropped; None if it names a class no host has
        (or a negative amount): nothing can hold it."""
        rows = []
        for rc, amount in resources.items():
            if amount < 0:
                return None
            if amount:
                row = self.resource_classes.get(rc)
                if row is None:
                    return None
                rows.append((row, amount))
        return tuple(rows)

    def fits_at(self, i: int, usage: Usage) -> bool:
        """Whether host ``i`` can take ``usage`` in one claim: room left and each amount within min_unit,
        max_unit and a multiple of step_size."""
        free = self.free
        for r, amount in usage:
            if amount > free[r, i]:
                return False
        if self._units_version == self.version and self._every_unit_trivial:
            return True  # the common case, judged once per change of the hosts, not per class and claim
        for r, amount in usage:
            if not self.units_trivial(r) and (amount < self.min_unit[r, i] or amount > self.max_unit[r, i]
                                              or amount % self.step_size[r, i]):
                return False
        return True

    def add_usage(self, i: int, usage: Usage, sign: int = 1) -> None:
        """Add ``usage`` and one instance to host ``i`` (``sign`` -1: take them away again)."""
        used, free = self.used, self.free
        for r, amount in usage:
            used[r, i] += sign * amount
            free[r, i] -= sign * amount
        self.instances[i] += sign
        if self._room:
            self._refresh_room(i)

    def room_for(self, usage: Usage) -> Mask:
        """Hosts with at least each amount of ``usage`` free (units aside: see :meth:`unit_mask`). Read-only to
        the caller: the mask is kept and updated in place as usage changes, one slot per claim or release, so
        the next decision for the same flavor compares nothing."""
        mask = self._room.get(usage)
        if mask is None:
            free = self.free
            mask = np.ones(self.n, dtype=np.bool_)
            for r, amount in usage:
                mask &= free[r] >= amount
            if len(self._room) >= _ROOM_MASKS:
                del self._room[next(iter(self._room))]
            self._room[usage] = mask
        return mask

    def _refresh_room(self, i: int) -> None:
        """Host ``i``'s free amounts changed: re-judge its slot in every cached room mask."""
        column = self.free[:, i].tolist()
        for usage, mask in self._room.items():
            room = True
            for r, amount in usage:
                if column[r] < amount:
                    room = False
                    break
            mask[i] = room

    def units_trivial(self, r: int) -> bool:
        """Whether every host accepts any amount of row ``r`` in one piece (min_unit 1, step_size 1, max_unit at
        least the capacity): then only room matters, the common case."""
        if self._units_version != self.version:
            self._units_trivial = [
                bool((self.min_unit[row] <= 1).all() and (self.step_size[row] == 1).all()
                     and (self.max_unit[row] >= self.capacity[row]).all())
                for row in range(len(self.resource_classes))]
            self._every_unit_trivial = all(self._units_trivial)
            self._units_version = self.version
        return self._units_trivial[r]

    def unit_mask(self, r: int, amount: int) -> Mask | None:
        """Hosts whose inventory of row ``r`` accepts ``amount`` in one piece; None when all do."""
        if (self._units_version == self.version and self._units_trivial[r]) or self.units_trivial(r):
            return None  # (the judgement still current: read without a call, as every decision asks per class)

        def compute() -> Mask:
            accepted: Mask = (self.min_unit[r] <= amount) & (self.max_unit[r] >= amount)
            accepted &= amount % self.step_size[r] == 0
            return accepted
        return self.memo(("units", r, amount), compute)

    # task and build bookkeeping (Nova's num_io_ops and failed_builds) ---------------------------

    def task_started(self, host: str) -> None:
        i = self.index.get(host)
        if i is not None:
            self.io_ops[i] += 1
            self.total_io_ops += 1

    def task_finished(self, host: str) -> None:
        i = self.index.get(host)
        if i is not None and self.io_ops[i] > 0:
            self.io_ops[i] -= 1
            self.total_io_ops -= 1

    def build_finished(self, host: str, ok: bool) -> None:
        """A build on ``host`` succeeded (its failure count starts again from zero) or failed (one more)."""
        i = self.index.get(host)
        if i is None:
            return
        before = int(self.failed_builds[i])
        after = 0 if ok else before + 1
        self.failed_builds[i] = after
        self.total_failed_builds += after - before

    # reading -------------------------------------------------------------------------------------

    def mask_of(self, hosts: Iterable[str]) -> Mask:
        """The known hosts among ``hosts``, as a mask."""
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[[i for i in map(self.index.get, hosts) if i is not None]] = True
        return mask

    def usage_of(self, host: str) -> dict[str, int]:
        i = self.index[host]
        return {rc: int(self.used[r, i]) for r, rc in enumerate(self.resource_classes.names)
                if self.capacity[r, i] or self.used[r, i]}

    def view(self, i: int) -> HostView:
        classes = self.resource_classes.names
        held = [r for r in range(len(classes)) if self.capacity[r, i] or self.used[r, i]]
        return HostView(
            host=self.names[i], cell=self.cells.names[self.cell[i]], availability_zone=self.zones.names[self.zone[i]],
            rack=None if self.rack[i] < 0 else self.racks.names[self.rack[i]],
            hypervisor_type=self.hypervisor_types.names[self.hypervisor[i]],
            traits=frozenset(self.traits.names[t] for t in np.flatnonzero(self.trait_rows[:, i])),
            capacity={classes[r]: int(self.capacity[r, i]) for r in held},
            used={classes[r]: int(self.used[r, i]) for r in held},
            free={classes[r]: int(self.free[r, i]) for r in held},
            aggregates=tuple(a for n, a in enumerate(self.aggregates) if self.member[n, i]),
            enabled=bool(self.enabled[i]), forced_down=bool(self.forced_down[i]),
            last_heartbeat=float(self.last_heartbeat[i]), instances=int(self.instances[i]),
            io_ops=int(self.io_ops[i]), failed_builds=int(self.failed_builds[i]),
        )


def _grown(old: npt.NDArray[Any] | None, shape: tuple[int, int], fill: Any, dtype: type[Any]) -> npt.NDArray[Any]:
    new = np.full(shape, fill, dtype=dtype)
    if old is not None and old.size:
        rows, cols = old.shape
        new[:rows, :cols] = old
    return new
