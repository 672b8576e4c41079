"""Glance's image body: attributes, readable extra properties flattened beside them, links, and locations
for those allowed to see them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from twinstack.core.image.context import ImageConfig
from twinstack.core.image.writes import may_modify
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageMemberRow, ImageRow, ImageTaskRow

CORE_FIELDS = ("id", "name", "status", "visibility", "owner", "disk_format", "container_format", "size",
               "virtual_size", "min_disk", "min_ram", "checksum", "os_hash_algo", "os_hash_value", "os_hidden",
               "protected", "tags")
HIDDEN_FIELDS = frozenset({*CORE_FIELDS, "locations", "direct_url", "stores", "self", "file", "schema",
                           "created_at", "updated_at"})


def glance_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_image(row: ImageRow, config: ImageConfig, creds: Credentials) -> dict[str, Any]:
    readable = config.protections.readable(row.properties, creds.roles)
    body: dict[str, Any] = {k: v for k, v in readable.items() if k not in HIDDEN_FIELDS}
    body |= {name: getattr(row, name) for name in CORE_FIELDS}
    body["tags"] = list(row.tags)
    body |= {"created_at": glance_time(row.created_at), "updated_at": glance_time(row.updated_at),
             "self": f"/v2/images/{row.id}", "file": f"/v2/images/{row.id}/file", "schema": "/v2/schemas/image"}
    stores = sorted({str(loc["metadata"]["store"]) for loc in row.locations if loc.get("metadata", {}).get("store")})
    if stores:
        body["stores"] = ",".join(stores)
    if config.settings.show_multiple_locations and may_modify(creds, row):
        body["locations"] = [{"url": loc["url"], "metadata": loc.get("metadata", {})} for loc in row.locations]
    if config.settings.show_image_direct_url and row.locations:
        body["direct_url"] = row.locations[0]["url"]
    return body


def render_member(member: ImageMemberRow) -> dict[str, Any]:
    return {"image_id": member.image_id, "member_id": member.member_id, "status": member.status,
            "created_at": glance_time(member.created_at), "updated_at": glance_time(member.updated_at),
            "schema": "/v2/schemas/member"}


def render_task(task: ImageTaskRow) -> dict[str, Any]:
    return {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner, "image_id": task.image_id,
            "input": task.input, "result": None, "message": task.message,
            "created_at": glance_time(task.created_at), "updated_at": glance_time(task.updated_at),
            "expires_at": None, "request_id": None, "user_id": None}
