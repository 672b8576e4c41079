"""Placement API: the allocations of a consumer (/allocations/{consumer}), of several consumers at
once (POST /allocations, 1.13+) and those held on one provider (/resource_providers/{uuid}/allocations).

The request body changed with the microversions: a list of providers before 1.12 and a dict by
provider UUID after; project_id and user_id required from 1.8; consumer_generation from 1.28
(null for a new consumer; an empty allocations dict then safely releases); mappings accepted and
ignored from 1.34; consumer_type required from 1.38.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field, RootModel
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement.common import (
    RESOURCE_CLASS_PATTERN,
    UUID_PATTERN,
    Body,
    JsonBody,
    VersionDep,
    allowed,
    parse,
    since,
)
from twinstack.api.placement.microversion import Version
from twinstack.cloud import Cloud
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler import placement_names as names

router = APIRouter()

INCOMPLETE_CONSUMER = "00000000-0000-0000-0000-000000000000"
DEFAULT_CONSUMER_TYPE = "unknown"
ClassName = Annotated[str, Field(pattern=RESOURCE_CLASS_PATTERN, max_length=255)]
Amount = Annotated[int, Field(ge=1, le=pl.MAX_INT)]
Resources = Annotated[dict[ClassName, Amount], Field(min_length=1)]
UUID = Annotated[str, Field(pattern=UUID_PATTERN)]
ExternalId = Annotated[str, Field(min_length=1, max_length=255)]


class ProviderResources(Body):
    resources: Resources
    generation: int | None = None
    """Accepted, as GET answers it, and ignored."""


class ProviderRef(Body):
    uuid: UUID


class ListedAllocation(Body):
    resource_provider: ProviderRef
    resources: Resources


class ConsumerBody(Body):
    allocations: dict[UUID, ProviderResources] | list[ListedAllocation]
    project_id: ExternalId | None = None
    user_id: ExternalId | None = None
    consumer_generation: int | None = None
    mappings: dict[str, list[UUID]] | None = None
    consumer_type: Annotated[str, Field(pattern=RESOURCE_CLASS_PATTERN, max_length=255)] | None = None


class ManyConsumersBody(RootModel[dict[UUID, ConsumerBody]]):
    pass


def _refuse(field: str) -> BadRequest:
    return BadRequest(f"JSON does not validate: Additional properties are not allowed ('{field}' was unexpected)")


def to_claim(consumer: str, body: ConsumerBody, version: Version, empty_allowed: bool) -> pl.ConsumerClaim:
    """One consumer's part of a request body, checked against the microversion's rules."""
    given = body.model_fields_set
    if version.at_least(12) != isinstance(body.allocations, dict):
        raise BadRequest("JSON does not validate: 'allocations' must be "
                         + ("an object keyed by resource provider UUID" if version.at_least(12) else "an array"))
    if not body.allocations and not empty_allowed:
        raise BadRequest("JSON does not validate: 'allocations' should be non-empty")
    for key, minor in (("consumer_generation", 28), ("mappings", 34), ("consumer_type", 38)):
        if key in given and not version.at_least(minor):
            raise _refuse(key)
    if version.at_least(8) and (body.project_id is None or body.user_id is None):
        raise BadRequest("JSON does not validate: 'project_id' and 'user_id' are required properties")
    if version.at_least(28) and "consumer_generation" not in given:
        raise BadRequest("JSON does not validate: 'consumer_generation' is a required property")
    if version.at_least(38) and body.consumer_type is None:
        raise BadRequest("JSON does not validate: 'consumer_type' is a required property")
    allocations: dict[str, dict[str, int]] = {}
    if isinstance(body.allocations, dict):
        for provider, held in body.allocations.items():
            allocations[pl.normalize_uuid(provider)] = dict(held.resources)
    else:
        for item in body.allocations:
            allocations.setdefault(pl.normalize_uuid(item.resource_provider.uuid), {}).update(item.resources)
    generation: int | pl.Unchecked | None = body.consumer_generation if version.at_least(28) else pl.UNCHECKED
    return pl.ConsumerClaim(
        consumer=consumer,
        allocations=allocations,
        project_id=body.project_id or INCOMPLETE_CONSUMER,
        user_id=body.user_id or INCOMPLETE_CONSUMER,
        generation=generation,
        consumer_type=body.consumer_type,
    )


def write(cloud: Cloud, claims: list[pl.ConsumerClaim]) -> None:
    classes = {rc for c in claims for resources in c.allocations.values() for rc in resources}

    def operation(session: Session) -> None:
        names.require_resource_classes(session, classes)
        pl.claim(session, claims)

    pl.run_in_transaction(cloud.sessions, operation)


def consumer_uuid(value: str) -> str:
    try:
        return pl.normalize_uuid(value)
    except BadRequest:
        raise BadRequest(f"Malformed consumer_uuid: {value}") from None


def show_consumer(held: pl.ConsumerAllocations, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {"allocations": {
        provider: {"generation": a.provider_generation, "resources": a.resources}
        for provider, a in held.allocations.items()
    }}
    if held.allocations and version.at_least(12):
        body["project_id"] = held.project_id
        body["user_id"] = held.user_id
        if version.at_least(28):
            body["consumer_generation"] = held.generation
        if version.at_least(38):
            body["consumer_type"] = held.consumer_type or DEFAULT_CONSUMER_TYPE
    return body


@router.get("/allocations/{consumer}")
def list_for_consumer(
    consumer: str, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:allocations:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        held = pl.consumer_allocations(session, consumer)
    return show_consumer(held, version)


@router.put("/allocations/{consumer}", status_code=204)
def set_for_consumer(
    consumer: str, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:allocations:update"))],
) -> Response:
    uuid = consumer_uuid(consumer)
    claim = to_claim(uuid, parse(ConsumerBody, data), version, empty_allowed=version.at_least(28))
    write(cloud, [claim])
    return Response(status_code=204)


@router.post("/allocations", status_code=204, dependencies=[Depends(since(13))])
def set_for_consumers(
    cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:allocations:manage"))],
) -> Response:
    body = parse(ManyConsumersBody, data)
    claims = [to_claim(pl.normalize_uuid(c), part, version, empty_allowed=True) for c, part in body.root.items()]
    if not claims:
        raise BadRequest("JSON does not validate: at least one consumer is required")
    write(cloud, claims)
    return Response(status_code=204)


@router.delete("/allocations/{consumer}", status_code=204)
def delete_for_consumer(
    consumer: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:allocations:delete"))],
) -> Response:
    with cloud.transaction() as session:
        if not pl.release(session, consumer):
            raise NotFound(f"No allocations for consumer '{consumer}'")
    return Response(status_code=204)


@router.get("/resource_providers/{uuid}/allocations")
def list_for_provider(
    uuid: str, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:allocations:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, held = pl.provider_allocations(session, uuid)
    allocations: dict[str, Any] = {}
    for consumer, (generation, resources) in held.items():
        entry: dict[str, Any] = {"resources": resources}
        if version.at_least(28):
            entry["consumer_generation"] = generation
        allocations[consumer] = entry
    return {"allocations": allocations, "resource_provider_generation": provider.generation}
