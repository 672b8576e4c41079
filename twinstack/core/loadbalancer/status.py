"""Provisioning and operating statuses, as Octavia names them.

Provisioning: a change puts the object (and its load balancer) in PENDING_CREATE, PENDING_UPDATE or
PENDING_DELETE; the worker settles it to ACTIVE (or removes it) when the amphora driver has applied it, or to
ERROR when it could not. While anything of a load balancer is PENDING_*, the load balancer is immutable.
"""

from __future__ import annotations

ACTIVE = "ACTIVE"
ERROR = "ERROR"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
PENDING = (PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE)
MUTABLE = (ACTIVE, ERROR)

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
NO_MONITOR = "NO_MONITOR"


def operating(admin_state_up: bool, when_up: str = ONLINE) -> str:
    return when_up if admin_state_up else OFFLINE
