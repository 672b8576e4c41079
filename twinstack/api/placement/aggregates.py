"""Placement API (1.1+): the aggregates of a provider; from 1.19 with the provider generation."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement.common import UUID_PATTERN, Body, JsonBody, VersionDep, allowed, parse, since
from twinstack.core.errors import BadRequest
from twinstack.core.scheduler import placement as pl

router = APIRouter(dependencies=[Depends(since(1))])


class AggregatesBody(Body):
    aggregates: list[str]
    resource_provider_generation: int


def _answer(generation: int, aggregates: list[str], with_generation: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"aggregates": aggregates}
    if with_generation:
        body["resource_provider_generation"] = generation
    return body


@router.get("/resource_providers/{uuid}/aggregates")
def list_aggregates(
    uuid: str, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:aggregates:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, aggregates = pl.get_aggregates(session, uuid)
    return _answer(provider.generation, aggregates, version.at_least(19))


@router.put("/resource_providers/{uuid}/aggregates")
def set_aggregates(
    uuid: str, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:aggregates:update"))],
) -> dict[str, Any]:
    generation: int | None = None
    if version.at_least(19):
        body = parse(AggregatesBody, data)
        aggregates, generation = body.aggregates, body.resource_provider_generation
    else:
        if not isinstance(data, list) or not all(isinstance(a, str) for a in data):
            raise BadRequest("JSON does not validate: the body must be a list of aggregate UUIDs")
        aggregates = data
    if len(set(aggregates)) != len(aggregates) or not all(re.fullmatch(UUID_PATTERN, a) for a in aggregates):
        raise BadRequest("JSON does not validate: aggregates must be unique UUIDs")
    with cloud.transaction() as session:
        provider = pl.set_aggregates(session, uuid, generation, aggregates)
        current = pl.get_aggregates(session, uuid)[1]
    return _answer(provider.generation, current, version.at_least(19))
