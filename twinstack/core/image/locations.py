"""Changing an image's locations through JSON-patch, with Glance's gating.

Locations are visible and changeable only when ``show_multiple_locations`` is on, and then only
to the image's owner (adding) or an admin (removing, and adding ``file://`` locations). A new
location must be readable now; the first one makes a queued image active. The last location may
not be removed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.patch import Change
from twinstack.db.models.image import ImageRow


def _index(raw: str, size: int, adding: bool) -> int:
    if raw == "-" and adding:
        return size
    if not raw.isdigit() or int(raw) > size or (not adding and int(raw) >= size):
        raise BadRequest(f"Invalid location index: {raw}")
    return int(raw)


def _location(config: ImageConfig, value: Any, is_admin: bool) -> tuple[dict[str, Any], int | None]:
    """A checked location; only admins may point at files in our stores (else one could read another's image)."""
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise BadRequest("A location is an object with 'url' and 'metadata'.")
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        raise BadRequest("Location metadata must be an object.")
    url = value["url"]
    if urlparse(url).scheme == "file" and not is_admin:
        raise Forbidden("Only an admin may add a file location.")
    size = config.stores.check_location(url)
    store = config.stores.store_of(url)
    return {"url": url, "metadata": {**metadata, **({"store": store} if store else {})}}, size


def apply_location_change(config: ImageConfig, row: ImageRow, locations: list[dict[str, Any]], change: Change,
                          is_admin: bool) -> list[dict[str, Any]]:
    """``locations`` after ``change``, for a caller who may modify the image (its owner or an admin).

    May set ``row.size`` and ``row.status`` when the first location arrives.
    """
    verb = {"add": "add", "replace": "replace", "remove": "remove"}[change.op]
    if not config.settings.show_multiple_locations:
        raise Forbidden(f"It's not allowed to {verb} locations if locations are invisible.")
    if change.op == "remove" and not is_admin:
        raise Forbidden(f"You are not authorized to {verb} image locations.")
    if row.status not in ("queued", "active"):
        raise Forbidden(f"It's not allowed to {verb} locations if image status is {row.status}.")
    result = list(locations)
    if change.op == "remove":
        if len(change.path) != 2:
            raise Forbidden("Cannot remove all locations of an image.")
        index = _index(change.path[1], len(result), adding=False)
        if len(result) == 1:
            raise Forbidden("Cannot remove last location in the image.")
        del result[index]
        return result
    if change.op == "replace":
        if len(change.path) != 1 or not isinstance(change.value, list) or not change.value:
            raise Forbidden("Cannot set locations to empty list.")
        if result and [loc["url"] for loc in result] != [v.get("url") for v in change.value if isinstance(v, dict)]:
            raise BadRequest("Locations may only be replaced on an image that has none.")
        added = [_location(config, value, is_admin) for value in change.value]
        result = [loc for loc, _ in added]
        sizes = [size for _, size in added]
    else:
        if len(change.path) != 2:
            raise BadRequest("Add a location at '/locations/-' or '/locations/<index>'.")
        location, size = _location(config, change.value, is_admin)
        if any(loc["url"] == location["url"] for loc in result):
            raise BadRequest(f"Duplicate location: {location['url']}")
        result.insert(_index(change.path[1], len(result), adding=True), location)
        sizes = [size]
    if row.status == "queued":
        row.size = row.size if row.size is not None else next((s for s in sizes if s is not None), None)
        row.status = "active"
    return result
