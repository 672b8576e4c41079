"""The InstanceStore across cells: each instance kept in its cell's database, found through its mapping.

Where records live
    An instance is recorded in the main database when the API admits it (it has no cell yet: Nova's build
    request). While it sits in a cell without a database of its own (the default cell, every cell of a cloud where
    ``twinstack cell create`` never ran) it stays there and needs no mapping: no mapping means the main database.
    When the conductor saves it placed on a host of a cell with its own database, the record moves into that
    database and an instance mapping in the main database says so (Nova's conductor creating the instance in the
    cell, writing the instance mapping and deleting the build request). A reschedule into another cell moves it
    again the same way.

A move, and why a crash anywhere in it is found and repaired
    1. In the main database, the mapping is set to the target cell with ``moving`` and the source (one commit).
       From now on readers look in the target first, then in the source (then in the target again: see
       ``_homes_of``).
    2. In one transaction of the source database, the record is deleted (``DELETE ... RETURNING``, so the row's
       lock is taken with the read: a user's rename racing the move waits for it, then finds the row gone and
       follows the mapping), the record is inserted into the target (its own commit; skipped if the target
       already holds it, i.e. this is a repeat), then the source commits.
    3. In the main database, ``moving`` is cleared.

    A crash after 1: the mapping says "moving"; the record is in the source only (readers find it there) or,
    after the target's commit in 2, in both (readers take the target's; listings keep one copy, the target's).
    A crash after 2: the record is in the target only and the mapping still says "moving", harmlessly. In every
    case the ``moving`` flag in the main database marks the move as unfinished, so it is found by one indexed
    query, and finishing it is step 2 (idempotent: the target's copy is never overwritten by the source's) and
    step 3. The conductor finishes every unfinished move when it starts, and any save of such an instance finishes
    its move first. Nothing is ever in neither database: the source's copy goes only in a transaction that commits
    after the target's copy is committed.

Reading across cells
    One instance: by its mapping. A listing: every database at once (main inline, each cell on a thread with a
    deadline, see CellDatabases.gather), each sorted, filtered and cut to the page in SQL, then merged in the
    listing's order; a marker is located through its mapping and its sort values applied in every database. A cell
    whose database fails or does not answer in time is left out and named in the answer (find_across), so the API
    can show its servers from their mappings (microversion 2.69's partial records). Actions are read from every
    database that holds some (the create action stays where the API recorded it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from twinstack.core.compute import states
from twinstack.core.compute.cell_mappings import CellListing, InstanceMapping
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.model import ActionEvent, Instance, InstanceAction
from twinstack.core.compute.stores import (
    EventRecord,
    Expected,
    HostLoad,
    InstanceDeleted,
    InstanceQuery,
    MarkerNotFound,
    order_instances,
    read_then_start_event,
    record_events,
)
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.stores.compute import SqlInstanceStore
from twinstack.db.stores.instance_mappings import SqlInstanceMappings

LOG = logging.getLogger(__name__)
T = TypeVar("T")
ACTION_HOMES_KEPT = 20_000

_MOVES_FOLLOWED = 3
"""How many times a read follows a mapping that changed under it (each time, a move ran between two reads)."""


class CellInstanceStore:
    def __init__(self, main: SqlInstanceStore, databases: CellDatabases, mappings: SqlInstanceMappings) -> None:
        self.main = main
        self.databases = databases
        self.mappings = mappings
        self._stores: dict[str, SqlInstanceStore] = {}
        self._lock = threading.Lock()
        self._action_homes: dict[tuple[str, str], str | None] = {}

    @property
    def sessions(self) -> Any:
        """The main database's sessions (what the API records beside instances goes there)."""
        return self.main.sessions

    def _spans(self) -> bool:
        return bool(self.databases.names())

    def store(self, cell: str | None) -> SqlInstanceStore:
        """The store of ``cell``'s own database (None: the main one)."""
        if cell is None:
            return self.main
        with self._lock:
            found = self._stores.get(cell)
        if found is None:
            sessions = self.databases.sessions(cell)
            with self._lock:
                found = self._stores.setdefault(cell, SqlInstanceStore(sessions))
        return found

    def _read(self, cell: str | None, call: Callable[[SqlInstanceStore], T]) -> T:
        """``call`` on the cell's store within the cell deadline (CellUnavailable if it fails or is late)."""
        if cell is None:
            return call(self.main)
        store = self.store(cell)
        return self.databases.call(cell, lambda _sessions: call(store))

    def _write(self, cell: str | None, call: Callable[[SqlInstanceStore], T]) -> T:
        """``call`` on the cell's store, waited for (a write is not abandoned half-way); a database error of a
        cell's own database is CellUnavailable."""
        if cell is None:
            return call(self.main)
        try:
            return call(self.store(cell))
        except DBAPIError as exc:
            raise CellUnavailable(cell) from exc

    # one instance

    def mapping(self, instance_uuid: str) -> InstanceMapping | None:
        return self.mappings.get(instance_uuid) if self._spans() else None

    def get(self, uuid: str) -> Instance | None:
        """The instance where its mapping says, or (a move under way) where it comes from. CellUnavailable when a
        database that may hold it does not answer and no other has it.

        The mapping and the record are read one after the other, not together: a move can run in between (the
        mapping read before it began, the record looked for after it left the main database). So a record found
        nowhere is looked for again while its mapping has changed since it was read."""
        if not self._spans():
            return self.main.get(uuid)
        mapping = self.mappings.get(uuid)
        for _ in range(_MOVES_FOLLOWED):
            found = self._get_where(uuid, mapping)
            if found is not None:
                return found
            again = self.mappings.get(uuid)
            if _where(again) == _where(mapping):
                return None
            mapping = again
        return None

    def _get_where(self, uuid: str, mapping: InstanceMapping | None) -> Instance | None:
        if mapping is None:
            return self.main.get(uuid)
        unreachable: CellUnavailable | None = None
        for cell in _homes_of(mapping):
            try:
                found = self._read(cell, lambda s: s.get(uuid))
            except CellUnavailable as exc:
                unreachable = exc
                continue
            if found is not None:
                return found
        if unreachable is not None:
            raise unreachable
        return None

    def save(self, instance: Instance, _again: bool = True) -> None:
        """Save where the instance is kept, moving it first if its cell's database is another (see the module)."""
        if not self._spans():
            self.main.save(instance)
            return
        mapping = self.mappings.get(instance.uuid)
        if mapping is not None and mapping.moving:
            self._finish_move(mapping)
        current = mapping.cell if mapping is not None else None
        target = self.databases.home(instance.cell)
        if target != current:
            self._move(instance, current, target)
            return
        if self._write(current, lambda s: s.save_existing(instance)):
            if mapping is not None and instance.vm_state == states.DELETED and not mapping.deleted:
                self.mappings.mark_deleted(instance.uuid)
            return
        now = self.mappings.get(instance.uuid)
        if now is None or (now.cell == current and not now.moving) or not _again:
            self._write(current, lambda s: s.save(instance))  # a new record (or one lost: recorded again)
            return
        self.save(instance, _again=False)  # moved meanwhile by another process: follow it

    def _move(self, instance: Instance, source: str | None, target: str | None) -> None:
        """Steps 1-3 (see the module). The target is asked first: if it does not answer, CellUnavailable and
        nothing written anywhere, so the caller may place the instance elsewhere."""
        self._read(target, lambda s: s.get(instance.uuid))
        self.mappings.begin_move(instance, target, source)
        try:
            self._transfer(instance.uuid, source, target, instance)
        except InstanceDeleted:  # moved as it was, deleted: so its mapping says
            self.mappings.mark_deleted(instance.uuid)
            self.mappings.end_move(instance.uuid)
            raise
        self.mappings.end_move(instance.uuid)

    def _finish_move(self, mapping: InstanceMapping) -> None:
        self._transfer(mapping.instance_uuid, mapping.moved_from, mapping.cell, None)
        self.mappings.end_move(mapping.instance_uuid)

    def _transfer(self, uuid: str, source: str | None, target: str | None, instance: Instance | None) -> None:
        """Step 2 of a move (see the module): the record leaves ``source`` in a transaction that commits only once
        ``target`` holds it. ``instance``: the conductor's newer state to write (its user fields taken from the
        stored record); None when finishing an interrupted move."""
        deleted_meanwhile = False
        try:
            with self.store(source).sessions() as session, session.begin():
                stored = self.store(source).take(session, uuid)
                there = self._write(target, lambda s: s.get(uuid))
                if there is not None:  # a repeat: the target's copy is the one that counts
                    if instance is not None:
                        self._write(target, lambda s: s.save(instance))
                elif stored is not None:
                    record = stored
                    if instance is not None:
                        if stored.vm_state == states.DELETED and instance.vm_state != states.DELETED:
                            deleted_meanwhile = True  # moved as it is: a deleted instance stays deleted
                        else:
                            instance.name, instance.metadata = stored.name, stored.metadata
                            instance.locked_by, instance.attributes = stored.locked_by, stored.attributes
                            record = instance
                    self._write(target, lambda s: s.insert(record))
                elif instance is not None:  # recorded nowhere yet: recorded where it belongs
                    self._write(target, lambda s: s.insert(instance))
        except DBAPIError as exc:
            raise CellUnavailable(source or target or "main") from exc
        if deleted_meanwhile:
            raise InstanceDeleted(f"instance {uuid} was deleted meanwhile")

    def repair_moves(self) -> int:
        """Finish every move a crash (or a database that stopped answering) cut short; how many were finished.
        A move whose databases still do not answer is left for the next time."""
        finished = 0
        for mapping in self.mappings.moving():
            try:
                self._finish_move(mapping)
            except CellUnavailable as exc:
                LOG.warning("move of %s into cell %s not finished yet: %s", mapping.instance_uuid, mapping.cell, exc)
                continue
            finished += 1
        return finished

    def update_user_fields(self, instance: Instance) -> None:
        if not self._spans():
            self.main.update_user_fields(instance)
            return
        for _attempt in range(2):  # a move between the mapping's read and the write: follow it once
            mapping = self.mappings.get(instance.uuid)
            for cell in [None] if mapping is None else _homes_of(mapping):
                if self._write(cell, lambda s: s.write_user_fields(instance)):
                    return

    # listings

    def find(self, query: InstanceQuery) -> list[Instance]:
        return self.find_across(query).instances

    def find_across(self, query: InstanceQuery) -> CellListing:
        if not self._spans():
            return CellListing(self.main.find(query))
        tagged = bool(query.tags or query.tags_any or query.not_tags or query.not_tags_any)
        after = None if tagged or query.marker is None else self._marker_values(query)
        if tagged:
            each = replace(query, marker=None, limit=None)
        else:
            spare = self.mappings.count_moving() if query.limit is not None else 0
            each = replace(query, marker=None, limit=None if query.limit is None else query.limit + spare)
        found: list[tuple[str | None, Instance]] = [(None, i) for i in self.main.find(each, after)]
        stores = {name: self.store(name) for name in self.databases.names()}
        gathered = self.databases.gather(lambda name, _sessions: stores[name].find(each, after))
        for name, instances in gathered.results.items():
            found.extend((name, i) for i in instances)
        merged = order_instances(self._one_copy_each(found), query.sort)
        if tagged and query.marker is not None:
            uuids = [i.uuid for i in merged]
            if query.marker not in uuids:
                raise MarkerNotFound(query.marker)
            merged = merged[uuids.index(query.marker) + 1:]
        if query.limit is not None:
            merged = merged[:query.limit]
        return CellListing(merged, gathered.down)

    def _marker_values(self, query: InstanceQuery) -> tuple[Any, ...]:
        assert query.marker is not None
        mapping = self.mappings.get(query.marker)
        for cell in [None] if mapping is None else _homes_of(mapping):
            try:
                return self._read(cell, lambda s: s.marker_values(query))
            except MarkerNotFound:
                continue
        raise MarkerNotFound(query.marker)

    def _one_copy_each(self, found: list[tuple[str | None, Instance]]) -> list[Instance]:
        """One record per instance: where a move left two copies, the one in the database its mapping names."""
        seen: dict[str, list[tuple[str | None, Instance]]] = {}
        for cell, instance in found:
            seen.setdefault(instance.uuid, []).append((cell, instance))
        twice = [uuid for uuid, copies in seen.items() if len(copies) > 1]
        homes = self.mappings.get_many(twice) if twice else {}
        kept = []
        for uuid, copies in seen.items():
            if len(copies) == 1:
                kept.append(copies[0][1])
                continue
            home = homes[uuid].cell if uuid in homes else None
            kept.append(next((i for cell, i in copies if cell == home), copies[0][1]))
        return kept

    def mappings_in(self, cells: frozenset[str], project_id: str | None) -> list[InstanceMapping]:
        return self.mappings.in_cells(cells, project_id)

    def load_by_host(self) -> dict[str, HostLoad]:
        loads = dict(self.main.load_by_host())
        if not self._spans():
            return loads
        stores = {name: self.store(name) for name in self.databases.names()}
        for found in self.databases.gather(lambda name, _sessions: stores[name].load_by_host()).results.values():
            for host, load in found.items():
                known = loads.get(host)
                loads[host] = load if known is None else HostLoad(known.instances + load.instances,
                                                                  known.busy + load.busy)
        return loads

    # actions: written where the instance is; the create action stays in the main database where the API wrote it

    def _homes(self, uuid: str) -> list[str | None]:
        mapping = self.mappings.get(uuid)
        if mapping is None:
            return [None]
        return list(dict.fromkeys([*_homes_of(mapping), None]))

    def add_action(self, action: InstanceAction) -> None:
        if not self._spans():
            self.main.add_action(action)
            return
        home = self._homes(action.instance_uuid)[0]
        self._write(home, lambda s: s.add_action(action))
        self._remember(action.instance_uuid, action.request_id, home)

    def recorded_actions(self, actions: Sequence[InstanceAction], ids: Sequence[int]) -> None:
        """Create actions an admission recorded in the main database (committed), with their row ids."""
        self.main.recorded_actions(actions, ids)
        if self._spans():
            for action in actions:
                self._remember(action.instance_uuid, action.request_id, None)

    def _remember(self, uuid: str, request_id: str, home: str | None) -> None:
        if len(self._action_homes) >= ACTION_HOMES_KEPT:
            self._action_homes.clear()
        self._action_homes[uuid, request_id] = home

    def _action_home(self, uuid: str, request_id: str) -> tuple[bool, str | None]:
        key = (uuid, request_id)
        if key in self._action_homes:
            return True, self._action_homes[key]
        for cell in self._homes(uuid):
            if self._write(cell, lambda s: s.has_action(uuid, request_id)):
                self._remember(uuid, request_id, cell)
                return True, cell
        return False, None

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None:
        if not self._spans():
            self.main.start_event(instance_uuid, request_id, event)
            return
        found, home = self._action_home(instance_uuid, request_id)
        if found:
            self._write(home, lambda s: s.start_event(instance_uuid, request_id, event))

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None:
        if not self._spans():
            self.main.finish_event(instance_uuid, request_id, event, finish_time, result, traceback)
            return
        found, home = self._action_home(instance_uuid, request_id)
        if found:
            self._write(home, lambda s: s.finish_event(instance_uuid, request_id, event, finish_time, result,
                                                       traceback))

    def record_and_save(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        """One write where every instance is in the main database; else the events, then the save (the two may
        live in different databases)."""
        if not self._spans():
            self.main.record_and_save(instance, request_id, record)
            return
        record_events(self, instance.uuid, request_id, record)
        self.save(instance)

    def save_and_record(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        if not self._spans():
            self.main.save_and_record(instance, request_id, record)
            return
        self.save(instance)
        record_events(self, instance.uuid, request_id, record)

    def get_and_start_event(self, uuid: str, request_id: str, event: ActionEvent,
                            when: Callable[[Instance], bool]) -> Instance | None:
        """One transaction where every instance is in the main database; else the read, then the event."""
        if not self._spans():
            return self.main.get_and_start_event(uuid, request_id, event, when)
        return read_then_start_event(self, uuid, request_id, event, when)

    def update_expecting(self, uuid: str, expected: Expected, changes: Mapping[str, Any],
                         request_id: str | None = None, record: EventRecord | None = None) -> bool:
        """One conditional write where every instance is in the main database; across cell databases, none (False:
        the caller reads and saves as it would without it)."""
        if not self._spans():
            return self.main.update_expecting(uuid, expected, changes, request_id, record)
        return False

    def actions(self, instance_uuid: str) -> list[InstanceAction]:
        if not self._spans():
            return self.main.actions(instance_uuid)
        found: list[InstanceAction] = []
        for cell in self._homes(instance_uuid):
            found.extend(self._read(cell, lambda s: s.actions(instance_uuid)))
        return sorted(found, key=lambda a: a.start_time)


def _where(mapping: InstanceMapping | None) -> tuple[bool, str | None, bool, str | None]:
    """What of a mapping says where the record is (its other fields change nothing about that)."""
    if mapping is None:
        return (False, None, False, None)
    return (True, mapping.cell, mapping.moving, mapping.moved_from)


def _homes_of(mapping: InstanceMapping) -> list[str | None]:
    """Where the mapped instance may be, in the order to look: its cell's database, then (a move under way) the one
    it comes from, then its cell's again. The last look is for a move that committed between the first two: missing
    from the target and then from the source means the target had it by then (it commits before the source lets
    go), while the mapping still says "moving", so the mapping's re-read would not see the change."""
    if not mapping.moving:
        return [mapping.cell]
    return [mapping.cell, mapping.moved_from, mapping.cell]
