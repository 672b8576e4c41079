"""What the block storage routers share: the service, the caller's scope, links, timestamps and body checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from twinstack.api.deps import Caller
from twinstack.api.volume.microversion import Version, microversion
from twinstack.cloud import Cloud
from twinstack.core.errors import BadRequest
from twinstack.core.image.protections import Protections
from twinstack.core.volume.service import VolumeService

MAX_LIMIT = 1000
"""Cinder's osapi_max_limit."""
TRUE_WORDS = ("1", "t", "true", "on", "y", "yes")


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


def service(cloud: Cloud) -> VolumeService:
    """The running block storage (with a bus), or one over the records alone when no back end runs."""
    if cloud.volume is not None:
        return cloud.volume
    return VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume,
                         image_protections=Protections.from_settings(cloud.settings.image.property_protections))


def project_of(caller: Caller) -> str:
    project = caller.token.project_id
    if project is None:
        raise BadRequest("Block storage needs a project-scoped token.")
    return project


def is_admin(caller: Caller) -> bool:
    return caller.creds.is_admin


def scope(caller: Caller) -> str | None:
    """Whose volumes the caller may touch by id: an admin any project's (None), others their own."""
    return None if is_admin(caller) else project_of(caller)


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def links(request: Request, collection: str, ident: str) -> list[dict[str, str]]:
    base: str = request.app.state.base_url
    return [{"rel": "self", "href": f"{base}/v3/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{collection}/{ident}"}]


def at_least(request: Request, minor: int) -> bool:
    return microversion(request) >= Version(3, minor)


def sort_param(request: Request) -> list[tuple[str, str]]:
    """Cinder's ``sort=key:dir,key2`` or the older ``sort_key``/``sort_dir``; default created_at desc."""
    raw = request.query_params.get("sort")
    pairs: list[tuple[str, str]] = []
    if raw:
        for item in raw.split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    elif request.query_params.get("sort_key"):
        pairs.append((request.query_params["sort_key"], request.query_params.get("sort_dir", "desc")))
    for _key, direction in pairs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input received: Unknown sort direction, must be 'desc' or 'asc' "
                             f"({direction})")
    return pairs or [("created_at", "desc")]


def limit_param(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return MAX_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("Invalid input received: limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("Invalid input received: limit param must be positive")
    return min(limit, MAX_LIMIT)


def request_id(request: Request) -> str:
    return str(request.headers.get("x-openstack-request-id") or "")
