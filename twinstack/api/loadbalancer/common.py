"""What the Octavia routers share: the timestamp format, the standard fields, and list answers at
``/v2/lbaas/<collection>`` with Neutron-style filters, sorting, pages and ``fields``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from twinstack.api.network.listing import respond


def octavia_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def standard(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "project_id": row.project_id, "tenant_id": row.project_id,
            "admin_state_up": row.admin_state_up, "provisioning_status": row.provisioning_status,
            "operating_status": row.operating_status, "tags": list(row.tags),
            "created_at": octavia_time(row.created_at), "updated_at": octavia_time(row.updated_at)}


def listed(request: Request, collection: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return respond(request, collection, items, path=f"/v2/lbaas/{collection}", timestamps=False)
