"""The simulated datacenter: cells → availability zones → racks → hosts, from YAML or a host count.

A datacenter file::

    cells:
      - name: cell1
        zones:
          - name: az1
            racks:
              - name: r1
                hosts: {profile: standard, count: 20}
    profiles:
      standard: {vcpus: 64, ram_mb: 262144, disk_gb: 2000, nic_gbps: 25,
                 cpu_allocation_ratio: 4.0, traits: [HW_CPU_X86_AVX2]}
    behaviour:
      boot_seconds: {kind: lognormal, median: 20, sigma: 0.3}
      spawn_failure_probability: 0.0
    faults:
      crashes:
        - {host: r1-0003, at_seconds: 3600}        # dies an hour into the run
        - {host: r1-0007, during_spawn: 1}         # dies while it builds its first instance
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twinstack.rpc.compute import HostReport, InventoryRecord
from twinstack.sim.distributions import Distribution, Fixed, LogNormal


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostProfile(_Strict):
    vcpus: int = Field(64, gt=0)
    ram_mb: int = Field(262144, gt=0)
    disk_gb: int = Field(2000, gt=0)
    nic_gbps: float = Field(10.0, gt=0, description="Image download bandwidth of a host.")
    reserved_ram_mb: int = Field(512, ge=0)
    cpu_allocation_ratio: float = Field(4.0, gt=0)
    ram_allocation_ratio: float = Field(1.0, gt=0)
    disk_allocation_ratio: float = Field(1.0, gt=0)
    traits: list[str] = Field(default_factory=list)


class HostGroup(_Strict):
    profile: str = "standard"
    count: int = Field(gt=0)


class Rack(_Strict):
    name: str
    hosts: HostGroup


class Zone(_Strict):
    name: str = "nova"
    racks: list[Rack]


class Cell(_Strict):
    name: str = "cell1"
    zones: list[Zone]


class Behaviour(_Strict):
    """How simulated hosts act: operation times and injected faults."""

    boot_seconds: Distribution = Field(default_factory=lambda: LogNormal(median=8.0, sigma=0.25))
    delete_seconds: Distribution = Field(default_factory=lambda: Fixed(value=1.0))
    power_seconds: Distribution = Field(default_factory=lambda: Fixed(value=2.0))
    migrate_seconds: Distribution = Field(default_factory=lambda: LogNormal(median=15.0, sigma=0.3),
                                          description="Moving an instance's disk (cold) or memory (live) "
                                                      "to another host.")
    snapshot_seconds: Distribution = Field(default_factory=lambda: Fixed(value=5.0),
                                           description="Capturing an instance's disk for a snapshot (createImage), "
                                                       "before its upload.")
    snapshot_bytes: int = Field(1 << 20, ge=0, description="Size of the image a snapshot makes (synthetic data, "
                                                            "uploaded at the host's NIC speed).")
    spawn_failure_probability: float = Field(0.0, ge=0, le=1)
    snapshot_failure_probability: float = Field(0.0, ge=0, le=1)
    heartbeat_seconds: float = Field(10.0, gt=0)


class Crash(_Strict):
    """A host that dies (stops answering and heartbeating, losing its instances), at a set moment."""

    host: str
    at_seconds: float | None = Field(None, ge=0, description="Virtual seconds after the agent starts.")
    during_spawn: int | None = Field(None, ge=1, description="Midway through building its Nth instance.")

    @model_validator(mode="after")
    def _one_moment(self) -> Crash:
        if (self.at_seconds is None) == (self.during_spawn is None):
            raise ValueError("a crash names exactly one of at_seconds and during_spawn")
        return self


class Faults(_Strict):
    crashes: list[Crash] = Field(default_factory=list)


class Datacenter(_Strict):
    cells: list[Cell]
    profiles: dict[str, HostProfile] = Field(default_factory=lambda: {"standard": HostProfile()})
    behaviour: Behaviour = Field(default_factory=Behaviour)
    faults: Faults = Field(default_factory=Faults)

    def host_reports(self) -> list[HostReport]:
        """One report per host, named ``<cell>-<zone>-<rack>-<n>`` unless the layout is trivial."""
        reports: list[HostReport] = []
        for cell in self.cells:
            for zone in cell.zones:
                for rack in zone.racks:
                    profile = self.profiles.get(rack.hosts.profile)
                    if profile is None:
                        raise ValueError(f"rack {rack.name} names unknown profile {rack.hosts.profile!r}")
                    for index in range(rack.hosts.count):
                        name = f"{rack.name}-{index:04d}"
                        reports.append(_report(name, cell.name, zone.name, rack.name, profile))
        unknown = sorted({c.host for c in self.faults.crashes} - {r.host for r in reports})
        if unknown:
            raise ValueError(f"faults name hosts the datacenter does not have: {', '.join(unknown)}")
        return reports


def _report(name: str, cell: str, zone: str, rack: str, profile: HostProfile) -> HostReport:
    return HostReport(
        host=name,
        hypervisor_hostname=name,
        cell=cell,
        availability_zone=zone,
        rack=rack,
        inventory={
            "VCPU": InventoryRecord(total=profile.vcpus, allocation_ratio=profile.cpu_allocation_ratio),
            "MEMORY_MB": InventoryRecord(total=profile.ram_mb, reserved=profile.reserved_ram_mb,
                                         allocation_ratio=profile.ram_allocation_ratio),
            "DISK_GB": InventoryRecord(total=profile.disk_gb, allocation_ratio=profile.disk_allocation_ratio),
        },
        traits=["COMPUTE_STATUS_ENABLED", *profile.traits],
    )


def uniform_datacenter(hosts: int, racks_of: int = 40, profile: HostProfile | None = None) -> Datacenter:
    """``--hosts N``: one cell, one zone ('nova'), racks of ``racks_of`` identical hosts."""
    racks = []
    for start in range(0, hosts, racks_of):
        racks.append(Rack(name=f"sim{start // racks_of:03d}", hosts=HostGroup(count=min(racks_of, hosts - start))))
    return Datacenter(cells=[Cell(zones=[Zone(racks=racks)])], profiles={"standard": profile or HostProfile()})


class DatacenterFileError(ValueError):
    """A datacenter file that cannot be used, with the place in the file that is wrong."""


def load_datacenter(path: Path) -> Datacenter:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DatacenterFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        datacenter = Datacenter.model_validate(data)
        datacenter.host_reports()
    except ValidationError as exc:
        where = "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors())
        raise DatacenterFileError(f"{path}: {where}") from exc
    except ValueError as exc:
        raise DatacenterFileError(f"{path}: {exc}") from exc
    return datacenter
