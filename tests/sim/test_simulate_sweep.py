"""Sweeps: bisection finds the smallest fleet meeting a target, and the report carries the curve."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.sim.simulate_support import write
from twinstack.cli import app
from twinstack.sim.offline.explore import bisect_sweep, parse_sweep, parse_target

# Hosts of 8 vCPU at ratio 1.0 take four 2-vCPU servers each; 18 that never leave need 5 hosts (4 hosts hold 16).
KNOWN = """
name: fleet
duration: 2h
datacenter:
  hosts: 3
  racks_of: 2
  profile: {vcpus: 8, ram_mb: 65536, disk_gb: 1000, cpu_allocation_ratio: 1.0, reserved_ram_mb: 0}
flavors:
  two: {vcpus: 2, ram_mb: 1024, disk_gb: 10}
workload:
  - {kind: burst, at: 60, count: 18, over: 10m, flavors: {two: 1}}
"""


def test_bisection_finds_the_smallest_fleet_meeting_the_target(tmp_path: Path) -> None:
    path = write(tmp_path, KNOWN)
    tried: list[int] = []

    def evaluate(loaded):  # type: ignore[no-untyped-def]
        from twinstack.sim.offline.run import simulate

        tried.append(len(loaded.datacenter.host_reports()))
        return simulate(loaded).summary

    answer, runs = bisect_sweep(path, parse_sweep("hosts=1..12:1"), parse_target("refusal_rate<0.01"), evaluate)
    assert answer == 5
    assert len(tried) < 12 and sorted(tried) == sorted(set(tried))
    assert runs[4]["refusal_rate"] == 2 / 18 and runs[5]["refusal_rate"] == 0.0


def test_the_sweep_command_writes_the_curve_and_the_answer(tmp_path: Path) -> None:
    path = write(tmp_path, KNOWN)
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, ["simulate", str(path), "--sweep", "hosts=2..8:2", "--target",
                                      "refusal_rate<0.01", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "smallest hosts meeting refusal_rate<0.01: 6" in result.output
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["answer"] == 6 and [p["value"] for p in sweep["points"]] == sorted(p["value"] for p in sweep["points"])
    assert json.loads((out / "answer" / "summary.json").read_text())["hosts"] == 6
    assert "Sweep: hosts" in (out / "report.html").read_text()
