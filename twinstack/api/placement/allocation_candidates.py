"""Placement API (1.10+): GET /allocation_candidates, shaped per microversion.

allocation_requests: a list of providers before 1.12, a dict by provider UUID after (the body
PUT /allocations takes), with ``mappings`` from 1.34. provider_summaries: capacity and usage of
the requested classes (every class from 1.27), traits from 1.17, parent and root from 1.29.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.json_answer import json_answer
from twinstack.api.placement import params
from twinstack.api.placement.common import VersionDep, allowed, since
from twinstack.api.placement.microversion import Version
from twinstack.core.scheduler.candidates import AllocationRequest, Candidates, allocation_candidates

router = APIRouter(dependencies=[Depends(since(10))])


def show_request(request: AllocationRequest, version: Version) -> dict[str, Any]:
    return _request_shape(version)(request)


def _request_shape(version: Version) -> Callable[[AllocationRequest], dict[str, Any]]:
    """The shaping of one allocation request at ``version``, chosen once for a whole answer (10,000 of them)."""
    if not version.at_least(12):
        return lambda request: {"allocations": [{"resource_provider": {"uuid": provider}, "resources": resources}
                                                for provider, resources in request.allocations.items()]}
    if not version.at_least(34):
        return lambda request: {"allocations": {provider: {"resources": resources}
                                                for provider, resources in request.allocations.items()}}
    return lambda request: {"allocations": {provider: {"resources": resources}
                                            for provider, resources in request.allocations.items()},
                            "mappings": request.mappings}


def show_candidates(found: Candidates, version: Version) -> dict[str, Any]:
    with_traits, with_tree = version.at_least(17), version.at_least(29)
    summaries: dict[str, Any] = {}
    for summary in found.provider_summaries:
        entry: dict[str, Any] = {"resources": {rc: {"capacity": cap, "used": used}
                                               for rc, (cap, used) in summary.resources.items()}}
        if with_traits:
            entry["traits"] = summary.traits
        if with_tree:
            entry["parent_provider_uuid"] = summary.parent_uuid
            entry["root_provider_uuid"] = summary.root_uuid
        summaries[summary.uuid] = entry
    shape = _request_shape(version)
    return {"allocation_requests": [shape(r) for r in found.allocation_requests], "provider_summaries": summaries}


@router.get("/allocation_candidates")
def list_allocation_candidates(
    request: Request, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:allocation_candidates:list"))],
) -> Response:
    query = params.candidate_query(request.query_params, version)
    with cloud.transaction() as session:
        found = allocation_candidates(session, query, all_classes_in_summaries=version.at_least(27))
    return json_answer(show_candidates(found, version))  # 10,000 providers make a 4 MB answer
