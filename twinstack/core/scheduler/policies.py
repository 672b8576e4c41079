"""Who may use the Placement API: the admin only, for every action (Placement's historical default)."""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule

ACTIONS = (
    "placement:resource_providers:list",
    "placement:resource_providers:create",
    "placement:resource_providers:show",
    "placement:resource_providers:update",
    "placement:resource_providers:delete",
    "placement:resource_providers:inventories:list",
    "placement:resource_providers:inventories:create",
    "placement:resource_providers:inventories:show",
    "placement:resource_providers:inventories:update",
    "placement:resource_providers:inventories:delete",
    "placement:resource_providers:aggregates:list",
    "placement:resource_providers:aggregates:update",
    "placement:resource_providers:usages",
    "placement:resource_providers:traits:list",
    "placement:resource_providers:traits:update",
    "placement:resource_providers:traits:delete",
    "placement:resource_providers:allocations:list",
    "placement:allocations:list",
    "placement:allocations:manage",
    "placement:allocations:update",
    "placement:allocations:delete",
    "placement:resource_classes:list",
    "placement:resource_classes:create",
    "placement:resource_classes:show",
    "placement:resource_classes:update",
    "placement:resource_classes:delete",
    "placement:traits:list",
    "placement:traits:show",
    "placement:traits:update",
    "placement:traits:delete",
    "placement:usages",
    "placement:allocation_candidates:list",
    "placement:reshaper:reshape",
)

RULES: dict[str, Rule] = dict.fromkeys(ACTIONS, ADMIN)
