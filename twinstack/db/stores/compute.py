"""Compute state in SQL: the InstanceStore and HostStore protocols over SQLAlchemy sessions.

Each call is one short transaction, so the conductor's thread and the API's threads can share
the database without holding sessions across messages.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from twinstack.core.compute import states
from twinstack.core.compute.model import (
    ActionEvent,
    ComputeHost,
    Fault,
    Instance,
    InstanceAction,
    ServerAttributes,
)
from twinstack.core.compute.stores import (
    EventRecord,
    Expected,
    HostLoad,
    HostLocation,
    HostService,
    InstanceDeleted,
    InstanceQuery,
    MarkerNotFound,
    sort_keys,
    tags_match,
)
from twinstack.db.models.compute import (
    ComputeHostRow,
    InstanceActionEventRow,
    InstanceActionRow,
    InstanceRow,
)
from twinstack.db.session import SessionFactory
from twinstack.rpc.compute import FlavorSpec, ImageSpec


def to_dt(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def from_dt(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


ATTRIBUTE_NAMES = frozenset(f.name for f in fields(ServerAttributes))


def attributes_from(extra: dict[str, Any]) -> ServerAttributes:
    """The API-only attributes kept in the ``extra`` column (unknown keys, from a newer release, ignored)."""
    return ServerAttributes(**{k: v for k, v in extra.items() if k in ATTRIBUTE_NAMES})


INSTANCE_COLUMNS = tuple(attribute.columns[0].label(attribute.key) for attribute in inspect(InstanceRow).column_attrs)
"""Every column of an instance, by its attribute name: a listing reads rows of these, not ORM objects (the
same values without the identity map and the per-object bookkeeping, a fifth of a page's time)."""
as_record: Callable[[Iterable[Any]], Any] = namedtuple(  # type: ignore[attr-defined]
    "InstanceRecord", [column.key for column in INSTANCE_COLUMNS])._make
"""A row of INSTANCE_COLUMNS as a plain named tuple, for :func:`instance_from_row`: SQLAlchemy's Row finds each
field by name (about half a microsecond a field, 30 fields a server: 1.4 ms of a 100-server page), a named tuple's
fields are slots."""


class Specs:
    """The flavors and images of a batch of rows, each distinct one validated once: a page of servers shares a
    few flavors and images, and validating two specs per server was a sixth of the page's time. Specs are frozen,
    so instances may share one."""

    def __init__(self) -> None:
        self._flavors: dict[bytes, FlavorSpec] = {}
        self._images: dict[bytes, ImageSpec] = {}

    def flavor(self, value: dict[str, Any]) -> FlavorSpec:
        key = orjson.dumps(value)
        spec = self._flavors.get(key)
        if spec is None:
            spec = self._flavors[key] = FlavorSpec.model_validate(value)
        return spec

    def image(self, value: dict[str, Any]) -> ImageSpec:
        key = orjson.dumps(value)
        spec = self._images.get(key)
        if spec is None:
            spec = self._images[key] = ImageSpec.model_validate(value)
        return spec


def instance_from_row(row: InstanceRow | Row[Any], specs: Specs | None = None) -> Instance:
    """The instance a row records; ``specs`` shared over the rows of one batch validates each flavor and image
    once."""
    specs = specs or Specs()
    fault = Fault(**row.fault) if row.fault else None
    return Instance(
        uuid=row.uuid, name=row.name, project_id=row.project_id, user_id=row.user_id,
        flavor=specs.flavor(row.flavor), image=specs.image(row.image) if row.image else None,
        created_at=row.created_at.timestamp(), updated_at=row.updated_at.timestamp(),
        vm_state=row.vm_state, task_state=row.task_state, power_state=row.power_state, host=row.host,
        node=row.node, cell=row.cell, availability_zone=row.availability_zone,
        requested_availability_zone=row.requested_availability_zone, key_name=row.key_name,
        key_data=row.key_data, user_data=row.user_data, metadata=dict(row.meta),
        server_group_id=row.server_group_id, scheduler_hints=dict(row.scheduler_hints),
        launched_at=from_dt(row.launched_at), terminated_at=from_dt(row.terminated_at),
        deleted_at=from_dt(row.deleted_at), fault=fault, locked_by=row.locked_by,
        reservation_id=row.reservation_id, launch_index=row.launch_index, attempts=row.attempts,
        alternates=list(row.alternates), attributes=attributes_from(row.extra or {}),
        old_flavor=FlavorSpec.model_validate(row.old_flavor) if row.old_flavor else None,
        new_flavor=FlavorSpec.model_validate(row.new_flavor) if row.new_flavor else None,
    )


def user_values(instance: Instance) -> dict[str, Any]:
    """The fields only users change (through the API): the conductor's saves leave them alone."""
    return {"name": instance.name, "meta": dict(instance.metadata), "locked_by": instance.locked_by,
            "extra": asdict(instance.attributes)}


def row_values(instance: Instance) -> dict[str, Any]:
    """Everything but the user-owned fields, by attribute name."""
    return {
        "project_id": instance.project_id, "user_id": instance.user_id,
        "flavor": instance.flavor.model_dump(), "image": instance.image.model_dump() if instance.image else None,
        "vm_state": instance.vm_state, "task_state": instance.task_state, "power_state": instance.power_state,
        "host": instance.host, "node": instance.node, "cell": instance.cell,
        "availability_zone": instance.availability_zone,
        "requested_availability_zone": instance.requested_availability_zone,
        "key_name": instance.key_name, "key_data": instance.key_data, "user_data": instance.user_data,
        "server_group_id": instance.server_group_id, "scheduler_hints": dict(instance.scheduler_hints),
        "created_at": to_dt(instance.created_at), "updated_at": to_dt(instance.updated_at),
        "launched_at": to_dt(instance.launched_at), "terminated_at": to_dt(instance.terminated_at),
        "deleted_at": to_dt(instance.deleted_at), "deleted": instance.vm_state == "deleted",
        "fault": asdict(instance.fault) if instance.fault else None,
        "reservation_id": instance.reservation_id, "launch_index": instance.launch_index,
        "attempts": instance.attempts, "alternates": list(instance.alternates),
        "old_flavor": instance.old_flavor.model_dump() if instance.old_flavor else None,
        "new_flavor": instance.new_flavor.model_dump() if instance.new_flavor else None,
    }


USER_FIELDS = frozenset({"name", "metadata", "locked_by", "attributes"})
TIME_FIELDS = frozenset({"created_at", "updated_at", "launched_at", "terminated_at", "deleted_at"})
SPEC_FIELDS = frozenset({"flavor", "image", "old_flavor", "new_flavor"})


def changed_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Some conductor-owned fields of an instance (by attribute name) as :func:`row_values` writes them: what a
    conditional write changes, and nothing else."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in USER_FIELDS or name == "uuid":
            raise ValueError(f"{name} is not the conductor's to write")
        if name in TIME_FIELDS:
            value = to_dt(value)
        elif name in SPEC_FIELDS:
            value = value.model_dump() if value is not None else None
        elif name == "fault":
            value = asdict(value) if value is not None else None
        elif name in ("scheduler_hints", "alternates"):
            value = type(value)(value)
        elif name == "vm_state":
            values["deleted"] = value == states.DELETED
        values[name] = value
    return values


def fill_row(row: InstanceRow, instance: Instance) -> None:
    for key, value in row_values(instance).items():
        setattr(row, key, value)


INSERT_INSTANCES = insert(InstanceRow.__table__)  # type: ignore[arg-type]
"""Built once, on the table: the ORM's bulk INSERT (``insert(InstanceRow)``) wrote the same row through the ORM's
bulk-persistence path, a fifth of a create's admission."""
RENAMED_COLUMNS = {a.key: a.columns[0].key for a in inspect(InstanceRow).column_attrs if a.key != a.columns[0].key}
"""The attributes whose column is named otherwise (``meta``: the ``metadata`` column), for a row written by table."""


def insert_instances(db: Session | Connection, instances: Sequence[Instance]) -> None:
    """Record new instances in one INSERT (no object per row to track)."""
    if not instances:
        return
    rows = []
    for instance in instances:
        values = {"uuid": instance.uuid, **user_values(instance), **row_values(instance)}
        for attribute, column in RENAMED_COLUMNS.items():
            values[column] = values.pop(attribute)
        rows.append(values)
    connection = db.connection() if isinstance(db, Session) else db
    connection.execute(INSERT_INSTANCES, rows)


ACTIONS: Table = InstanceActionRow.__table__  # type: ignore[assignment]
EVENTS: Table = InstanceActionEventRow.__table__  # type: ignore[assignment]
"""The action history's tables, written as tables: an event's few writes skip the ORM's bookkeeping."""
INSERT_ACTION = insert(ACTIONS)


def action_values(action: InstanceAction) -> dict[str, Any]:
    """An action's row, by column."""
    moment = to_dt(action.start_time)
    return {"instance_uuid": action.instance_uuid, "request_id": action.request_id, "action": action.action,
            "project_id": action.project_id, "user_id": action.user_id, "start_time": moment, "updated_at": moment,
            "message": action.message}


INSERT_ACTIONS_RETURNING_IDS = INSERT_ACTION.returning(ACTIONS.c.id, sort_by_parameter_order=True)


def insert_actions(connection: Connection, actions: Sequence[InstanceAction]) -> list[int]:
    """Record actions in one INSERT, in the caller's transaction (a create's, with its admission); their row ids, in
    the order of ``actions`` (for :meth:`SqlInstanceStore.recorded_actions`, once the transaction is committed)."""
    if not actions:
        return []
    rows = connection.execute(INSERT_ACTIONS_RETURNING_IDS, [action_values(a) for a in actions])
    return [int(action_id) for action_id, in rows]


ACTION_IDS_KEPT = 20_000
"""How many (instance, request) -> action row ids a store remembers: every build's events find their action
without a query (a build records three events, and its answer finishes one)."""

INSTANCES: Table = InstanceRow.__table__  # type: ignore[assignment]
USER_COLUMNS = (INSTANCES.c["name"], INSTANCES.c["metadata"], INSTANCES.c["locked_by"], INSTANCES.c["extra"])
"""The columns of the fields only users change (see :func:`user_values`), in the order a save hands them back."""

# The conductor's reads and writes of an instance and its events, as Core statements built once, here: a call binds
# its values and runs them on a connection in a transaction of its own. Building the statements per call (the
# coercion of every clause: a read names all 35 columns) in an ORM session (identity map, attribute history, flush)
# was most of what a build cost this store: its three calls (the read that starts scheduling, the save placed, the
# spawn's answer) took 5.6 ms of CPU per build on SQLite and 9.1 ms on PostgreSQL, 1.0 ms and 3.3 ms this way.
# An UPDATE without values takes its SET clause from the names it is given (a save: every column but the user's;
# a conditional write: the changes), and the engine caches its SQL per set of names. So a name bound in a WHERE
# is never a column's: it would be SET.

GET_INSTANCE = select(*INSTANCE_COLUMNS).where(INSTANCES.c.uuid == bindparam("instance_uuid"))
SAVE_UNLESS_DELETED = (update(INSTANCES)
                       .where(INSTANCES.c.uuid == bindparam("instance_uuid"), INSTANCES.c.vm_state != states.DELETED)
                       .returning(*USER_COLUMNS))
"""A save of an instance that is not deleted: the check that a deleted instance stays deleted and the write are
one statement, which PostgreSQL checks on the row's newest version once a writer holding it (a delete) commits,
and SQLite runs while no other writes. It writes the conductor's columns only and returns the user's fields as the
row holds them (a rename the API made meanwhile stays, and the caller learns it)."""
SAVE_ANYWAY = update(INSTANCES).where(INSTANCES.c.uuid == bindparam("instance_uuid")).returning(*USER_COLUMNS)
"""A save of a deleted instance: over whatever is stored (a delete finished twice is fine)."""
STORED_STATE = select(INSTANCES.c.vm_state).where(INSTANCES.c.uuid == bindparam("instance_uuid")).with_for_update()
"""Why a save wrote no row: none stored, or a deleted one (locked on PostgreSQL, as it was read)."""
INSERT_INSTANCE = insert(INSTANCES)


def _update_expecting(task_is_none: bool, host_is_none: bool) -> Update:
    """The conditional write of :meth:`SqlInstanceStore.update_expecting`, for an expectation of this shape."""
    task = (INSTANCES.c.task_state.is_(None) if task_is_none
            else INSTANCES.c.task_state == bindparam("expected_task_state"))
    host = INSTANCES.c.host.is_(None) if host_is_none else INSTANCES.c.host == bindparam("expected_host")
    return update(INSTANCES).where(INSTANCES.c.uuid == bindparam("instance_uuid"), INSTANCES.c.deleted.is_(False),
                                   INSTANCES.c.vm_state == bindparam("expected_vm_state"), task, host)


UPDATES_EXPECTING = {(task, host): _update_expecting(task, host) for task in (False, True) for host in (False, True)}
"""By (expected task state is None, expected host is None)."""

ACTION_ID = select(ACTIONS.c.id).where(ACTIONS.c.instance_uuid == bindparam("of_instance"),
                                       ACTIONS.c.request_id == bindparam("of_request"))
START_EVENT = insert(EVENTS)
FINISH_EVENT = (update(EVENTS)
                .where(EVENTS.c.id == select(func.max(EVENTS.c.id)).where(
                    EVENTS.c.action_id == bindparam("of_action"), EVENTS.c.event == bindparam("named"),
                    EVENTS.c.finish_time.is_(None)).scalar_subquery())
                .values(finish_time=bindparam("finished_at", type_=EVENTS.c.finish_time.type),
                        result=bindparam("outcome"), traceback=bindparam("trace")))
"""The latest unfinished event of that name in the action finished."""
TOUCH_ACTION = (update(ACTIONS).where(ACTIONS.c.id == bindparam("of_action"))
                .values(updated_at=bindparam("touched_at", type_=ACTIONS.c.updated_at.type)))


def insert_values(instance: Instance) -> dict[str, Any]:
    """A whole instance's row, by column."""
    user = user_values(instance)
    user["metadata"] = user.pop("meta")
    return {"uuid": instance.uuid, **user, **row_values(instance)}


class SqlInstanceStore:
    """Instances and their actions in one database. The conductor's calls (get, the saves, the conditional write,
    the events) run the statements above on a connection; the rest (listings, the API's writes) use sessions."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self.engine: Engine = sessions.kw["bind"]
        self._action_ids: dict[tuple[str, str], int] = {}

    def get(self, uuid: str) -> Instance | None:
        with self.engine.connect() as connection:
            row = connection.execute(GET_INSTANCE, {"instance_uuid": uuid}).first()
        return instance_from_row(as_record(row)) if row else None

    def save(self, instance: Instance) -> None:
        self._save(instance, create=True)

    def save_existing(self, instance: Instance) -> bool:
        """:meth:`save` of an instance already stored here; False (nothing written) if it is not here."""
        return self._save(instance, create=False)

    def record_and_save(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        self._save(instance, create=True, recorded=(request_id, record))

    def save_and_record(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        self._save(instance, create=True, recorded=(request_id, record))

    def _save(self, instance: Instance, create: bool, recorded: tuple[str, EventRecord] | None = None) -> bool:
        """The instance written (its user fields taken from the stored row); with ``recorded`` (request id, event
        changes), its action's events too, in the same transaction (nothing of either if the instance was deleted
        meanwhile: InstanceDeleted). Usually one UPDATE; a row it did not write is then looked at."""
        values = row_values(instance)
        values["instance_uuid"] = instance.uuid
        statement = SAVE_ANYWAY if instance.vm_state == states.DELETED else SAVE_UNLESS_DELETED
        with self.engine.begin() as connection:
            user = connection.execute(statement, values).first()
            if user is None:
                stored = connection.scalar(STORED_STATE, {"instance_uuid": instance.uuid})
                if stored == states.DELETED:  # (and this save's is not: SAVE_ANYWAY writes any stored row)
                    raise InstanceDeleted(f"instance {instance.uuid} was deleted meanwhile")
                if stored is None:
                    if not create:
                        return False
                    connection.execute(INSERT_INSTANCE, insert_values(instance))
                else:  # recorded by another writer since the UPDATE looked, and held now: written as any save
                    user = connection.execute(statement, values).one()
            if user is not None:
                instance.name, metadata, instance.locked_by, extra = user
                instance.metadata, instance.attributes = dict(metadata), attributes_from(extra or {})
            if recorded is not None:
                self._record(connection, instance.uuid, *recorded)
        return True

    def get_and_start_event(self, uuid: str, request_id: str, event: ActionEvent,
                            when: Callable[[Instance], bool]) -> Instance | None:
        with self.engine.begin() as connection:
            row = connection.execute(GET_INSTANCE, {"instance_uuid": uuid}).first()
            instance = instance_from_row(as_record(row)) if row else None
            if instance is not None and when(instance):
                action_id = self._action_id(connection, uuid, request_id)
                if action_id is not None:
                    self._start_event(connection, action_id, event)
        return instance

    def update_expecting(self, uuid: str, expected: Expected, changes: Mapping[str, Any],
                         request_id: str | None = None, record: EventRecord | None = None) -> bool:
        """One UPDATE whose WHERE is the expectation: the database checks it on the row as it is when the row is
        written (PostgreSQL re-checks it on the newest version after waiting for the row's lock, which a writer
        holds until it commits; SQLite writes one at a time), and the events in the same transaction."""
        values = changed_values(changes)
        values["instance_uuid"], values["expected_vm_state"] = uuid, expected.vm_state
        if expected.task_state is not None:
            values["expected_task_state"] = expected.task_state
        if expected.host is not None:
            values["expected_host"] = expected.host
        statement = UPDATES_EXPECTING[expected.task_state is None, expected.host is None]
        with self.engine.begin() as connection:
            if not connection.execute(statement, values).rowcount:
                return False
            if request_id is not None and record is not None:
                self._record(connection, uuid, request_id, record)
        return True

    def _record(self, connection: Connection, instance_uuid: str, request_id: str, record: EventRecord) -> None:
        """``record``'s events, as finish_event then start_event leave them; the action's time written once (the
        started event's, which a finish and a start would leave last)."""
        action_id = self._action_id(connection, instance_uuid, request_id)
        if action_id is None:
            return
        if record.finished is not None:
            self._finish_event(connection, action_id, record.finished, record.finish_time, record.result,
                               record.traceback, touch=record.started is None)
        if record.started is not None:
            self._start_event(connection, action_id, record.started)

    def take(self, session: Session, uuid: str) -> Instance | None:
        """Remove the instance's record in ``session``'s transaction and return it (None if it is not here): the
        first step of a move to another database, which holds this database's lock on the row until the caller
        commits."""
        row = session.execute(delete(InstanceRow).where(InstanceRow.uuid == uuid).returning(*INSTANCE_COLUMNS)).first()
        return instance_from_row(row) if row is not None else None

    def update_user_fields(self, instance: Instance) -> None:
        self.write_user_fields(instance)

    def load_by_host(self) -> dict[str, HostLoad]:
        busy = case((or_(InstanceRow.vm_state == states.BUILDING, InstanceRow.task_state.is_not(None)), 1), else_=0)
        statement = (select(InstanceRow.host, func.count(), func.coalesce(func.sum(busy), 0))
                     .where(InstanceRow.deleted.is_(False), InstanceRow.host.is_not(None))
                     .group_by(InstanceRow.host))
        with self.sessions() as session:
            return {host: HostLoad(int(n), int(b)) for host, n, b in session.execute(statement)}

    def find(self, query: InstanceQuery, after: tuple[Any, ...] | None = None) -> list[Instance]:
        """Filters, order, marker and limit in SQL (keyset pagination: a page of a big listing reads only its
        own rows). Tag filters are matched in Python, so with them the page is cut from the matching uuids.
        ``after``: the sort values of a marker another database holds (see :meth:`marker_values`), to list what
        follows it here (``query.marker`` is then ignored)."""
        conditions, order = _conditions(query), _order(query.sort)
        with self.sessions() as session:
            if query.tags or query.tags_any or query.not_tags or query.not_tags_any:
                return self._find_by_tags(session, query, conditions, order)
            if after is not None:
                conditions.append(_keyset(query.sort, after))
            elif query.marker is not None:
                conditions.append(_after_marker(session, query.marker, query.sort, conditions))
            statement = select(*INSTANCE_COLUMNS).where(*conditions).order_by(*order)
            if query.limit is not None:
                statement = statement.limit(query.limit)
            specs = Specs()
            # on the connection: rows of columns need none of the ORM's result handling (a quarter of the read)
            return [instance_from_row(as_record(row), specs) for row in session.connection().execute(statement)]

    def marker_values(self, query: InstanceQuery) -> tuple[Any, ...]:
        """The sort values of ``query.marker`` (which must match ``query``'s filters, else MarkerNotFound)."""
        assert query.marker is not None
        with self.sessions() as session:
            return _marker_values(session, query.marker, query.sort, _conditions(query))

    def insert(self, instance: Instance) -> None:
        """Record the whole instance, user fields included (a record moved here from another database)."""
        with self.sessions() as session, session.begin():
            insert_instances(session, [instance])

    def write_user_fields(self, instance: Instance) -> bool:
        """:meth:`update_user_fields`, saying whether the instance was there to be written."""
        with self.sessions() as session, session.begin():
            done = session.execute(update(InstanceRow).where(InstanceRow.uuid == instance.uuid)
                                   .values(**user_values(instance)))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def has_action(self, instance_uuid: str, request_id: str) -> bool:
        """Is the action of this request recorded here?"""
        with self.engine.connect() as connection:
            return self._action_id(connection, instance_uuid, request_id) is not None

    @staticmethod
    def _find_by_tags(session: Session, query: InstanceQuery, conditions: list[ColumnElement[bool]],
                      order: list[Any]) -> list[Instance]:
        found = session.execute(select(InstanceRow.uuid, InstanceRow.extra).where(*conditions).order_by(*order))
        uuids = [uuid for uuid, extra in found if tags_match(list((extra or {}).get("tags", [])), query)]
        if query.marker is not None:
            try:
                uuids = uuids[uuids.index(query.marker) + 1:]
            except ValueError:
                raise MarkerNotFound(query.marker) from None
        if query.limit is not None:
            uuids = uuids[:query.limit]
        rows = {row.uuid: row for row in session.execute(select(*INSTANCE_COLUMNS).where(InstanceRow.uuid.in_(uuids)))}
        specs = Specs()
        return [instance_from_row(as_record(rows[u]), specs) for u in uuids if u in rows]

    def add_action(self, action: InstanceAction) -> None:
        with self.sessions() as session, session.begin():
            added = session.connection().execute(INSERT_ACTION, action_values(action))
        key = added.inserted_primary_key
        assert key is not None
        self._remember_action(action.instance_uuid, action.request_id, int(key[0]))

    def recorded_actions(self, actions: Sequence[InstanceAction], ids: Sequence[int]) -> None:
        """Actions another writer recorded in this store's database, committed, with their row ids: remembered as
        :meth:`add_action` remembers its own (an admission writes a create's; the build's events then need no
        look-up). Called after the commit, so it never raises: ids that do not pair with the actions are dropped,
        and the events look their action up."""
        if len(actions) != len(ids):
            return
        for action, action_id in zip(actions, ids, strict=True):
            self._remember_action(action.instance_uuid, action.request_id, action_id)

    def _remember_action(self, instance_uuid: str, request_id: str, action_id: int) -> None:
        if len(self._action_ids) >= ACTION_IDS_KEPT:
            self._action_ids.clear()  # builds in flight ask again: one query each
        self._action_ids[instance_uuid, request_id] = action_id

    def _action_id(self, connection: Connection, instance_uuid: str, request_id: str) -> int | None:
        """The action's row id: remembered from its recording or a first look-up (an action row is never
        deleted nor renumbered, so a remembered id stays right), else read."""
        action_id = self._action_ids.get((instance_uuid, request_id))
        if action_id is None:
            action_id = connection.scalar(ACTION_ID, {"of_instance": instance_uuid, "of_request": request_id})
            if action_id is not None:
                self._remember_action(instance_uuid, request_id, action_id)
        return action_id

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None:
        with self.engine.begin() as connection:
            action_id = self._action_id(connection, instance_uuid, request_id)
            if action_id is not None:
                self._start_event(connection, action_id, event)

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None:
        """Finish the latest unfinished ``event`` of the action (none: nothing changes), in one UPDATE."""
        with self.engine.begin() as connection:
            action_id = self._action_id(connection, instance_uuid, request_id)
            if action_id is not None:
                self._finish_event(connection, action_id, event, finish_time, result, traceback)

    @staticmethod
    def _start_event(connection: Connection, action_id: int, event: ActionEvent) -> None:
        moment = to_dt(event.start_time)
        connection.execute(START_EVENT, {"action_id": action_id, "event": event.event, "start_time": moment,
                                         "host": event.host})
        connection.execute(TOUCH_ACTION, {"of_action": action_id, "touched_at": moment})

    @staticmethod
    def _finish_event(connection: Connection, action_id: int, event: str, finish_time: float, result: str,
                      traceback: str | None, touch: bool = True) -> None:
        """``touch``: the action's time too, if an event finished (False: the caller writes it next)."""
        moment = to_dt(finish_time)
        finished = connection.execute(FINISH_EVENT, {"of_action": action_id, "named": event, "finished_at": moment,
                                                     "outcome": result, "trace": traceback})
        if finished.rowcount and touch:
            connection.execute(TOUCH_ACTION, {"of_action": action_id, "touched_at": moment})

    def actions(self, instance_uuid: str) -> list[InstanceAction]:
        with self.sessions() as session:
            rows = session.scalars(select(InstanceActionRow).where(InstanceActionRow.instance_uuid == instance_uuid)
                                   .order_by(InstanceActionRow.id)).all()
            found = []
            for row in rows:
                events = session.scalars(select(InstanceActionEventRow).where(
                    InstanceActionEventRow.action_id == row.id).order_by(InstanceActionEventRow.id)).all()
                found.append(InstanceAction(
                    row.request_id, row.instance_uuid, row.action, row.project_id, row.user_id,
                    row.start_time.timestamp(), row.message,
                    [ActionEvent(e.event, e.start_time.timestamp(), from_dt(e.finish_time), e.result, e.traceback,
                                 e.host) for e in events]))
            return found


SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": InstanceRow.created_at, "updated_at": InstanceRow.updated_at,
    "launched_at": InstanceRow.launched_at, "terminated_at": InstanceRow.terminated_at, "name": InstanceRow.name,
    "uuid": InstanceRow.uuid, "vm_state": InstanceRow.vm_state, "task_state": InstanceRow.task_state,
    "power_state": InstanceRow.power_state, "project_id": InstanceRow.project_id, "user_id": InstanceRow.user_id,
    "availability_zone": InstanceRow.availability_zone, "host": InstanceRow.host, "node": InstanceRow.node,
    "key_name": InstanceRow.key_name, "launch_index": InstanceRow.launch_index, "locked_by": InstanceRow.locked_by,
    "reservation_id": InstanceRow.reservation_id,
}


