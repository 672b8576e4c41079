"""Glance's tasks API (``/v2/tasks``): every image's import tasks, for admins (Glance's ``tasks_api_access``).

An image's owner reads its own tasks through ``/v2/images/{id}/tasks`` (:func:`imports.list_tasks`); this is the
operator's view across images, filtered by ``type`` and ``status``, sorted and paged as Glance pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.image.images import page_of
from twinstack.db.models.image import ImageTaskRow

TYPES = ("import", "api_image_import", "location_import")
STATUSES = ("pending", "processing", "success", "failure")
SORT_KEYS = ("id", "type", "status", "created_at", "updated_at")


@dataclass(frozen=True)
class TaskQuery:
    type: str | None = None
    status: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    marker: str | None = None
    limit: int | None = None


def list_tasks(session: Session, query: TaskQuery) -> list[ImageTaskRow]:
    """The tasks ``query`` asks for; an unknown type, status, sort key or marker is the client's mistake (400)."""
    if query.type is not None and query.type not in TYPES:
        raise BadRequest(f"Invalid type value: {query.type}")
    if query.status is not None and query.status not in STATUSES:
        raise BadRequest(f"Invalid status value: {query.status}")
    if query.sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort key: {query.sort_key}. It should be one of: {', '.join(SORT_KEYS)}.")
    if query.sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {query.sort_dir}")
    statement = select(ImageTaskRow)
    if query.type is not None:
        statement = statement.where(ImageTaskRow.type == query.type)
    if query.status is not None:
        statement = statement.where(ImageTaskRow.status == query.status)
    column, tie = getattr(ImageTaskRow, query.sort_key), ImageTaskRow.id
    ordered = (column.asc(), tie.asc()) if query.sort_dir == "asc" else (column.desc(), tie.desc())
    return page_of(list(session.scalars(statement.order_by(*ordered))), query.marker, query.limit, "Task")


def get_task(session: Session, task_id: str) -> ImageTaskRow:
    row = session.get(ImageTaskRow, task_id)
    if row is None:
        raise NotFound(f"Task with the given id {task_id} not found")
    return row
