"""Serialising the networking service's check-then-write steps (IPAM, MACs, segment ids, quotas).

Choosing a free address, then inserting it, is one step only if no other writer slips in between.
:func:`lock_keys` makes the session's transaction the one writer for each key until it ends:

* PostgreSQL: a transaction-level advisory lock per key (``network:<id>``, ``quota:<project>``...),
  taken in sorted order in one call so two transactions never wait on each other in a cycle.
* SQLite: the database's single write lock, taken at once by a write that changes nothing, before
  the transaction has read anything (so it never works from a snapshot another writer overtook).

The unique keys in SQL stay the backstop: a lock skipped by mistake yields a 409, never two ports
on one address.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import false, text, update
from sqlalchemy.orm import Session

from twinstack.db.models.network import NetworkQuotaRow


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Wait for, then hold until the transaction ends, the write lock of every key (call once per transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(set(keys)):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                            {"key": f"twinstack-net:{key}"})
    else:
        session.execute(update(NetworkQuotaRow).where(false()).values(hard_limit=NetworkQuotaRow.hard_limit))
