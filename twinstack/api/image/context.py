"""Dependencies of the image API: its configuration (stores, protections) and JSON bodies of any media type."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from twinstack.api.deps import CallerDep
from twinstack.api.openapi_doc import reads_json_body
from twinstack.core.errors import BadRequest
from twinstack.core.image.context import ImageConfig


def get_image_config(request: Request) -> ImageConfig:
    config: ImageConfig = request.app.state.image_config
    return config


ImageConfigDep = Annotated[ImageConfig, Depends(get_image_config)]


@reads_json_body
async def json_body(request: Request, _caller: CallerDep) -> Any:
    """The body as JSON whatever its media type (Glance's patch type is not ``+json``, so FastAPI won't parse it);
    read once the token is checked, so an anonymous request is 401 whatever its body."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise BadRequest("Malformed JSON in request body.") from None


JsonBody = Annotated[Any, Depends(json_body)]
