"""The block storage service's rules, after Cinder's defaults: project members use their project's volumes,
readers look at them, admins do everything (types, quotas for others, status resets, pools)."""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule, all_of, any_of, anyone, project_scoped_to, role

_in_project = project_scoped_to("project_id")
MEMBER = any_of(ADMIN, all_of(role("member"), _in_project))
READER = any_of(ADMIN, all_of(role("reader"), _in_project))

RULES: dict[str, Rule] = {
    "volume:create": MEMBER,
    "volume:get": READER,
    "volume:get_all": READER,
    "volume:update": MEMBER,
    "volume:delete": MEMBER,
    "volume:force_delete": ADMIN,
    "volume:extend": MEMBER,
    "volume:retype": MEMBER,
    "volume:update_metadata": MEMBER,
    "volume:set_bootable": MEMBER,
    "volume:attach": MEMBER,
    "volume:reset_status": ADMIN,
    "volume:all_tenants": ADMIN,
    "volume_extension:volume_host_attribute": ADMIN,
    "volume:create_snapshot": MEMBER,
    "volume:get_snapshot": READER,
    "volume:update_snapshot": MEMBER,
    "volume:delete_snapshot": MEMBER,
    "volume:snapshot_reset_status": ADMIN,
    "volume:attachment_create": MEMBER,
    "volume:attachment_get": READER,
    "volume:attachment_update": MEMBER,
    "volume:attachment_delete": MEMBER,
    "volume:attachment_complete": MEMBER,
    "volume_extension:types_manage": ADMIN,
    "volume_extension:types_extra_specs:read": anyone,
    "volume_extension:type_get": anyone,
    "volume_extension:quotas:show": READER,
    "volume_extension:quotas:update": ADMIN,
    "volume_extension:quotas:delete": ADMIN,
    "scheduler_extension:scheduler_stats:get_pools": ADMIN,
    "volume_extension:services:index": ADMIN,
    "message:get_all": READER,
    "message:delete": MEMBER,
    "limits_extension:used_limits": READER,
    "volume:availability_zone": anyone,
}
