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

from sqlalchemy import false, text, update
from sqlalchemy.orm import Session

from twinstack.db.models.compute import QuotaRow


def lock_projects(session: Session, project_ids: Iterable[str]) -> None:
    """Wait for, then hold until the transaction ends, the write lock of each project."""
    if session.get_bind().dialect.name == "postgresql":
        for project_id in sorted(set(project_ids)):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                            {"key": f"twinstack-quota:{project_id}"})
    else:
        session.execute(update(QuotaRow).where(false()).values(hard_limit=QuotaRow.hard_limit))
