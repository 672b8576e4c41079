"""Small hand-made host sets for the scheduler tests."""

from __future__ import annotations

import random
from typing import Any

from twinstack.core.compute.model import Aggregate, ComputeHost
from twinstack.core.compute.stores import RequestSpec
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.rpc.compute import FlavorSpec, ImageSpec

SMALL = FlavorSpec(id="1", name="small", vcpus=1, ram_mb=1024, disk_gb=10)


def host(name: str, vcpus: int = 8, ram_mb: int = 16384, disk_gb: int = 100, *, zone: str = "nova",
         cell: str = "cell1", rack: str | None = "r1", traits: list[str] | None = None, hypervisor: str = "QEMU",
         cpu_ratio: float = 1.0, disabled: bool = False, forced_down: bool = False, heartbeat: float = 0.0,
         **inventory: dict[str, Any]) -> ComputeHost:
    return ComputeHost(
        host=name, agent="test", cell=cell, availability_zone=zone, rack=rack, hypervisor_type=hypervisor,
        hypervisor_hostname=name, host_ip="127.0.0.1",
        inventory={"VCPU": {"total": vcpus, "allocation_ratio": cpu_ratio}, "MEMORY_MB": {"total": ram_mb},
                   "DISK_GB": {"total": disk_gb}, **inventory},
        traits=list(traits or []), last_heartbeat=heartbeat, disabled=disabled, forced_down=forced_down)


def flavor(vcpus: int = 1, ram_mb: int = 1024, disk_gb: int = 10, **extra_specs: str) -> FlavorSpec:
    return FlavorSpec(id=f"f{vcpus}-{ram_mb}-{disk_gb}", name="f", vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb,
                      extra_specs=dict(extra_specs))


def image(**properties: str) -> ImageSpec:
    return ImageSpec(id="img", properties=dict(properties))


_serial = iter(range(1_000_000))


def spec(flavor_spec: FlavorSpec = SMALL, uuid: str | None = None, **fields: Any) -> RequestSpec:
    return RequestSpec(instance_uuid=uuid or f"vm-{next(_serial)}", project_id=fields.pop("project_id", "p"),
                       user_id="u", flavor=flavor_spec, **fields)


def aggregate(id: int, hosts: set[str], zone: str | None = None, **metadata: str) -> Aggregate:
    return Aggregate(id=id, uuid=f"agg-{id}", name=f"agg{id}", availability_zone=zone, hosts=set(hosts),
                     metadata=dict(metadata))


def cloud(*hosts: ComputeHost, aggregates: list[Aggregate] | None = None, seed: int = 0,
          **settings: Any) -> tuple[ColumnarPlacement, FilterScheduler]:
    placement = ColumnarPlacement()
    for h in hosts:
        placement.register_host(h)
    if aggregates:
        placement.state.set_aggregates(aggregates)
    options = {"host_refresh_seconds": None, **settings}
    return placement, FilterScheduler(placement, SchedulerSettings(**options), rng=random.Random(seed))
