"""Same scenario, same seed: the same output files, byte for byte; another seed: other results."""

from __future__ import annotations

from pathlib import Path

from tests.sim.simulate_support import write
from tests.sim.test_simulate_conservation import BUSY
from twinstack.sim.offline.command import simulate_files


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_runs_with_one_seed_write_identical_files(tmp_path: Path) -> None:
    scenario = write(tmp_path, BUSY)
    first = simulate_files([scenario], tmp_path / "one", show_progress=False)
    second = simulate_files([scenario], tmp_path / "two", show_progress=False)
    one, two = _files(first), _files(second)
    assert set(one) >= {"summary.json", "metrics.json", "timeseries.csv", "zones.csv", "racks.csv",
                        "boot_latency.csv", "failures.csv", "report.html"}
    assert one == two


def test_another_seed_gives_other_results(tmp_path: Path) -> None:
    one = simulate_files([write(tmp_path, BUSY, "a.yaml")], tmp_path / "a", show_progress=False)
    two = simulate_files([write(tmp_path, BUSY.replace("seed: 11", "seed: 12"), "b.yaml")], tmp_path / "b",
                         show_progress=False)
    assert (one / "timeseries.csv").read_bytes() != (two / "timeseries.csv").read_bytes()
