"""Provisioning and operating statuses as the simulated data plane sets them."""

from __future__ import annotations

ACTIVE = "ACTIVE"
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
NO_MONITOR = "NO_MONITOR"


def operating(admin_state_up: bool, when_up: str = ONLINE) -> str:
    return when_up if admin_state_up else OFFLINE
