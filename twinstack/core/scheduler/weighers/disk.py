"""DiskWeigher: free disk."""

from __future__ import annotations

from twinstack.core.scheduler.weighers.ram import RAMWeigher


class DiskWeigher(RAMWeigher):
    """Free DISK_GB, Nova's DiskWeigher."""

    resource_class = "DISK_GB"
