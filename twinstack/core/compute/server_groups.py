"""Server groups: a policy over their members that the scheduler honours.

* affinity / anti-affinity: every member on one host / no two on one (or at most
  ``max_server_per_host``, microversion 2.64) — a build that cannot comply ends in NoValidHost;
* soft-affinity / soft-anti-affinity (2.15): the same as a preference the weighers apply.

A server joins with the ``group`` scheduler hint when it is created (the Admission checks the
group's size within the same atomic step that records the server) and leaves when it is deleted.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping

from twinstack.core.compute import quotas
from twinstack.core.compute.model import ServerGroup
from twinstack.core.compute.stores import QuotaStore, ServerGroupStore
from twinstack.core.errors import BadRequest, NotFound

POLICIES = ("affinity", "anti-affinity")
SOFT_POLICIES = ("soft-affinity", "soft-anti-affinity")
"""Accepted from microversion 2.15."""
RULES = ("max_server_per_host",)
"""Rules a group may carry (2.64), all for anti-affinity only."""


class GroupNotFound(NotFound):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"Instance group {uuid} could not be found.")


def create_group(groups: ServerGroupStore, limits: QuotaStore, name: str, policy: str, project_id: str,
                 user_id: str, now: float, rules: Mapping[str, int] | None = None) -> ServerGroup:
    """A new, empty group in the caller's project, within its ``server_groups`` quota (403 beyond)."""
    if policy not in POLICIES + SOFT_POLICIES:
        raise BadRequest(f"Invalid input for field/attribute policy. Value: {policy}.")
    rules = dict(rules or {})
    if rules and policy != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise BadRequest(f"Invalid input for field/attribute rules. Additional properties are not allowed "
                         f"({', '.join(repr(k) for k in unknown)} was unexpected)")
    if any(value < 1 for value in rules.values()):
        raise BadRequest("Invalid input for field/attribute max_server_per_host. Value: must be 1 or more.")
    group = ServerGroup(uuid=str(uuidlib.uuid4()), name=name, policy=policy, project_id=project_id,
                        user_id=user_id, rules=rules, created_at=now)
    groups.create(group, quotas.limits_of(limits, project_id)["server_groups"])
    return group


def get_group(groups: ServerGroupStore, uuid: str) -> ServerGroup:
    found = groups.get(uuid)
    if found is None:
        raise GroupNotFound(uuid)
    return found


def delete_group(groups: ServerGroupStore, uuid: str) -> None:
    """The group goes; its members stay where they run, in no group."""
    if not groups.delete(uuid):
        raise GroupNotFound(uuid)
