"""What the real host offers, read from the machine: CPUs, memory and the disk under the state directory.

Reported once at registration as placement inventories (VCPU, MEMORY_MB, DISK_GB), as Nova's libvirt
driver reports them from the hypervisor.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from twinstack.rpc.compute import HostReport, InventoryRecord


def memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no MemTotal in {meminfo}")


def host_ip() -> str:
    """The address other hosts would reach this one at (the source of the default route), else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, only a route is chosen
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def host_report(host: str, state_dir: Path, virt_type: str, reserved_memory_mb: int,
                cpu_allocation_ratio: float) -> HostReport:
    cpus = os.cpu_count() or 1
    disk_gb = shutil.disk_usage(state_dir).total // 2**30
    inventory = {
        "VCPU": InventoryRecord(total=cpus, max_unit=cpus, allocation_ratio=cpu_allocation_ratio),
        "MEMORY_MB": InventoryRecord(total=memory_mb(), reserved=reserved_memory_mb, allocation_ratio=1.0),
        "DISK_GB": InventoryRecord(total=max(disk_gb, 1), allocation_ratio=1.0),
    }
    # hypervisor_type is what `openstack hypervisor show` prints: it says whether guests run under KVM or TCG
    return HostReport(host=host, hypervisor_type="KVM" if virt_type == "kvm" else "QEMU", hypervisor_hostname=host,
                      host_ip=host_ip(), inventory=inventory,
                      traits=["COMPUTE_NODE", f"CUSTOM_VIRT_TYPE_{virt_type.upper()}"])
