"""Conservation: every request is accounted for, no host ever holds more than it has, every release happens."""

from __future__ import annotations

from pathlib import Path

from tests.sim.simulate_support import run_text

BUSY = """
name: busy
seed: 11
duration: 1d
sample_every: 2m
heartbeat_seconds: 60
conductor: {service_down_time: 180, check_interval: 30}
datacenter:
  hosts: 12
  racks_of: 4
  zones: 2
  profile: {vcpus: 16, ram_mb: 32768, disk_gb: 500, cpu_allocation_ratio: 2.0}
workload:
  - kind: poisson
    rate: 60/h
    pattern: {diurnal: 0.8}
    flavors: {m1.small: 3, m1.medium: 3, m1.large: 2, m1.xlarge: 1}
    lifetime: {kind: lognormal, median: 3h, sigma: 1.0}
    availability_zones: {az1: 2, az2: 1}
  - kind: burst
    at: 6h
    count: 10
    over: 5m
    flavors: {m1.large: 1}
    lifetime: {kind: empirical, values: [10m, 1h, 2h], weights: [1, 2, 1]}
    group: {policy: anti-affinity, size: 3}
failures:
  hosts: {mtbf: {kind: exponential, mean: 3d}, mttr: {kind: fixed, value: 1h}}
  rack_power_loss: [{rack: r001, at: 12h, duration: 1h}]
  spawn_failure_probability: 0.05
"""


def test_every_arrival_ends_accepted_refused_failed_or_cancelled(tmp_path: Path) -> None:
    result = run_text(tmp_path, BUSY)
    r = result.summary["requests"]
    assert r["arrivals"] > 1000 and r["refused"] > 0 and r["accepted"] > 0 and r["lost"] > 0
    assert r["arrivals"] == r["accepted"] + r["refused"] + r["failed"] + r["cancelled"] + r["in_flight"]
    series = result.series
    assert sum(series["arrivals"]) == r["arrivals"]
    assert sum(series["refused"]) == r["refused"]


def test_no_host_is_ever_over_capacity_and_every_deleted_instance_is_released(tmp_path: Path) -> None:
    result = run_text(tmp_path, BUSY)
    assert max(result.series["over_capacity_hosts"]) == 0  # sampled every 2 simulated minutes
    audit = result.summary["audit"]
    assert audit == {**audit, "orphan_allocations": 0, "usage_mismatches": 0, "over_capacity": 0}
    plane = result.plane
    assert plane is not None
    live = plane.instances.instances
    held = plane.placement.consumers()
    assert set(held) <= set(live)  # deleted (forgotten) instances hold nothing
    assert audit["allocations"] == len(held) == sum(1 for i in live.values() if i.host and i.vm_state != "error")
    assert result.summary["requests"]["deleted"] >= result.summary["requests"]["accepted"] - len(held)
