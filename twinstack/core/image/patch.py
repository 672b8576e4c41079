"""Image v2's JSON-patch (media type ``application/openstack-images-v2.1-json-patch``), parsed.

Only ``add``, ``replace`` and ``remove`` exist; a path is a JSON pointer to one attribute
(``/name``, ``/hw_disk_bus``) or to a location (``/locations/-``, ``/locations/0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from twinstack.core.errors import BadRequest

MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
OPS = ("add", "replace", "remove")
Op = Literal["add", "replace", "remove"]


@dataclass(frozen=True)
class Change:
    op: Op
    path: tuple[str, ...]
    value: Any = None


def _pointer(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, str) or not raw.startswith("/") or raw == "/":
        raise BadRequest(f"Invalid JSON pointer for this resource: '{raw}'")
    parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in raw[1:].split("/"))
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "locations") or not all(parts):
        raise BadRequest(f"Invalid JSON pointer for this resource: '{raw}'")
    return parts


def parse_patch(body: Any) -> list[Change]:
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for item in body:
        if not isinstance(item, dict) or "op" not in item or "path" not in item:
            raise BadRequest("Operation objects must contain 'op' and 'path'.")
        op = item["op"]
        if op not in OPS:
            raise BadRequest(f"Invalid operation: `{op}`: it must be one of {', '.join(OPS)}.")
        if op != "remove" and "value" not in item:
            raise BadRequest(f"Operation objects must contain 'value' for op `{op}`.")
        changes.append(Change(op, _pointer(item["path"]), item.get("value")))
    return changes
