"""Image members (Glance v2 sharing): the owner shares a ``shared`` image with projects, each accepts or not.

The owner adds and removes members and sees them all; a member sees and sets only its own
membership (pending, accepted, rejected) and sees the image in its lists once it accepted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound, OverQuota
from twinstack.core.image.images import get_image
from twinstack.core.image.writes import may_modify
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageMemberRow

STATUSES = ("pending", "accepted", "rejected")
MAX_MEMBERS = 128


def _owned(session: Session, creds: Credentials, image_id: str) -> None:
    row = get_image(session, creds, image_id)
    if not may_modify(creds, row):
        raise Forbidden("You are not permitted to manage the members of this image.")
    if row.visibility != "shared":
        raise Forbidden(f"Only shared images have members. Image {image_id} is {row.visibility}.")


def add_member(session: Session, creds: Credentials, image_id: str, member_id: str,
               now: dt.datetime) -> ImageMemberRow:
    _owned(session, creds, image_id)
    if not isinstance(member_id, str) or not member_id or len(member_id) > 64:
        raise BadRequest("Member to be added not specified")
    if session.get(ImageMemberRow, (image_id, member_id)) is not None:
        raise Conflict(f"Member {member_id} already associated with image {image_id}.")
    count = len(session.scalars(select(ImageMemberRow.member_id).where(ImageMemberRow.image_id == image_id)).all())
    if count >= MAX_MEMBERS:
        raise OverQuota(f"Maximum number of image members ({MAX_MEMBERS}) exceeded.")
    member = ImageMemberRow(image_id=image_id, member_id=member_id, status="pending", created_at=now,
                            updated_at=now)
    session.add(member)
    session.flush()
    return member


def list_members(session: Session, creds: Credentials, image_id: str) -> list[ImageMemberRow]:
    row = get_image(session, creds, image_id)
    statement = select(ImageMemberRow).where(ImageMemberRow.image_id == image_id)
    if not may_modify(creds, row):
        statement = statement.where(ImageMemberRow.member_id == (creds.project_id or ""))
    return list(session.scalars(statement.order_by(ImageMemberRow.created_at, ImageMemberRow.member_id)))


def get_member(session: Session, creds: Credentials, image_id: str, member_id: str) -> ImageMemberRow:
    row = get_image(session, creds, image_id)
    member = session.get(ImageMemberRow, (image_id, member_id))
    if member is None or not (may_modify(creds, row) or member_id == creds.project_id):
        raise NotFound(f"Member {member_id} not found for image {image_id}.")
    return member


def update_member(session: Session, creds: Credentials, image_id: str, member_id: str, status: str,
                  now: dt.datetime) -> ImageMemberRow:
    """Only the member project itself accepts or rejects (an admin may act for it)."""
    member = get_member(session, creds, image_id, member_id)
    if status not in STATUSES:
        raise BadRequest(f"Invalid status '{status}': expected one of {', '.join(STATUSES)}.")
    if member_id != creds.project_id and not creds.is_admin:
        raise Forbidden("Only the member may change the status of its membership.")
    member.status, member.updated_at = status, now
    session.flush()
    return member


def delete_member(session: Session, creds: Credentials, image_id: str, member_id: str) -> None:
    row = get_image(session, creds, image_id)
    if not may_modify(creds, row):
        raise Forbidden("You are not permitted to manage the members of this image.")
    member = session.get(ImageMemberRow, (image_id, member_id))
    if member is None:
        raise NotFound(f"Member {member_id} not found for image {image_id}.")
    session.delete(member)
