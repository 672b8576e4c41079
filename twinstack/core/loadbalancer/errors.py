"""Octavia's faults, by the object they are about."""

from __future__ import annotations

from twinstack.core.errors import CloudError, Conflict, NotFound


class ObjectNotFound(NotFound):
    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id} not found.")


class ImmutableObject(Conflict):
    """A change while the load balancer (or the object) is PENDING_*: Octavia's 409."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id} is immutable and cannot be updated.")


class ProvisioningUnavailable(CloudError):
    """No worker to provision changes (no control plane runs): refused before anything is recorded."""

    status = 503
    title = "Service Unavailable"

    def __init__(self) -> None:
        super().__init__("The load-balancing workers are not running.")
