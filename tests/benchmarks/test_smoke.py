"""Every benchmark runs at a tiny size in CI, so none rots: each exits 0 and writes figures that make sense.

The figures themselves come from the full runs (see benchmarks/README.md), never from these.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TINY = {
    "identity": ["--seconds", "1", "--concurrency", "2"],
    "placement": ["--providers", "20", "--rounds", "3", "--claims", "3"],
    "scheduler": ["--hosts", "50", "200", "--decisions", "30"],
    "load": ["--tiny", "--databases", "sqlite"],
}


def run(benchmark: str, tmp_path: Path) -> Any:
    out = tmp_path / f"{benchmark}.json"
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{benchmark}", *TINY[benchmark], "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_identity_benchmark(tmp_path: Path) -> None:
    figures = run("identity", tmp_path)
    assert set(figures["http"]) == {"token_issue", "token_validate_GET", "token_check_HEAD"}
    for row in figures["http"].values():
        assert row["errors"] == 0 and row["per_second"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"], row
    assert 0 < figures["in_process"]["validate_cached_us"] < figures["in_process"]["validate_first_sight_us"]


def test_placement_benchmark(tmp_path: Path) -> None:
    figures = run("placement", tmp_path)
    assert {f["where"] for f in figures} == {"in-process", "http"}
    for f in figures:
        assert f["per_second"] > 0 and 0 < f["p50_ms"] <= f["p99_ms"], f


def test_scheduler_benchmark(tmp_path: Path) -> None:
    figures = run("scheduler", tmp_path)
    assert {f["hosts"] for f in figures} == {50, 200}
    for f in figures:
        assert f["decisions_per_s"] > 0 and 0 < f["median_us"] <= f["p99_us"], f


def test_load_benchmark_drives_the_served_api_without_errors(tmp_path: Path) -> None:
    figures = {f["scenario"]: f for f in run("load", tmp_path)}
    assert set(figures) == {"create", "boot-and-delete", "list", "token"}
    assert all(f["errors"] == 0 and f["requests"] > 0 for f in figures.values()), figures
    create = figures["create"]["extra"]
    assert create["created"] == figures["create"]["requests"], "every accepted create is a server"
    assert create["errored"] == 0 and create["active_per_s"] > 0
