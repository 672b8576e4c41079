"""Compute API (Nova v2.1): /limits — the caller's project's absolute limits and what it uses of them.

No rate limits (Nova has none either). An admin may ask for another project with ``tenant_id``.
Fields follow the quota sets' microversion rules (nova-network's gone at 2.36, maxImageMeta at
2.39, the personality files' at 2.57).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.compute.common import v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.quotas import hidden
from twinstack.api.deps import CallerDep
from twinstack.core.compute import quotas
from twinstack.core.compute.admin_policies import LIMITS
from twinstack.core.errors import Forbidden

router = APIRouter(prefix="/v2.1")

ABSOLUTE = (
    ("ram", "maxTotalRAMSize"), ("instances", "maxTotalInstances"), ("cores", "maxTotalCores"),
    ("key_pairs", "maxTotalKeypairs"), ("floating_ips", "maxTotalFloatingIps"), ("metadata_items", "maxServerMeta"),
    ("metadata_items", "maxImageMeta"), ("injected_files", "maxPersonality"),
    ("injected_file_content_bytes", "maxPersonalitySize"), ("security_groups", "maxSecurityGroups"),
    ("security_group_rules", "maxSecurityGroupRules"), ("server_groups", "maxServerGroups"),
    ("server_group_members", "maxServerGroupMembers"),
)
"""(quota resource, limit name), as Nova's limits view names them."""
USED = (
    ("ram", "totalRAMUsed"), ("cores", "totalCoresUsed"), ("instances", "totalInstancesUsed"),
    ("floating_ips", "totalFloatingIpsUsed"), ("security_groups", "totalSecurityGroupsUsed"),
    ("server_groups", "totalServerGroupsUsed"),
)


@router.get("/limits")
def show_limits(request: Request, caller: CallerDep, version: MicroversionDep, compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(LIMITS)
    project_id = caller.creds.project_id
    asked = request.query_params.get("tenant_id")
    if asked is not None:
        caller.enforce(LIMITS + ":other_project", {"project_id": asked})
        project_id = asked
    if project_id is None:
        raise Forbidden("Limits are a project's: use a project-scoped token or name the project with tenant_id.")
    limits = quotas.limits_of(compute.quotas, project_id)
    usage = compute.quotas.usage(project_id)
    gone = hidden(version)
    absolute: dict[str, int] = {name: limits[resource] for resource, name in ABSOLUTE
                                if resource not in gone and not (name == "maxImageMeta" and version >= v(39))}
    absolute |= {name: usage.get(resource, 0) for resource, name in USED if resource not in gone}
    return {"limits": {"rate": [], "absolute": absolute}}
