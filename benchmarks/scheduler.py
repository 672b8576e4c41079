"""Scheduler: one decision plus its claim, at 1,000 and 10,000 hosts, on the memory (simulation) path.

    python -m benchmarks.scheduler [--hosts 1000 10000] [--decisions 5000] [--fill 0.5] [--seed 1]
                                   [--profile] [--json out.json]

Each host is a compute node (64 vCPU x4.0, 256 GiB RAM less 512 MiB reserved, 2 TB disk) in one of 4
availability zones and one of 2 cells, with a few traits. The cloud is first filled to ``--fill`` of its RAM
with a mix of flavors (m1.tiny .. m1.xlarge, weighted toward the small ones); then each timed round is one
``FilterScheduler.select_destinations`` (every default filter and weigher, 2 alternates) for a random flavor,
followed, untimed, by the release of a random running instance, so the cloud stays at its fill level.

Scenarios per size: spread (Nova's default multipliers), pack (RAM/CPU/disk multipliers -1) and a request
with an availability zone, an anti-affinity group and a required trait (more filters active).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.stats import percentile
from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.stores import NoValidHost, RequestSpec
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.settings import DEFAULT_WEIGHERS, SchedulerSettings
from twinstack.rpc.compute import FlavorSpec

FLAVORS = [
    (FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1), 4),
    (FlavorSpec(id="2", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20), 4),
    (FlavorSpec(id="3", name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=40), 3),
    (FlavorSpec(id="4", name="m1.large", vcpus=4, ram_mb=8192, disk_gb=80), 2),
    (FlavorSpec(id="5", name="m1.xlarge", vcpus=8, ram_mb=16384, disk_gb=160), 1),
]
ZONES = ["az1", "az2", "az3", "az4"]


def make_hosts(count: int) -> list[ComputeHost]:
    hosts = []
    for i in range(count):
        traits = ["COMPUTE_STATUS_ENABLED", "HW_CPU_X86_AVX2"] + (["STORAGE_DISK_SSD"] if i % 3 == 0 else [])
        hosts.append(ComputeHost(
            host=f"h{i:05d}", agent="bench", cell=f"cell{i % 2 + 1}", availability_zone=ZONES[i % len(ZONES)],
            rack=f"r{i // 40:03d}", hypervisor_type="QEMU", hypervisor_hostname=f"h{i:05d}", host_ip="127.0.0.1",
            inventory={"VCPU": {"total": 64, "allocation_ratio": 4.0},
                       "MEMORY_MB": {"total": 262144, "reserved": 512},
                       "DISK_GB": {"total": 2000}},
            traits=traits, last_heartbeat=0.0))
    return hosts


@dataclass
class Rig:
    placement: ColumnarPlacement
    scheduler: FilterScheduler
    running: list[str]
    rng: random.Random
    flavors: list[tuple[FlavorSpec, int]]
    serial: int = 0

    def spec(self, flavor: FlavorSpec, **extra: Any) -> RequestSpec:
        self.serial += 1
        return RequestSpec(instance_uuid=f"vm-{self.serial}", project_id="p", user_id="u", flavor=flavor, **extra)

    def flavor(self) -> FlavorSpec:
        return self.rng.choices([f for f, _ in self.flavors], weights=[w for _, w in self.flavors])[0]


def build(hosts: int, fill: float, seed: int, settings: SchedulerSettings) -> Rig:
    placement = ColumnarPlacement()
    for host in make_hosts(hosts):
        placement.register_host(host)
    rig = Rig(placement, FilterScheduler(placement, settings, rng=random.Random(seed)), [], random.Random(seed),
              FLAVORS)
    state = placement.state
    ram = state.resource_classes.get("MEMORY_MB")
    assert ram is not None
    goal = fill * float(state.capacity[ram].sum())
    used = 0.0
    while used < goal:
        spec = rig.spec(rig.flavor())
        try:
            rig.scheduler.select_destinations(spec)
        except NoValidHost:
            break
        rig.running.append(spec.instance_uuid)
        used += spec.flavor.ram_mb
    return rig


def run(rig: Rig, decisions: int, extra: dict[str, Any]) -> list[float]:
    """Seconds per decision + claim; each followed (untimed) by one release, keeping the fill level."""
    timings: list[float] = []
    clock = time.perf_counter
    refused = 0
    for _ in range(decisions):
        spec = rig.spec(rig.flavor(), **extra)
        start = clock()
        try:
            rig.scheduler.select_destinations(spec)
        except NoValidHost:
            refused += 1
        else:
            rig.running.append(spec.instance_uuid)
        timings.append(clock() - start)
        victim = rig.running.pop(rig.rng.randrange(len(rig.running)))
        rig.placement.release(victim)
    return timings


SCENARIOS: dict[str, tuple[dict[str, float], dict[str, Any]]] = {
    "spread": (dict(DEFAULT_WEIGHERS), {}),
    "pack": ({**DEFAULT_WEIGHERS, "RAMWeigher": -1.0, "CPUWeigher": -1.0, "DiskWeigher": -1.0}, {}),
    "az+anti-affinity+trait": (dict(DEFAULT_WEIGHERS), {
        "availability_zone": "az2", "server_group_policy": "anti-affinity",
        "server_group_hosts": frozenset({"h00001", "h00005", "h00009"}),
        "flavor_traits": "STORAGE_DISK_SSD"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--fill", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--profile", action="store_true", help="print the cProfile top of each run")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    print(f"{'hosts':>7} {'scenario':<24} {'median µs':>10} {'p99 µs':>9} {'mean µs':>9} {'decisions/s':>12}"
          f" {'fill':>6}", flush=True)
    for hosts in args.hosts:
        for name in args.scenarios:
            weighers, extra = SCENARIOS[name]
            extra = dict(extra)
            trait = extra.pop("flavor_traits", None)
            settings = SchedulerSettings(weighers=weighers, host_refresh_seconds=None)
            rig = build(hosts, args.fill, args.seed, settings)
            if trait is not None:
                rig.flavors = [(f.model_copy(update={"extra_specs": {f"trait:{trait}": "required"}}), w)
                               for f, w in FLAVORS]
            run(rig, min(500, args.decisions), extra)  # warm up
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            timings = run(rig, args.decisions, extra)
            if profiler is not None:
                profiler.disable()
            timings.sort()
            state = rig.placement.state
            ram = state.resource_classes.get("MEMORY_MB")
            assert ram is not None
            fill = float(state.used[ram].sum() / state.capacity[ram].sum())
            row = {"hosts": hosts, "scenario": name, "median_us": statistics.median(timings) * 1e6,
                   "p99_us": percentile(timings, 0.99) * 1e6,
                   "mean_us": statistics.fmean(timings) * 1e6,
                   "decisions_per_s": len(timings) / sum(timings), "fill": fill}
            rows.append(row)
            print(f"{hosts:>7} {name:<24} {row['median_us']:>10.1f} {row['p99_us']:>9.1f} {row['mean_us']:>9.1f}"
                  f" {row['decisions_per_s']:>12.0f} {fill:>6.1%}", flush=True)
            if profiler is not None:
                pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
