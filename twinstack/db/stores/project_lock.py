"""One writer at a time per project, for the checks that must see every write they guard (quotas).

Counting a project's usage, checking it against a limit and writing the new rows are one step only
if no other writer can slip in between. :func:`lock_projects` makes the session's transaction that
one writer until it ends:

* PostgreSQL: a transaction-level advisory lock per project, taken in sorted order so two holders
  never wait on each other; other projects, and readers, go on freely.
* SQLite: the database's single write lock, taken at once by a write that changes nothing. Taking
  it first matters: a transaction that read before it wrote might count from a snapshot another
  writer has since overtaken.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Table, false, text, update
from sqlalchemy.orm import Session

from twinstack.db.models.compute import QuotaRow

QUOTAS: Table = QuotaRow.__table__  # type: ignore[assignment]
SQLITE_WRITE_LOCK = update(QUOTAS).where(false()).values(hard_limit=QUOTAS.c.hard_limit)
"""A write that changes nothing: SQLite's write lock, taken at once. Built once, on the table (Core), so that it
skips the ORM's bulk-update path (a tenth of a create's samples in a profile of the API)."""
ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def lock_projects(db: Session | Connection, project_ids: Iterable[str]) -> None:
    """Wait for, then hold until the transaction ends, the write lock of each project."""
    connection = db.connection() if isinstance(db, Session) else db
    if connection.dialect.name == "postgresql":
        for project_id in sorted(set(project_ids)):
            connection.execute(ADVISORY_LOCK, {"key": f"twinstack-quota:{project_id}"})
    else:
        connection.execute(SQLITE_WRITE_LOCK)
