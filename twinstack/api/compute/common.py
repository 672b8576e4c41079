"""What the compute routers share: links, pagination, timestamps, version gates and body checks."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from twinstack.api.compute.deps import get_microversion
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.api.openapi_doc import reads_json_body
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.model import Instance
from twinstack.core.errors import BadRequest, NotFound

MAX_LIMIT = 1000
"""Nova's [api] max_limit: no page is longer, whatever ``limit`` asks."""
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """A request body as Nova's JSON schemas check it: unknown properties are refused."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


@functools.cache
def v(minor: int) -> Version:
    """Microversion 2.<minor> (made once: views compare with these for every field of every server)."""
    return Version(2, minor)


def base_url(request: Request) -> str:
    url: str = request.app.state.base_url
    return url


def self_link(request: Request, path: str) -> str:
    return f"{base_url(request)}/v2.1/{path}"


def bookmark_link(request: Request, path: str) -> str:
    return f"{base_url(request)}/{path}"


def resource_links(request: Request, collection: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": self_link(request, f"{collection}/{ident}")},
            {"rel": "bookmark", "href": bookmark_link(request, f"{collection}/{ident}")}]


def next_link(request: Request, collection: str, marker: str) -> list[dict[str, str]]:
    """Nova's ``<collection>_links``: the request's own query with the marker moved to the last item."""
    params = [(k, val) for k, val in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", marker))
    return [{"rel": "next", "href": f"{self_link(request, collection)}?{urlencode(params)}"}]


def limit_and_marker(request: Request) -> tuple[int, str | None]:
    """The page size (capped at MAX_LIMIT; 0 or absent means the cap) and the marker, as Nova reads them."""
    raw = request.query_params.get("limit")
    limit = MAX_LIMIT
    if raw is not None:
        try:
            asked = int(raw)
        except ValueError:
            raise BadRequest("limit param must be an integer") from None
        if asked < 0:
            raise BadRequest("limit param must be positive")
        limit = min(MAX_LIMIT, asked or MAX_LIMIT)
    return limit, request.query_params.get("marker")


def flag(value: str | None, name: str) -> bool | None:
    """A boolean query parameter as oslo reads one (``?all_tenants`` alone means true)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("", "1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid {name} value: {value}")


@functools.lru_cache(maxsize=8192)
def utc_second(second: int) -> str:
    """``2026-11-28T15:00:00`` for a whole second since the epoch: a page of servers created within a few minutes
    formats a few hundred distinct seconds, not two per server."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def nova_time(moment: float | None) -> str | None:
    """Nova's ``created``/``updated`` form: ``2026-11-28T15:00:00Z``."""
    if moment is None:
        return None
    # rounded to the microsecond first, as datetime.fromtimestamp does
    return utc_second(math.floor(round(moment, 6))) + "Z"


def nova_datetime(moment: float | dt.datetime | None) -> str | None:
    """How Nova serialises a raw timestamp field (launched_at, start_time...): ``2026-11-28T15:00:00.000000``."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    # datetime.fromtimestamp's split: the fraction rounded half to even to the microsecond, carried into the second
    fraction, whole = math.modf(moment)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    return f"{utc_second(int(whole))}.{micro:06d}"


def parse_time(value: str, name: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                         f"'{value}' is not a 'date-time'") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


@reads_json_body
async def json_body(request: Request, _caller: CallerDep) -> Any:
    """The request's JSON document (400 if it is not one);
    read once the token is checked, so an anonymous request is 401 whatever its body."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("Malformed request body") from None


def parse(model: type[M], data: Any) -> M:
    """``data`` checked against ``model``; 400 "Invalid input ..." as Nova's schema validation words it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first.get("loc", ()))
        raise BadRequest(f"Invalid input for field/attribute {where}. {first.get('msg')}" if where
                         else f"Invalid input. {first.get('msg')}") from None


def refuse_before(request: Request, minimum: Version, present: bool, name: str) -> None:
    """A body property that an older microversion's schema does not know: 400, as Nova answers."""
    if present and get_microversion(request) < minimum:
        raise BadRequest(f"Invalid input for field/attribute. Additional properties are not allowed "
                         f"('{name}' was unexpected)")


def since(minimum: Version) -> Callable[[Request], None]:
    """A dependency: before ``minimum`` the route does not exist (Nova answers 404)."""

    def gate(request: Request) -> None:
        if get_microversion(request) < minimum:
            raise NotFound("The resource could not be found.")

    return gate


def is_admin(caller: Caller) -> bool:
    return caller.creds.is_admin


def request_id(request: Request) -> str:
    """The request's OpenStack id (set by the request log middleware; a fresh one when run without it)."""
    found: str = getattr(request.state, "request_id", "") or f"req-{uuid.uuid4()}"
    return found


def find_server(compute: ComputeContext, caller: Caller, server_id: str, action: str,
                deleted_ok: bool = False) -> Instance:
    """The server, if the caller may see it (another project's server is "not found", as in Nova),
    once policy allows ``action`` on it."""
    instance = compute.instances.get(server_id) if deleted_ok else None
    if instance is None:
        instance = compute.service.get(server_id)
    if not caller.creds.is_admin and instance.project_id != caller.creds.project_id:
        raise NotFound(f"Instance {server_id} could not be found.")
    caller.enforce(action, {"project_id": instance.project_id})
    return instance
