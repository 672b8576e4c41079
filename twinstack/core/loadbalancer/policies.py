"""The load-balancing service's rules, after Octavia's defaults: members of a project (admins of any)
manage their own objects; readers read; visibility is by project, in core."""

from __future__ import annotations

from twinstack.core.policy import ADMIN, Rule, any_of, anyone, role

MEMBER = any_of(ADMIN, role("member"))

RULES: dict[str, Rule] = {}
for _kind in ("loadbalancer", "listener", "pool", "member", "healthmonitor"):
    RULES[f"os_load-balancer_api:{_kind}:get_one"] = anyone
    RULES[f"os_load-balancer_api:{_kind}:get_all"] = anyone
    for _verb in ("post", "put", "delete"):
        RULES[f"os_load-balancer_api:{_kind}:{_verb}"] = MEMBER
