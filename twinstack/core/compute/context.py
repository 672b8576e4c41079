"""What the compute API needs from a running compute plane, whatever backend the plane drives."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.core.compute.service import ComputeService
from twinstack.core.compute.stores import HostStore, InstanceStore, Placement


@dataclass
class ComputeContext:
    service: ComputeService
    instances: InstanceStore
    hosts: HostStore
    placement: Placement
    service_down_time: float = 60.0
