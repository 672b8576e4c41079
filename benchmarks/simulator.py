"""Offline simulator throughput: instance lifecycles and events per wall second, and peak memory.

    python -m benchmarks.simulator [--hosts 1000 10000] [--days 30] [--per-host 100] [--profile]
                                   [--json out.json]

Each size runs in its own process (so its peak RSS is its own): a uniform fleet (64 vCPU x4.0, 256 GiB,
2 TB; racks of 40 over 4 zones) for ``--days`` simulated days, with ``--per-host`` x hosts requests from a
diurnal Poisson stream of m1.small..m1.xlarge whose lognormal lifetimes hold the fleet about 65% full of RAM
once warm, and host failures (MTBF 180 days, MTTR ~6 h). Every request takes the production path:
ComputeService -> bus -> Conductor -> FilterScheduler -> ColumnarPlacement -> SimAgent, and back.

The goal (issue 4) is 1,000,000 lifecycles at 10,000 hosts over 30 days in under 2 minutes on one core and
2 GiB. ``--profile`` prints the cProfile top functions of each run (cumulative, or ``--profile-sort tottime``), to
say where time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MIX = {"m1.small": 4, "m1.medium": 4, "m1.large": 3, "m1.xlarge": 2}
RAM = {"m1.small": 2048, "m1.medium": 4096, "m1.large": 8192, "m1.xlarge": 16384}
HOST_RAM = 262144 - 512
SIGMA = 0.6


def scenario_for(hosts: int, days: float, requests: int, fill: float = 0.65) -> dict[str, Any]:
    """A scenario mapping: ``requests`` arrivals over ``days``, lifetimes sized to keep ``fill`` of RAM in use."""
    duration = days * 86400.0
    rate_per_second = requests / duration
    mean_ram = sum(MIX[f] * RAM[f] for f in MIX) / sum(MIX.values())
    live = fill * hosts * HOST_RAM / mean_ram
    mean_life = live / rate_per_second
    median = mean_life / math.exp(SIGMA ** 2 / 2)
    return {
        "name": f"bench-{hosts}", "seed": 1, "duration": duration, "sample_every": 7200,
        "datacenter": {"hosts": hosts, "racks_of": 40, "zones": 4,
                       "profile": {"vcpus": 64, "ram_mb": 262144, "disk_gb": 2000, "cpu_allocation_ratio": 4.0}},
        "workload": [{"kind": "poisson", "rate": rate_per_second * 3600, "pattern": {"diurnal": 0.3},
                      "flavors": MIX, "lifetime": {"kind": "lognormal", "median": median, "sigma": SIGMA}}],
        "failures": {"hosts": {"mtbf": {"kind": "exponential", "mean": "180d"},
                               "mttr": {"kind": "lognormal", "median": "6h", "sigma": 0.5}}},
    }


def run_one(hosts: int, days: float, requests: int, profile: bool, sort: str = "cumulative") -> dict[str, Any]:
    from twinstack.sim.offline.marked_yaml import Marks
    from twinstack.sim.offline.progress import Progress
    from twinstack.sim.offline.run import simulate
    from twinstack.sim.offline.scenario import validate

    loaded = validate(scenario_for(hosts, days, requests), Path("benchmark.yaml"), Marks())
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = simulate(loaded, Progress(f"{hosts} hosts", loaded.scenario.duration))
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    summary = result.summary
    row = {
        "hosts": hosts, "days": days, "requests": summary["requests"]["arrivals"],
        "lifecycles_completed": summary["requests"]["deleted"], "events": result.events,
        "messages": summary["messages"], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "requests_per_wall_s": round(summary["requests"]["arrivals"] / wall),
        "requests_per_cpu_s": round(summary["requests"]["arrivals"] / cpu),
        "events_per_wall_s": round(result.events / wall),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "mean_ram_util": round(summary["utilisation"]["ram"]["mean_util"], 3),
        "refusal_rate": round(summary["refusal_rate"], 5),
    }
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(45)
        row["profile"] = out.getvalue()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--per-host", type=float, default=100.0, help="Requests per host over the run.")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-sort", default="cumulative", choices=["cumulative", "tottime"],
                        help="Order of the profile's functions: time under each, or time in each itself.")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.days, int(args.one * args.per_host), args.profile, args.profile_sort)))
        return
    rows = []
    for hosts in args.hosts:
        command = [sys.executable, "-m", "benchmarks.simulator", "--one", str(hosts), "--days", str(args.days),
                   "--per-host", str(args.per_host)]
        if args.profile:
            command += ["--profile", "--profile-sort", args.profile_sort]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'hosts':>6} {'days':>5} {'requests':>9} {'completed':>9} {'wall s':>8} {'cpu s':>8} {'req/wall s':>10} "
          f"{'req/cpu s':>9} {'events/s':>9} {'peak MiB':>8} {'RAM use':>7} {'refused':>8}")
    for r in rows:
        print(f"{r['hosts']:>6} {r['days']:>5g} {r['requests']:>9,} {r['lifecycles_completed']:>9,} "
              f"{r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['requests_per_wall_s']:>10,} {r['requests_per_cpu_s']:>9,} "
              f"{r['events_per_wall_s']:>9,} {r['peak_rss_mib']:>8,} {r['mean_ram_util']:>7.1%} "
              f"{r['refusal_rate']:>8.2%}")
        if "profile" in r:
            print(r["profile"])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
