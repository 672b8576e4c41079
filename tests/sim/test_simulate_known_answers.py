"""Scenarios whose answer is known by hand: the simulator must find exactly it."""

from __future__ import annotations

from pathlib import Path

from tests.sim.simulate_support import run_text

# 8 vCPU at ratio 1.0, RAM and disk plentiful: four 2-vCPU servers per host, whatever the weighers do.
FLEET = """
datacenter:
  hosts: {hosts}
  racks_of: 2
  profile: {{vcpus: 8, ram_mb: 65536, disk_gb: 1000, cpu_allocation_ratio: 1.0, reserved_ram_mb: 0}}
flavors:
  two: {{vcpus: 2, ram_mb: 1024, disk_gb: 10}}
"""


def test_identical_hosts_accept_exactly_their_capacity_and_refuse_the_rest(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
        name: known
        duration: 2h
        sample_every: 10m
        """, FLEET.format(hosts=5), """
        workload:
          - {kind: burst, at: 60, count: 27, over: 20m, flavors: {two: 1}}
        """)
    requests = result.summary["requests"]
    assert requests["arrivals"] == 27
    assert requests["accepted"] == 20  # floor(8 / 2) * 5
    assert requests["refused"] == 7
    assert result.summary["refusal_rate"] == 7 / 27
    assert result.series["vcpu_util"][-1] == 1.0
    assert result.summary["audit"]["allocations"] == 20


def test_anti_affinity_with_fewer_hosts_than_members_refuses_the_extra(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
        name: anti-affinity
        duration: 1h
        """, FLEET.format(hosts=3), """
        workload:
          - kind: burst
            at: 60
            count: 1
            flavors: {two: 1}
            group: {policy: anti-affinity, size: 5}
        """)
    requests = result.summary["requests"]
    assert (requests["arrivals"], requests["accepted"], requests["refused"]) == (5, 3, 2)
    assert result.plane is not None
    hosts = [i.host for i in result.plane.instances.instances.values() if i.vm_state == "active"]
    assert sorted(hosts) == sorted(set(hosts)) and len(hosts) == 3


def test_affinity_keeps_a_group_on_one_host_and_refuses_what_does_not_fit(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
        name: affinity
        duration: 1h
        """, FLEET.format(hosts=3), """
        workload:
          - kind: burst
            at: 60
            count: 1
            flavors: {two: 1}
            group: {policy: affinity, size: 6}
        """)
    requests = result.summary["requests"]
    assert (requests["accepted"], requests["refused"]) == (4, 2)


def test_a_rack_losing_power_drops_capacity_by_its_share_until_power_returns(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
        name: rack
        duration: 6h
        sample_every: 5m
        heartbeat_seconds: 60
        conductor: {service_down_time: 180, check_interval: 30}
        """, FLEET.format(hosts=8), """
        workload:
          - {kind: poisson, rate: 20/h, flavors: {two: 1}, lifetime: {kind: fixed, value: 30m}}
        failures:
          rack_power_loss: [{rack: r001, at: 1h, duration: 2h}]
        """)
    series = result.series
    capacity = dict(zip(series["time"], series["vcpu_capacity"], strict=True))
    assert capacity[3000.0] == 64  # 8 hosts x 8 vCPU, before
    assert capacity[3600.0 + 600] == 48  # one rack of 2 hosts out of 8: a quarter gone once reported down
    assert capacity[3 * 3600.0 + 600] == 64  # power back, heartbeats back
    assert min(series["hosts_up"]) == 6
    [loss] = [f for f in result.failures if f["kind"] == "rack_power_loss"]
    assert (loss["target"], loss["hosts"], loss["time"]) == ("r001", 2, 3600.0)
    assert result.summary["audit"]["orphan_allocations"] == 0
