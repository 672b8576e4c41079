"""Octavia's faults, by the object they are about."""

from __future__ import annotations

from twinstack.core.errors import NotFound


class ObjectNotFound(NotFound):
    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id} not found.")
