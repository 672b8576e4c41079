"""Compute API (Nova v2.1): os-aggregates — CRUD and the add_host, remove_host and set_metadata actions (admin).

Aggregates are named by integer id in paths (a name is 400, so clients fall back to a listing);
their uuid shows from 2.41. Nova answers 200 everywhere here, even on create and delete.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, field_validator

from twinstack.api.compute.common import Body, json_body, nova_datetime, parse, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import CallerDep
from twinstack.core.compute import aggregates
from twinstack.core.compute.admin_policies import AGGREGATES
from twinstack.core.compute.model import Aggregate
from twinstack.core.errors import BadRequest

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]
METADATA_KEY = r"^[a-zA-Z0-9-_:. ]{1,255}$"


def render(aggregate: Aggregate, version: Version, created: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": aggregate.id, "name": aggregate.name, "availability_zone": aggregate.availability_zone,
        "created_at": nova_datetime(aggregate.created_at), "updated_at": nova_datetime(aggregate.updated_at),
        "deleted": False, "deleted_at": None,
    }
    if not created:  # as Nova, the create answer has neither
        body |= {"hosts": sorted(aggregate.hosts), "metadata": dict(aggregate.metadata)}
    if version >= v(41):
        body["uuid"] = aggregate.uuid
    return {"aggregate": body}


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be only spaces")
    return value.strip()


class AggregateIn(Body):
    name: str = Field(min_length=1, max_length=255)
    availability_zone: str | None = Field(None, min_length=1, max_length=255)

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        return _name(value)


class AggregateCreate(Body):
    aggregate: AggregateIn


class AggregateChange(Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    availability_zone: str | None = Field(None, min_length=1, max_length=255)

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)


class AggregateUpdate(Body):
    aggregate: AggregateChange


class HostIn(Body):
    host: str = Field(min_length=1, max_length=255)


class MetadataIn(Body):
    metadata: dict[Annotated[str, Field(pattern=METADATA_KEY)], Annotated[str, Field(max_length=255)] | None]


class AggregateAction(Body):
    add_host: HostIn | None = None
    remove_host: HostIn | None = None
    set_metadata: MetadataIn | None = None


def _id(aggregate_id: str) -> int:
    """Nova's validate_integer: anything but a number is 400."""
    try:
        return int(aggregate_id)
    except ValueError:
        raise BadRequest("Invalid input received: id must be an integer") from None


@router.get("/os-aggregates")
def list_aggregates(caller: CallerDep, version: MicroversionDep, compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(AGGREGATES + "index")
    return {"aggregates": [render(a, version)["aggregate"] for a in compute.aggregates.all()]}


@router.post("/os-aggregates")
def create_aggregate(caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                     data: JsonDep) -> dict[str, Any]:
    caller.enforce(AGGREGATES + "create")
    asked = parse(AggregateCreate, data).aggregate
    zone = asked.availability_zone.strip() if asked.availability_zone else None
    created = aggregates.create_aggregate(compute.aggregates, asked.name, zone, compute.now())
    return render(created, version, created=True)


@router.get("/os-aggregates/{aggregate_id}")
def show_aggregate(aggregate_id: str, caller: CallerDep, version: MicroversionDep,
                   compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(AGGREGATES + "show")
    return render(aggregates.get_aggregate(compute.aggregates, _id(aggregate_id)), version)


@router.put("/os-aggregates/{aggregate_id}")
def update_aggregate(aggregate_id: str, caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                     data: JsonDep) -> dict[str, Any]:
    caller.enforce(AGGREGATES + "update")
    asked = parse(AggregateUpdate, data).aggregate
    if asked.name is None and asked.availability_zone is None:
        raise BadRequest("Invalid input for field/attribute aggregate. Value: {}. {} does not have enough "
                         "properties")
    changed = aggregates.update_aggregate(compute.aggregates, _id(aggregate_id), asked.name,
                                          asked.availability_zone, compute.now())
    compute.service.hosts_changed(f"aggregate {aggregate_id} updated")
    return render(changed, version)


@router.delete("/os-aggregates/{aggregate_id}")
def delete_aggregate(aggregate_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    caller.enforce(AGGREGATES + "delete")
    aggregates.delete_aggregate(compute.aggregates, _id(aggregate_id))
    compute.service.hosts_changed(f"aggregate {aggregate_id} deleted")
    return Response(status_code=200)


@router.post("/os-aggregates/{aggregate_id}/action")
def aggregate_action(aggregate_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                     compute: ComputeDep, data: JsonDep) -> dict[str, Any]:
    asked = parse(AggregateAction, data)
    given = [name for name in ("add_host", "remove_host", "set_metadata") if getattr(asked, name) is not None]
    if len(given) != 1:
        raise BadRequest("Invalid input for field/attribute. Exactly one of add_host, remove_host or set_metadata "
                         "must be given.")
    caller.enforce(AGGREGATES + given[0])
    number, now, store = _id(aggregate_id), compute.now(), compute.aggregates
    if asked.add_host is not None:
        changed = aggregates.add_host(store, compute.hosts, number, asked.add_host.host, now)
    elif asked.remove_host is not None:
        changed = aggregates.remove_host(store, compute.hosts, number, asked.remove_host.host, now)
    else:
        assert asked.set_metadata is not None
        changed = aggregates.set_metadata(store, number, asked.set_metadata.metadata, now)
    compute.service.hosts_changed(f"aggregate {aggregate_id}: {given[0]}")
    return render(changed, version)
