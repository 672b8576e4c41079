"""The rules of Nova's admin and operations APIs, after Nova's defaults.

Hosts, services, aggregates and the zones' detail are the admin's; server groups, quotas, limits
and usage are a project's own to read (targets carry the group's or the quota's ``project_id``),
and only the admin changes quotas or looks at another project's.
"""

from __future__ import annotations

from twinstack.core.compute.policies import PROJECT_MEMBER_OR_ADMIN, PROJECT_READER_OR_ADMIN
from twinstack.core.policy import ADMIN, Rule, anyone

HYPERVISORS = "os_compute_api:os-hypervisors:"
SERVICES = "os_compute_api:os-services:"
ZONES = "os_compute_api:os-availability-zone:"
AGGREGATES = "os_compute_api:os-aggregates:"
GROUPS = "os_compute_api:os-server-groups:"
QUOTAS = "os_compute_api:os-quota-sets:"
LIMITS = "os_compute_api:limits"
USAGE = "os_compute_api:os-simple-tenant-usage:"

RULES: dict[str, Rule] = {
    **{HYPERVISORS + action: ADMIN
       for action in ("list", "list-detail", "show", "statistics", "uptime", "search", "servers")},
    **{SERVICES + action: ADMIN for action in ("list", "update", "delete")},
    ZONES + "list": anyone,
    ZONES + "detail": ADMIN,
    **{AGGREGATES + action: ADMIN
       for action in ("index", "create", "show", "update", "delete", "add_host", "remove_host", "set_metadata")},
    GROUPS + "index": PROJECT_READER_OR_ADMIN,
    GROUPS + "index:all_projects": ADMIN,
    GROUPS + "show": PROJECT_READER_OR_ADMIN,
    GROUPS + "create": PROJECT_MEMBER_OR_ADMIN,
    GROUPS + "delete": PROJECT_MEMBER_OR_ADMIN,
    QUOTAS + "show": PROJECT_READER_OR_ADMIN,
    QUOTAS + "detail": PROJECT_READER_OR_ADMIN,
    QUOTAS + "defaults": anyone,
    QUOTAS + "update": ADMIN,
    QUOTAS + "delete": ADMIN,
    LIMITS: anyone,
    LIMITS + ":other_project": ADMIN,
    USAGE + "list": ADMIN,
    USAGE + "show": PROJECT_READER_OR_ADMIN,
}
