"""Placement API: what one provider has used (/resource_providers/{uuid}/usages) and what a project
uses across providers (/usages, 1.9+; grouped by consumer type from 1.38)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement import params
from twinstack.api.placement.common import VersionDep, allowed, since
from twinstack.core.errors import BadRequest
from twinstack.core.scheduler import placement as pl

router = APIRouter()


@router.get("/resource_providers/{uuid}/usages")
def provider_usages(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:usages"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, usages = pl.provider_usages(session, uuid)
    return {"resource_provider_generation": provider.generation, "usages": usages}


@router.get("/usages", dependencies=[Depends(since(9))])
def project_usages(
    request: Request, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:usages"))],
) -> dict[str, Any]:
    given = params.multi(request.query_params)
    params.refuse_unknown(list(given), {"project_id", "user_id", "consumer_type"} if version.at_least(38)
                          else {"project_id", "user_id"})
    if "project_id" not in given:
        raise BadRequest("Invalid query string parameters: 'project_id' is a required property")
    project_id = given["project_id"][-1]
    user_id = given["user_id"][-1] if "user_id" in given else None
    with cloud.transaction() as session:
        if version.at_least(38):
            consumer_type = given["consumer_type"][-1] if "consumer_type" in given else None
            return {"usages": pl.project_usages_by_type(session, project_id, user_id, consumer_type)}
        return {"usages": pl.project_usages(session, project_id, user_id)}
