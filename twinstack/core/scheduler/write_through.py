"""Placement for a served cloud: SQL is the truth, the scheduler's columns are a write-through cache.

Every claim is first made in SQL (compare-and-swap on provider generations, so another
scheduler or an operator's ``PUT /allocations`` can never be overcommitted), and only then
mirrored into the columns the scheduler decides on. Registration makes the host's resource
provider (named after the hypervisor, as Nova names them), its inventories and traits, and
loads the allocations it already holds, so a restarted cloud schedules on what is really used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from twinstack.core.compute.model import ComputeHost
from twinstack.core.errors import Conflict
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.host_providers import chunks, ensure_providers, inventory_specs, provider_uuid
from twinstack.core.scheduler.host_state import Usage
from twinstack.db.models.placement import Allocation, Consumer, ResourceProvider

__all__ = ["SqlBackedPlacement", "engine_of", "inventory_specs", "provider_uuid"]


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine ``sessions`` are bound to (twinstack.db.session.make_session_factory binds each factory to one)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError(f"a session factory bound to an Engine is needed, not to {bind!r}")
    return bind


class SqlBackedPlacement(ColumnarPlacement):
    """A ColumnarPlacement (so the scheduler decides on its columns directly) that writes through to SQL."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self.engine = engine_of(sessions)
        """For the claims and releases of every build: Core statements on a connection, no ORM session."""
        self._uuid_of: dict[str, str] = {}

    def register_host(self, host: ComputeHost) -> None:
        self.register_hosts([host])

    def register_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        """Providers for every host in one transaction of a few set-based statements (one by one, 5,000 simulated
        hosts took minutes: twinstack.core.scheduler.host_providers), then the allocations they already hold
        into the columns, read in one pass too."""
        uuids = sql.run_in_transaction(self.sessions, lambda s: ensure_providers(s, hosts))
        for host, uuid in zip(hosts, uuids, strict=True):
            self._uuid_of[host.host] = uuid
            super().register_host(host)
        on_provider: dict[str, dict[str, dict[str, int]]] = {uuid: {} for uuid in uuids}
        with self.sessions() as session:
            for part in chunks(sorted(set(uuids))):
                for uuid, consumer, rc, used in session.execute(
                        select(ResourceProvider.uuid, Allocation.consumer_uuid, Allocation.resource_class,
                               Allocation.used)
                        .join(ResourceProvider, ResourceProvider.id == Allocation.provider_id)
                        .join(Consumer, Consumer.uuid == Allocation.consumer_uuid)
                        .where(ResourceProvider.uuid.in_(part))):
                    on_provider[uuid].setdefault(consumer, {})[rc] = used
        held: dict[str, tuple[str, dict[str, int]]] = {}
        for host, uuid in zip(hosts, uuids, strict=True):
            for consumer in sorted(on_provider[uuid]):  # as placement.provider_allocations orders them
                held.setdefault(consumer, (host.host, dict(on_provider[uuid][consumer])))
        self.reload(held, hosts=[host.host for host in hosts])

    def learn_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        """Hosts whose providers an earlier run of this process (or another process) made: their providers and
        the allocations they hold, read from SQL (nothing written), into the columns. Without it a host the
        scheduler found in the host store had columns but no provider here, so every claim on it failed, and what
        it held was unknown, so a build's claim left by a killed attempt was neither released nor counted (seen: a
        restarted ``serve`` refusing its first builds with "lost its claim" and leaking that claim). A host whose
        provider SQL does not have yet is left for its agent's registration."""
        by_name = {host.hypervisor_hostname: host for host in hosts}
        names = sorted(by_name)
        found: dict[str, str] = {}
        held: dict[str, tuple[str, dict[str, int]]] = {}
        with self.sessions() as session:
            for chunk in chunks(names):
                found.update({by_name[name].host: uuid for name, uuid in session.execute(
                    select(ResourceProvider.name, ResourceProvider.uuid).where(ResourceProvider.name.in_(chunk)))})
                for consumer, name, resource_class, used in session.execute(
                        select(Allocation.consumer_uuid, ResourceProvider.name, Allocation.resource_class,
                               Allocation.used)
                        .join(ResourceProvider, ResourceProvider.id == Allocation.provider_id)
                        .where(ResourceProvider.name.in_(chunk))
                        .order_by(Allocation.consumer_uuid, ResourceProvider.name, Allocation.resource_class)):
                    host_name = by_name[name].host
                    entry = held.setdefault(consumer, (host_name, {}))
                    if entry[0] == host_name:  # on several providers: counted on one, as registering does
                        entry[1][resource_class] = int(used)
        known = [host for host in hosts if host.host in found]
        for host in known:
            self._uuid_of[host.host] = found[host.host]
            ColumnarPlacement.register_host(self, host)
        self.reload(held, hosts=[host.host for host in known])

    def claim_at(self, consumer: str, i: int, usage: Usage, resources: Mapping[str, int], project_id: str = "",
                 user_id: str = "") -> bool:
        """Claim in SQL first (the truth, guarded by generations), then in the columns. Every claim comes here:
        the scheduler's (which resolves the host to its index) and :meth:`claim` (the conductor's reschedules)."""
        host = self.state.names[i]
        uuid = self.provider_of(host)
        if uuid is None or self.host_of(consumer) is not None or not self.state.fits_at(i, usage):
            return False
        wanted = sql.ConsumerClaim(consumer, {uuid: {rc: n for rc, n in resources.items() if n}}, project_id, user_id,
                                   generation=None)
        try:
            sql.run_in_transaction(self.engine, lambda connection: sql.claim(connection, [wanted]))
        except Conflict:
            self.lost_claim(host)
            return False
        return super().claim_at(consumer, i, usage, resources, project_id, user_id)

    def adopt(self, source: str, target: str, host: str) -> bool:
        """Hand the claim another process made under consumer ``source`` on ``host`` (a scheduler service's, under
        its request id) to ``target``, typed INSTANCE, in one transaction: no provider's usage changes meanwhile.
        What ``target`` held before is replaced (its build starts over). False, with nothing changed, if ``source``
        holds nothing on ``host`` (released since, or claimed again elsewhere). The columns then hold ``target``
        where ``source`` was."""
        provider = self.provider_of(host)

        def hand_over(connection: Connection) -> dict[str, dict[str, int]]:
            held = sql.consumer_allocations(connection, source)
            allocations = {p: dict(a.resources) for p, a in held.allocations.items()}
            if provider not in allocations:
                return {}
            project, user = held.project_id or "", held.user_id or ""
            sql.claim(connection, [sql.ConsumerClaim(target, allocations, project, user, consumer_type="INSTANCE"),
                                   sql.ConsumerClaim(source, {}, project, user)])
            return allocations

        try:
            taken = sql.run_in_transaction(self.engine, hand_over)
        except Conflict:
            return False
        if not taken or provider is None:
            return False
        ColumnarPlacement.release(self, source)  # the columns only (SQL is done): a claim a scheduler made here
        self.reload({target: (host, taken[provider])}, hosts=[])  # skipped where the columns do not know ``host``
        return True

    def holds(self, consumer: str) -> bool:
        """Does ``consumer`` hold any allocation, as SQL says now (whoever claimed it)?"""
        with self.engine.connect() as connection:
            return bool(sql.consumer_allocations(connection, consumer).allocations)

    def provider_of(self, host: str) -> str | None:
        """The resource provider of ``host``, as registered here."""
        return self._uuid_of.get(host)

    def lost_claim(self, host: str) -> None:
        """SQL refused a claim the columns allowed: another writer took the room (an operator's PUT /allocations
        here; another conductor where several share the database, see SharedPlacement)."""

    def release(self, consumer: str) -> None:
        with self.engine.begin() as connection:
            sql.release(connection, consumer)
        super().release(consumer)

    def move(self, source: str, target: str) -> bool:
        """In SQL one claim writes both consumers (the target, typed MIGRATION as Nova's are, takes exactly
        what the source held; the source is emptied), so no provider's usage changes; then the columns.
        Handed back from a migration, the allocation is the instance's again (typed INSTANCE).

        SQL decides, not the columns: where several processes share the database, the source's claim may have
        been made (or handed over) by another one, which these columns have not caught up with yet (a conductor
        asking scheduler processes never refreshes its own). False, nothing changed, if SQL shows the source
        holding nothing or the target holding something."""

        def hand_over(connection: Connection) -> dict[str, dict[str, int]]:
            held = sql.consumer_allocations(connection, source)
            allocations = {p: dict(a.resources) for p, a in held.allocations.items()}
            if not allocations or sql.consumer_allocations(connection, target).allocations:
                return {}
            project, user = held.project_id or "", held.user_id or ""
            kind = "INSTANCE" if held.consumer_type == "MIGRATION" else "MIGRATION"
            sql.claim(connection, [sql.ConsumerClaim(target, allocations, project, user, generation=None,
                                                     consumer_type=kind),
                                   sql.ConsumerClaim(source, {}, project, user)])
            return allocations

        try:
            moved = sql.run_in_transaction(self.engine, hand_over)
        except Conflict:
            return False
        if not moved:
            return False
        if not super().move(source, target):  # the columns did not know the source: they learn the target
            hosts = {uuid: host for host, uuid in self._uuid_of.items()}
            known = [(hosts[p], r) for p, r in moved.items() if p in hosts]  # one provider: a compute host's
            if known:
                self.reload({target: known[0]}, hosts=[])
        return True
