"""CPUWeigher: free vCPUs."""

from __future__ import annotations

from twinstack.core.scheduler.weighers.ram import RAMWeigher


class CPUWeigher(RAMWeigher):
    """Free VCPU (total * cpu_allocation_ratio - reserved - used), Nova's CPUWeigher."""

    resource_class = "VCPU"
