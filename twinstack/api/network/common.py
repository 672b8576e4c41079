"""Helpers every Neutron router shares: timestamps, owner fields, the settings, a single resource's
``fields``, and the JSON body dependency (a malformed body is a Neutron 400, never a 422)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network.listing import select_fields
from twinstack.api.openapi_doc import reads_json_body
from twinstack.cloud import Cloud
from twinstack.config import NetworkSettings
from twinstack.core.errors import BadRequest
from twinstack.rpc.bus import send
from twinstack.rpc.compute import CONDUCTOR_TOPIC
from twinstack.rpc.network import RefreshPorts


def neutron_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def standard(row: Any) -> dict[str, Any]:
    """The standard attributes: owner (under both names), description, tags, timestamps, revision."""
    return {"tenant_id": row.project_id, "project_id": row.project_id, "description": row.description,
            "tags": list(row.tags), "created_at": neutron_time(row.created_at),
            "updated_at": neutron_time(row.updated_at), "revision_number": row.revision_number}


def settings_of(caller: Caller) -> NetworkSettings:
    return caller.cloud.settings.network


def refresh_ports(caller: Caller, port_ids: Sequence[str], member_changes: Sequence[str] = ()) -> None:
    """Tell the conductor that what these ports carry changed, or who is in the ``member_changes`` groups (call
    once committed): it re-plugs the ports bound to a host, and those whose rules name a changed group as
    remote group. Nothing to tell without a compute plane, or without any change."""
    refresh(caller.cloud, port_ids, member_changes)


def refresh(cloud: Cloud, port_ids: Sequence[str], member_changes: Sequence[str] = (),
            tunnelled: Mapping[str, list[str]] | None = None) -> None:
    """:func:`refresh_ports` for callers holding the cloud (the compute API); ``tunnelled``: VXLAN network ->
    the hosts released ports left (their tunnel peers change)."""
    compute = cloud.compute
    if compute is not None and (port_ids or member_changes or tunnelled):
        send(compute.service.bus, CONDUCTOR_TOPIC, RefreshPorts(port_ids=sorted(set(port_ids)),
                                                                group_ids=sorted(set(member_changes)),
                                                                tunnelled=dict(tunnelled or {})))


def one(request: Request, key: str, item: dict[str, Any]) -> dict[str, Any]:
    """A show answer, trimmed to the ``fields`` asked for."""
    return {key: select_fields(request, item)}


@reads_json_body
async def json_body(request: Request, _caller: CallerDep) -> Any:
    """The request's JSON document, read once the token is checked, so an anonymous request is 401 whatever its body."""
    raw = await request.body()
    if not raw:
        raise BadRequest("Resource body required")
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("Malformed request body") from None


BodyDep = Annotated[Any, Depends(json_body)]
