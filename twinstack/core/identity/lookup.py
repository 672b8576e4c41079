"""Fetching identity entities by id, with Keystone's 404 message when they are missing."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from twinstack.core.errors import NotFound
from twinstack.db.base import Base

T = TypeVar("T", bound=Base)


def get_or_404(session: Session, model: type[T], entity_id: str, kind: str) -> T:
    """The entity, or NotFound("Could not find <kind>: <id>.") as Keystone words it."""
    entity = session.get(model, entity_id)
    if entity is None:
        raise NotFound(f"Could not find {kind}: {entity_id}.")
    return entity
