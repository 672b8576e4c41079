"""Interoperable import over HTTP (``POST /import``, answered 202 and finished in the background),
import-method and store discovery, an image's import tasks, and the admins' tasks API (``/v2/tasks``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.image.context import ImageConfigDep, JsonBody
from twinstack.api.image.render import render_task
from twinstack.core.clock import utcnow
from twinstack.core.errors import BadRequest
from twinstack.core.image import imports, tasks

router = APIRouter()


@router.post("/v2/images/{image_id}/import", status_code=202)
def import_image(image_id: str, body: JsonBody, caller: CallerDep, config: ImageConfigDep,
                 background: BackgroundTasks) -> Response:
    caller.enforce("image:import_image")
    request = imports.parse_import(config, body)
    cloud = caller.cloud
    with cloud.transaction() as session:
        task_id = imports.begin_import(session, caller.creds, image_id, request, utcnow(cloud.clock))
    background.add_task(imports.run_import, cloud.transaction, config, task_id, lambda: utcnow(cloud.clock))
    return Response(status_code=202)


@router.get("/v2/images/{image_id}/tasks")
def list_tasks(image_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_tasks")
    with caller.cloud.sessions() as session:
        return {"tasks": [render_task(t) for t in imports.list_tasks(session, caller.creds, image_id)]}


@router.get("/v2/tasks")
def list_all_tasks(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Task stubs (Glance leaves ``input`` and ``result`` out of a list), each with its ``self`` link."""
    caller.enforce("image:tasks_api_access")
    params = request.query_params
    limit = params.get("limit")
    if limit is not None and (not limit.isdigit() or int(limit) < 1):
        raise BadRequest("limit param must be a positive integer")
    query = tasks.TaskQuery(type=params.get("type"), status=params.get("status"),
                            sort_key=params.get("sort_key", "created_at"), sort_dir=params.get("sort_dir", "desc"),
                            marker=params.get("marker"), limit=int(limit) if limit else None)
    with caller.cloud.sessions() as session:
        rows = tasks.list_tasks(session, query)
        stubs = [{k: v for k, v in render_task(t).items() if k not in ("input", "result")}
                 | {"self": f"/v2/tasks/{t.id}"} for t in rows]
    body: dict[str, Any] = {"tasks": stubs, "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
    if rows and query.limit is not None and len(rows) == query.limit:
        kept = [(k, v) for k, v in params.multi_items() if k != "marker"] + [("marker", rows[-1].id)]
        body["next"] = f"/v2/tasks?{urlencode(kept)}"
    return body


@router.get("/v2/tasks/{task_id}")
def show_task(task_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:tasks_api_access")
    with caller.cloud.sessions() as session:
        task = tasks.get_task(session, task_id)
        return render_task(task) | {"self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}


@router.get("/v2/info/import")
def import_info(caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": list(config.settings.import_methods)}}


@router.get("/v2/info/stores")
def stores_info(caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    caller.enforce("image:stores_info")
    stores = config.stores
    return {"stores": [{"id": s.name, "description": s.description, **({"default": True}
                                                                        if s.name == stores.default else {})}
                       for s in stores.stores.values()]}
