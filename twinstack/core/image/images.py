"""Images as Glance v2 shows them: who may see which, listing with Glance's filters, the test image.

Visibility (Glance's rules): an admin sees every image. Anyone else sees public images, their own
project's images of any visibility, images shared with their project (in a listing only those
whose membership they accepted, unless ``member_status`` says otherwise) and, when they ask for
``visibility=community`` or ``all``, community images. An image someone cannot see is not found.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageMemberRow, ImageRow
from twinstack.rpc.compute import ImageSpec

VISIBILITIES = ("public", "private", "shared", "community", "all")
MEMBER_STATUSES = ("accepted", "pending", "rejected", "all")
SORT_KEYS = ("created_at", "updated_at", "name", "status", "id", "container_format", "disk_format", "size",
             "virtual_size", "min_disk", "min_ram", "owner", "visibility")
IN_FILTERS = ("id", "name", "status", "disk_format", "container_format", "checksum", "os_hash_value")
"""Filters that take ``in:a,b,c`` as well as one value."""
TIME_FILTERS = ("created_at", "updated_at")
"""Filters that take Glance's time comparisons: ``<op>:<ISO 8601>`` (op one of TIME_OPERATORS; none means eq)."""
TIME_OPERATORS = ("gt", "gte", "eq", "neq", "lt", "lte")
SECOND = dt.timedelta(seconds=1)

TEST_IMAGE_NAME = "twinstack-test"
TEST_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://twinstack/images/twinstack-test"))
TEST_IMAGE_SIZE = 21_430_272
"""The size of the CirrOS 0.6.2 x86_64 qcow2 image, the classic small test guest."""
TEST_IMAGE_VIRTUAL_SIZE = 117_440_512


@dataclass(frozen=True)
class ImageQuery:
    """Glance's list filters; each given must hold. ``in_filters`` maps a column to its accepted values."""

    in_filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    visibility: str | None = None
    owner: str | None = None
    member_status: str = "accepted"
    tags: tuple[str, ...] = ()
    protected: bool | None = None
    os_hidden: bool | None = False
    size_min: int | None = None
    size_max: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    """Extra properties that must equal these values."""
    times: tuple[tuple[str, str, dt.datetime], ...] = ()
    """(column, operator, moment) comparisons that must all hold (``created_at``/``updated_at``)."""
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    marker: str | None = None
    limit: int | None = 25


def _member(project_id: str, statuses: tuple[str, ...] | None = None) -> ColumnElement[bool]:
    conditions = [ImageMemberRow.image_id == ImageRow.id, ImageMemberRow.member_id == project_id]
    if statuses is not None:
        conditions.append(ImageMemberRow.status.in_(statuses))
    return exists().where(*conditions)


def _second(moment: dt.datetime, up: bool = False) -> dt.datetime:
    whole = moment.replace(microsecond=0)
    return whole + SECOND if up and whole != moment else whole


def _time_condition(column_name: str, operator: str, moment: dt.datetime) -> ColumnElement[bool]:
    """The comparison as a client means it: on the time the API shows, which is whole seconds (the stored one may
    carry microseconds), so ``eq:<a created_at just read>`` finds that image."""
    column: InstrumentedAttribute[dt.datetime] = getattr(ImageRow, column_name)
    low, high = _second(moment), _second(moment) + SECOND
    if operator == "gt":
        return column >= high
    if operator == "gte":
        return column >= _second(moment, up=True)
    if operator == "lt":
        return column < _second(moment, up=True)
    if operator == "lte":
        return column < high
    exact = and_(column >= low, column < high) if moment == low else false()
    return exact if operator == "eq" else ~exact


def _listable(creds: Credentials, query: ImageQuery) -> ColumnElement[bool] | None:
    """Which images a listing may show the caller, for the visibility and member_status asked."""
    project = creds.project_id
    statuses = None if query.member_status == "all" else (query.member_status,)
    mine = ImageRow.owner == project if project else false()
    shared_with_me = _member(project, statuses) if project else false()
    wanted = query.visibility
    if creds.is_admin:
        return None if wanted in (None, "all") else ImageRow.visibility == wanted
    if wanted == "public":
        return ImageRow.visibility == "public"
    if wanted == "community":
        return ImageRow.visibility == "community"
    if wanted == "private":
        return and_(ImageRow.visibility == "private", mine)
    if wanted == "shared":
        return and_(ImageRow.visibility == "shared", shared_with_me)
    visible = [ImageRow.visibility == "public", mine, and_(ImageRow.visibility == "shared", shared_with_me)]
    if wanted == "all":
        visible.append(ImageRow.visibility == "community")
    return or_(*visible)


