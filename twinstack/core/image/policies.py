"""The image service's rules, after Glance's defaults: visibility and ownership checks in core do the
fine-grained work (only an owner modifies, only a member accepts); these gate whole actions."""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule, anyone

RULES: dict[str, Rule] = {
    "image:get_images": anyone,
    "image:get_image": anyone,
    "image:add_image": anyone,
    "image:modify_image": anyone,
    "image:delete_image": anyone,
    "image:upload_image": anyone,
    "image:download_image": anyone,
    "image:add_member": anyone,
    "image:get_members": anyone,
    "image:modify_member": anyone,
    "image:delete_member": anyone,
    "image:deactivate": ADMIN,
    "image:reactivate": ADMIN,
    "image:stage_image": anyone,
    "image:import_image": anyone,
    "image:get_tasks": anyone,
    "image:tasks_api_access": ADMIN,
    "image:stores_info": anyone,
}
