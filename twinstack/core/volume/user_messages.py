"""User messages (Cinder's messages API, 3.3+): how an asynchronous failure reaches the volume's owner.

A create that no pool can take ends in 'error' with nothing to say why in the volume itself; Cinder records a
message ("schedule allocate volume:Could not find any available weighted backend.") the user lists with
``openstack volume message list``. Event ids are Cinder's: ``VOLUME_<resource>_<action>_<detail>``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.db.models.volume import UserMessageRow

ACTIONS = {"001": "schedule allocate volume", "002": "attach volume", "007": "extend volume",
           "009": "create snapshot", "010": "delete snapshot", "011": "delete volume",
           "012": "create volume from backend storage"}
DETAILS = {"001": "An unknown error occurred.", "003": "Could not find any available weighted backend.",
           "006": "Not enough quota resource for operation."}
SCHEDULE_ALLOCATE_VOLUME, ATTACH_VOLUME, EXTEND_VOLUME = "001", "002", "007"
CREATE_FROM_BACKEND = "012"
UNKNOWN_ERROR, NO_BACKEND = "001", "003"
KEEP_SECONDS = 30 * 24 * 3600
"""Cinder's ``message_ttl`` default: a message expires after 30 days."""


def record(session: Session, now: dt.datetime, project_id: str, resource_uuid: str | None, action: str,
           detail: str, request_id: str | None = None, resource_type: str = "VOLUME") -> UserMessageRow:
    row = UserMessageRow(
        id=str(uuid.uuid4()), project_id=project_id, resource_type=resource_type, resource_uuid=resource_uuid,
        event_id=f"VOLUME_{resource_type}_{action}_{detail}", message_level="ERROR",
        user_message=f"{ACTIONS.get(action, action)}:{DETAILS.get(detail, detail)}", request_id=request_id,
        created_at=now, expires_at=now + dt.timedelta(seconds=KEEP_SECONDS))
    session.add(row)
    return row


def list_messages(session: Session, project_id: str | None, now: dt.datetime) -> list[UserMessageRow]:
    query = select(UserMessageRow).where(UserMessageRow.expires_at > now).order_by(UserMessageRow.created_at.desc())
    if project_id is not None:
        query = query.where(UserMessageRow.project_id == project_id)
    return list(session.scalars(query))