def list_images(session: Session, creds: Credentials, query: ImageQuery) -> list[ImageRow]:
    if query.visibility is not None and query.visibility not in VISIBILITIES:
        raise BadRequest(f"Invalid visibility value: {query.visibility}")
    if query.member_status not in MEMBER_STATUSES:
        raise BadRequest(f"Invalid status value: {query.member_status}")
    statement = select(ImageRow).where(ImageRow.status != "deleted")
    listable = _listable(creds, query)
    if listable is not None:
        statement = statement.where(listable)
    for name, values in query.in_filters.items():
        statement = statement.where(getattr(ImageRow, name).in_(values))
    if query.owner is not None:
        statement = statement.where(ImageRow.owner == query.owner)
    if query.protected is not None:
        statement = statement.where(ImageRow.protected.is_(query.protected))
    if query.os_hidden is not None:
        statement = statement.where(ImageRow.os_hidden.is_(query.os_hidden))
    if query.size_min is not None:
        statement = statement.where(ImageRow.size >= query.size_min)
    if query.size_max is not None:
        statement = statement.where(ImageRow.size <= query.size_max)
    for column_name, operator, moment in query.times:
        statement = statement.where(_time_condition(column_name, operator, moment))
    order: list[Any] = []
    for key, direction in (*query.sort, ("id", query.sort[-1][1] if query.sort else "desc")):
        column = getattr(ImageRow, key)
        order.append(column.desc().nulls_last() if direction == "desc" else column.asc().nulls_first())
    rows = [row for row in session.scalars(statement.order_by(*order))
            if set(query.tags) <= set(row.tags)
            and all(str(row.properties.get(k)) == v for k, v in query.properties.items())]
    return page_of(rows, query.marker, query.limit, "Image")


class HasId(Protocol):
    id: Any


Row = TypeVar("Row", bound=HasId)


def page_of(rows: list[Row], marker: str | None, limit: int | None, kind: str) -> list[Row]:
    """Glance's page of ordered ``rows``: those after the one whose id is ``marker`` (400 if none is), at most
    ``limit`` of them."""
    if marker is not None:
        index = next((n for n, row in enumerate(rows) if row.id == marker), None)
        if index is None:
            raise BadRequest(f"Invalid marker. {kind} {marker} could not be found.")
        rows = rows[index + 1:]
    return rows if limit is None else rows[:limit]


def can_see(session: Session, creds: Credentials, row: ImageRow) -> bool:
    """Whether the caller may see this one image (a member sees it whatever its membership status)."""
    if creds.is_admin or row.visibility in ("public", "community"):
        return True
    if creds.project_id is None:
        return False
    if row.owner == creds.project_id:
        return True
    return row.visibility == "shared" and session.get(ImageMemberRow, (row.id, creds.project_id)) is not None


def get_image(session: Session, creds: Credentials, image_id: str) -> ImageRow:
    row = session.get(ImageRow, image_id)
    if row is None or row.status == "deleted" or not can_see(session, creds, row):
        raise NotFound(f"No image found with ID {image_id}")
    return row


def image_spec(row: ImageRow) -> ImageSpec:
    """The image as a server records it and a host agent fetches it."""
    return ImageSpec(id=row.id, size_bytes=row.size or 0, disk_format=row.disk_format or "raw",
                     container_format=row.container_format or "bare",
                     properties={k: str(v) for k, v in row.properties.items()})


def ensure_test_image(session: Session, owner: str | None, now: dt.datetime) -> ImageRow:
    """Idempotent: the small public image a new cloud boots its first server from."""
    row = session.get(ImageRow, TEST_IMAGE_ID)
    if row is None:
        row = ImageRow(id=TEST_IMAGE_ID, name=TEST_IMAGE_NAME, status="active", visibility="public", owner=owner,
                       disk_format="qcow2", container_format="bare", size=TEST_IMAGE_SIZE,
                       virtual_size=TEST_IMAGE_VIRTUAL_SIZE, min_disk=0, min_ram=0, os_hidden=False,
                       protected=False, tags=[], properties={"os_type": "linux"}, locations=[],
                       created_at=now, updated_at=now)
        session.add(row)
        session.flush()
    return row
