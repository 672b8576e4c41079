"""Creating, changing and deleting images (Glance v2 semantics), and their state actions and tags.

Every function runs inside the caller's transaction and leaves the row consistent or raises:
nothing is half-applied. Only the owner's project (or an admin) changes an image; others who can
see it get 403, those who cannot get 404. Extra properties obey the configured property
protections on every write.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.image import attributes, formats
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.images import get_image
from twinstack.core.image.locations import apply_location_change
from twinstack.core.image.patch import Change
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageMemberRow, ImageRow


def may_modify(creds: Credentials, row: ImageRow) -> bool:
    return creds.is_admin or (creds.project_id is not None and creds.project_id == row.owner)


def modifiable(session: Session, creds: Credentials, image_id: str) -> ImageRow:
    row = get_image(session, creds, image_id)
    if not may_modify(creds, row):
        raise Forbidden("You are not permitted to modify this image.")
    return row


def _check_visibility(creds: Credentials, visibility: str) -> None:
    if visibility == "public" and not creds.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")


def create_image(session: Session, config: ImageConfig, creds: Credentials, body: dict[str, Any],
                 now: dt.datetime) -> ImageRow:
    """A new ``queued`` image from a flat Glance create body (core attributes beside extra properties)."""
    core: dict[str, Any] = {"visibility": "shared", "protected": False, "os_hidden": False, "min_disk": 0,
                            "min_ram": 0, "tags": [], "owner": creds.project_id}
    properties: dict[str, str] = {}
    new_id = str(uuid.uuid4())
    for name, value in body.items():
        attributes.check_writable(name)
        if name == "id":
            new_id = attributes.image_id(value)
        elif name == "locations":
            raise Forbidden("Locations are added to an image by a patch, not at creation.")
        elif name in attributes.SETTABLE:
            core[name] = attributes.core_value(name, value)
        else:
            config.protections.check(name, "create", creds.roles)
            properties[name] = attributes.property_value(name, value)
    if core["owner"] != creds.project_id and not creds.is_admin:
        raise Forbidden(f"You are not permitted to create images owned by '{core['owner']}'.")
    _check_visibility(creds, core["visibility"])
    formats.check_formats(core.get("disk_format"), core.get("container_format"))
    formats.check_boot_parts(session, properties, new_id)
    if session.get(ImageRow, new_id) is not None:
        raise Conflict(f"Image with identifier {new_id} already exists!")
    row = ImageRow(id=new_id, status="queued", size=None, virtual_size=None, properties=properties, locations=[],
                   created_at=now, updated_at=now, deleted_at=None, **core)
    session.add(row)
    session.flush()
    return row


def _change_core(creds: Credentials, row: ImageRow, core: dict[str, Any], change: Change) -> None:
    name = change.path[0]
    if change.op == "remove":
        raise Forbidden(f"Property {name} may not be removed.")
    value = attributes.core_value(name, change.value)
    if name in ("disk_format", "container_format") and row.status != "queued" and value != core[name]:
        raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
    if name == "owner" and value != core["owner"] and not creds.is_admin:
        raise Forbidden("Only an admin may change the owner of an image.")
    if name == "visibility" and value != core["visibility"]:
        _check_visibility(creds, value)
    core[name] = value


def _change_property(config: ImageConfig, creds: Credentials, props: dict[str, Any], change: Change) -> None:
    name = change.path[0]
    protections, roles = config.protections, creds.roles
    exists = name in props
    if exists and not protections.allows(name, "read", roles):
        raise Forbidden(f"Property '{name}' is protected")
    if change.op == "remove":
        if not exists:
            raise Conflict(f"Property {name} does not exist.")
        protections.check(name, "delete", roles)
        del props[name]
        return
    if change.op == "replace" and not exists:
        raise Conflict(f"Property {name} does not exist.")
    protections.check(name, "update" if exists else "create", roles)
    if name in formats.BOOT_PARTS and change.value is None:
        props.pop(name, None)
        return
    props[name] = attributes.property_value(name, change.value)


def update_image(session: Session, config: ImageConfig, creds: Credentials, image_id: str, changes: list[Change],
                 now: dt.datetime) -> ImageRow:
    """Apply a JSON-patch as Glance does: all of it, or (on any refusal) none of it."""
    row = modifiable(session, creds, image_id)
    core: dict[str, Any] = {name: getattr(row, name) for name in attributes.SETTABLE}
    core["tags"] = list(row.tags)
    props: dict[str, Any] = dict(row.properties)
    locations = [dict(loc) for loc in row.locations]
    for change in changes:
        name = change.path[0]
        attributes.check_writable(name)
        if name == "locations":
            locations = apply_location_change(config, row, locations, change, creds.is_admin)
        elif name == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        elif name in attributes.SETTABLE:
            _change_core(creds, row, core, change)
        else:
            _change_property(config, creds, props, change)
    formats.check_formats(core["disk_format"], core["container_format"])
    formats.check_boot_parts(session, props, row.id)
    if row.status == "active" and locations and not (core["disk_format"] and core["container_format"]):
        raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
    for name, value in core.items():
        setattr(row, name, value)
    row.properties = props
    row.locations = locations
    row.updated_at = now
    session.flush()
    return row


def delete_image(session: Session, creds: Credentials, image_id: str, now: dt.datetime) -> list[str]:
    """Mark the image deleted (its id is never reused) and return the location URLs whose data to drop."""
    row = modifiable(session, creds, image_id)
    if row.protected:
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    urls = [str(loc["url"]) for loc in row.locations]
    row.status = "deleted"
    row.locations = []
    row.deleted_at = row.updated_at = now
    for member in session.query(ImageMemberRow).filter(ImageMemberRow.image_id == image_id):
        session.delete(member)
    session.flush()
    return urls


def deactivate(session: Session, creds: Credentials, image_id: str, now: dt.datetime) -> None:
    """active -> deactivated (idempotent): data downloads stop for everyone but admins."""
    row = get_image(session, creds, image_id)
    if row.status == "deactivated":
        return
    if row.status != "active":
        raise Forbidden(f"Not allowed to deactivate image in status '{row.status}'")
    row.status, row.updated_at = "deactivated", now


def reactivate(session: Session, creds: Credentials, image_id: str, now: dt.datetime) -> None:
    row = get_image(session, creds, image_id)
    if row.status == "active":
        return
    if row.status != "deactivated":
        raise Forbidden(f"Not allowed to reactivate image in status '{row.status}'")
    row.status, row.updated_at = "active", now


def add_tag(session: Session, creds: Credentials, image_id: str, tag: str, now: dt.datetime) -> None:
    row = modifiable(session, creds, image_id)
    if tag not in row.tags:
        row.tags = attributes.tags([*row.tags, tag])
        row.updated_at = now


def delete_tag(session: Session, creds: Credentials, image_id: str, tag: str, now: dt.datetime) -> None:
    row = modifiable(session, creds, image_id)
    if tag not in row.tags:
        raise NotFound(f"Tag {tag} not found on image {image_id}.")
    row.tags = [t for t in row.tags if t != tag]
    row.updated_at = now