def _conditions(query: InstanceQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.deleted is None:
        if query.changes_since is None:
            conditions.append(InstanceRow.deleted.is_(False))
    else:
        conditions.append(InstanceRow.deleted.is_(query.deleted))
    equal: list[tuple[Any, Any]] = [
        (InstanceRow.project_id, query.project_id), (InstanceRow.user_id, query.user_id),
        (InstanceRow.host, query.host), (InstanceRow.node, query.node),
        (InstanceRow.availability_zone, query.availability_zone), (InstanceRow.reservation_id, query.reservation_id),
        (InstanceRow.key_name, query.key_name), (InstanceRow.image["id"].as_string(), query.image_id),
        (InstanceRow.flavor["id"].as_string(), query.flavor_id),
    ]
    conditions.extend(column == wanted for column, wanted in equal if wanted is not None)
    if query.name_pattern is not None:
        # "(?i)" leads the pattern: Python's re (SQLite's REGEXP) and PostgreSQL's AREs both read it
        conditions.append(InstanceRow.name.regexp_match("(?i)" + query.name_pattern))
    if query.vm_states is not None:
        conditions.append(InstanceRow.vm_state.in_(sorted(query.vm_states)))
    if query.task_states is not None:
        named = sorted(s for s in query.task_states if s is not None)
        either = [InstanceRow.task_state.in_(named)]
        if None in query.task_states:
            either.append(InstanceRow.task_state.is_(None))
        conditions.append(or_(*either))
    if query.power_states is not None:
        conditions.append(InstanceRow.power_state.in_(sorted(query.power_states)))
    if query.locked is not None:
        conditions.append(InstanceRow.locked_by.is_not(None) if query.locked else InstanceRow.locked_by.is_(None))
    if query.changes_since is not None:
        conditions.append(InstanceRow.updated_at >= to_dt(query.changes_since))
    if query.changes_before is not None:
        conditions.append(InstanceRow.updated_at <= to_dt(query.changes_before))
    return conditions


def _nullable(column: InstrumentedAttribute[Any]) -> bool:
    return bool(column.property.columns[0].nullable)


def _order(sort: tuple[tuple[str, str], ...]) -> list[Any]:
    """NULL sorts lowest on every back end (SQLite and PostgreSQL disagree by default). A column that cannot
    be NULL is ordered plainly: the same rows in the same order, and an index on it serves the order (a
    ``NULLS LAST`` that is not the back end's default keeps PostgreSQL from walking its index)."""
    order: list[Any] = []
    for key, direction in sort_keys(sort):
        column = SORT_COLUMNS[key]
        if not _nullable(column):
            order.append(column.desc() if direction == "desc" else column.asc())
        else:
            order.append(column.desc().nulls_last() if direction == "desc" else column.asc().nulls_first())
    return order


def _marker_values(session: Session, marker: str, sort: tuple[tuple[str, str], ...],
                   conditions: list[ColumnElement[bool]]) -> tuple[Any, ...]:
    """The marker's sort values. The marker must itself be in the listing, else MarkerNotFound, as Nova
    answers."""
    columns = [SORT_COLUMNS[key] for key, _ in sort_keys(sort)]
    values = session.execute(select(*columns).where(*conditions, InstanceRow.uuid == marker)).first()
    if values is None:
        raise MarkerNotFound(marker)
    return tuple(values)


def _after_marker(session: Session, marker: str, sort: tuple[tuple[str, str], ...],
                  conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """The rows listed after the marker in ``query``'s order: see :func:`_keyset`."""
    return _keyset(sort, _marker_values(session, marker, sort, conditions))


def _keyset(sort: tuple[tuple[str, str], ...], values: tuple[Any, ...]) -> ColumnElement[bool]:
    """The rows listed after a row of these sort ``values`` (NULL lowest, as :func:`_order` sorts): the
    keyset condition (k1 beyond v1) or (k1 = v1 and k2 beyond v2) or ... over the marker's sort values; when
    every key is one direction and never NULL (the default, newest first), the same as one row-value
    comparison, which an index seeks to."""
    keys = sort_keys(sort)
    columns = [SORT_COLUMNS[key] for key, _ in keys]
    directions = {direction for _key, direction in keys}
    if len(directions) == 1 and not any(_nullable(column) for column in columns):
        row, at = tuple_(*columns), tuple(values)  # the values bound as their columns' types
        return row < at if directions == {"desc"} else row > at
    alternatives: list[ColumnElement[bool]] = []
    for index, ((_key, direction), column, value) in enumerate(zip(keys, columns, values, strict=True)):
        same = [c.is_(None) if v is None else c == v for c, v in zip(columns[:index], values[:index], strict=True)]
        if direction == "desc":  # descending, NULL last: beyond v are smaller values and NULLs
            beyond = false() if value is None else or_(column < value, column.is_(None))
        else:  # ascending, NULL first: beyond v are larger values
            beyond = column.is_not(None) if value is None else column > value
        alternatives.append(and_(*same, beyond))
    return or_(*alternatives)


HOST_COLUMNS = tuple(attribute.columns[0].label(attribute.key) for attribute in inspect(ComputeHostRow).column_attrs)
"""Every column of a host, by attribute name: a page of servers reads its hosts as rows of these."""


def host_from_row(row: ComputeHostRow | Row[Any]) -> ComputeHost:
    return ComputeHost(
        host=row.host, agent=row.agent, cell=row.cell, availability_zone=row.availability_zone, rack=row.rack,
        hypervisor_type=row.hypervisor_type, hypervisor_hostname=row.hypervisor_hostname, host_ip=row.host_ip,
        inventory=dict(row.inventory), traits=list(row.traits), last_heartbeat=row.last_heartbeat.timestamp(),
        disabled=row.disabled, disabled_reason=row.disabled_reason, forced_down=row.forced_down, id=row.id,
        uuid=row.uuid, tunnel_ip=row.tunnel_ip, tunnel_port=row.tunnel_port or 4789,
    )


class SqlHostStore:
    """Hosts in SQL. A heartbeat message names many hosts and becomes one UPDATE per 500 of them:
    thousands of simulated hosts heartbeating must not mean thousands of statements a period."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def upsert(self, host: ComputeHost) -> None:
        self.upsert_all([host])

    def upsert_all(self, hosts: Sequence[ComputeHost]) -> None:
        """One transaction for all of them (an agent registers its thousands of hosts in one message)."""
        with self.sessions() as session, session.begin():
            for start in range(0, len(hosts), 500):
                self._upsert_chunk(session, hosts[start:start + 500])

    @staticmethod
    def _upsert_chunk(session: Session, hosts: Sequence[ComputeHost]) -> None:
        known = {row.host: row for row in session.scalars(
            select(ComputeHostRow).where(ComputeHostRow.host.in_([h.host for h in hosts])))}
        rows: list[ComputeHostRow] = []
        for host in hosts:
            row = known.get(host.host)
            if row is None:
                row = ComputeHostRow(host=host.host, uuid=str(uuidlib.uuid4()),
                                     created_at=to_dt(host.last_heartbeat))
                session.add(row)
                known[host.host] = row
            else:
                host.disabled, host.disabled_reason, host.forced_down = (row.disabled, row.disabled_reason,
                                                                         row.forced_down)
            row.agent, row.cell, row.availability_zone, row.rack = (host.agent, host.cell,
                                                                    host.availability_zone, host.rack)
            row.hypervisor_type, row.hypervisor_hostname = host.hypervisor_type, host.hypervisor_hostname
            row.host_ip, row.inventory, row.traits = host.host_ip, dict(host.inventory), list(host.traits)
            row.tunnel_ip, row.tunnel_port = host.tunnel_ip, host.tunnel_port if host.tunnel_ip else None
            row.last_heartbeat = to_dt(host.last_heartbeat)  # type: ignore[assignment]
            rows.append(row)
        session.flush()
        for host, row in zip(hosts, rows, strict=True):
            host.id, host.uuid = row.id, row.uuid

    def get(self, host: str) -> ComputeHost | None:
        with self.sessions() as session:
            row = session.scalar(select(ComputeHostRow).where(ComputeHostRow.host == host))
            return host_from_row(row) if row else None

    def get_many(self, hosts: Iterable[str]) -> dict[str, ComputeHost]:
        names = sorted(set(hosts))
        found: dict[str, ComputeHost] = {}
        with self.sessions() as session:
            for start in range(0, len(names), 500):
                chunk = names[start:start + 500]
                for row in session.execute(select(*HOST_COLUMNS).where(ComputeHostRow.host.in_(chunk))):
                    found[row.host] = host_from_row(row)
        return found

    def services(self, hosts: Iterable[str]) -> dict[str, HostService]:
        names = sorted(set(hosts))
        columns = (ComputeHostRow.host, ComputeHostRow.disabled, ComputeHostRow.forced_down,
                   ComputeHostRow.last_heartbeat)
        found: dict[str, HostService] = {}
        with self.sessions() as session:
            for start in range(0, len(names), 500):
                for host, disabled, forced_down, heartbeat in session.execute(
                        select(*columns).where(ComputeHostRow.host.in_(names[start:start + 500]))):
                    found[host] = HostService(disabled, forced_down, heartbeat.timestamp())
        return found

    def locations(self) -> dict[str, HostLocation]:
        columns = (ComputeHostRow.host, ComputeHostRow.hypervisor_hostname, ComputeHostRow.cell,
                   ComputeHostRow.availability_zone)
        with self.sessions() as session:
            return {host: HostLocation(node, cell, zone)
                    for host, node, cell, zone in session.execute(select(*columns))}

    def heartbeat(self, hosts: Iterable[str], at: float) -> None:
        names = list(hosts)
        if not names:
            return
        with self.sessions() as session, session.begin():
            for start in range(0, len(names), 500):
                session.execute(update(ComputeHostRow).where(ComputeHostRow.host.in_(names[start:start + 500]))
                                .values(last_heartbeat=to_dt(at)))

    def all(self) -> list[ComputeHost]:
        with self.sessions() as session:
            return [host_from_row(r) for r in session.scalars(select(ComputeHostRow).order_by(ComputeHostRow.id))]

    def set_service(self, host: str, disabled: bool | None = None, disabled_reason: str | None = None,
                    forced_down: bool | None = None) -> ComputeHost | None:
        with self.sessions() as session, session.begin():
            row = session.scalar(select(ComputeHostRow).where(ComputeHostRow.host == host))
            if row is None:
                return None
            if disabled is not None:
                row.disabled, row.disabled_reason = disabled, disabled_reason if disabled else None
            if forced_down is not None:
                row.forced_down = forced_down
            return host_from_row(row)
