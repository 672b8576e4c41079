"""Every benchmark runs at a tiny size in CI, so none rots: each exits 0 and writes figures that make sense.

The figures themselves come from the full runs (see benchmarks/README.md), never from these.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every benchmark at its smoke size through the one command that runs them all."""
    out = tmp_path_factory.mktemp("benchmarks")
    done = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^benchmark +figure", done.stdout, re.MULTILINE), "the summary table is printed"
    return out


def run(benchmark: str, smoke_dir: Path) -> Any:
    return json.loads((smoke_dir / f"{benchmark}.json").read_text())


def test_identity_benchmark(smoke_dir: Path) -> None:
    figures = run("identity", smoke_dir)
    assert set(figures["http"]) == {"token_issue", "token_validate_GET", "token_check_HEAD"}
    for row in figures["http"].values():
        assert row["errors"] == 0 and row["per_second"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"], row
    assert 0 < figures["in_process"]["validate_cached_us"] < figures["in_process"]["validate_first_sight_us"]


def test_placement_benchmark(smoke_dir: Path) -> None:
    figures = run("placement", smoke_dir)
    assert {f["where"] for f in figures} == {"in-process", "http"}
    for f in figures:
        assert f["per_second"] > 0 and 0 < f["p50_ms"] <= f["p99_ms"], f


def test_scheduler_benchmark(smoke_dir: Path) -> None:
    figures = run("scheduler", smoke_dir)
    assert {f["hosts"] for f in figures} == {50, 200}
    for f in figures:
        assert f["decisions_per_s"] > 0 and 0 < f["median_us"] <= f["p99_us"], f


def test_registration_benchmark(smoke_dir: Path) -> None:
    figures = run("registration", smoke_dir)
    assert [f["figure"] for f in figures] == ["first", "again", "again, holding"]
    assert all(f["hosts"] == 20 and f["seconds"] > 0 and f["statements"] > 0 for f in figures), figures
    assert figures[1]["statements"] < figures[0]["statements"], "nothing but the hosts' rows to write again"


def test_load_benchmark_drives_the_served_api_without_errors(smoke_dir: Path) -> None:
    figures = {f["scenario"]: f for f in run("load", smoke_dir)}
    assert set(figures) == {"create", "boot-and-delete", "boot-with-port", "net+subnet+port", "list", "token",
                            "ceiling"}
    assert all(f["errors"] == 0 and f["requests"] > 0 for f in figures.values()), figures
    assert all(f["extra"]["cpu_ms"] > 0 for f in figures.values()), "the server's CPU time is read"
    create = figures["create"]["extra"]
    accepted, users = figures["create"]["requests"], figures["create"]["users"]
    # every accepted create is a server; a user's create in flight when locust stops counts as a server only
    assert accepted <= create["created"] <= accepted + users
    assert create["errored"] == 0 and create["active_per_s"] > 0


def test_simulator_benchmark(smoke_dir: Path) -> None:
    [row] = run("simulator", smoke_dir)
    assert row["hosts"] == 50 and row["requests"] > 0 and row["events"] > row["requests"], row
    assert row["wall_s"] > 0 and row["peak_rss_mib"] > 0 and 0 <= row["refusal_rate"] <= 1, row


def test_the_summary_names_every_benchmark(smoke_dir: Path) -> None:
    summary = json.loads((smoke_dir / "summary.json").read_text())
    assert {row["benchmark"] for row in summary} == {"scheduler", "simulator", "placement", "identity", "load",
                                                     "registration", "build_transactions", "api_create"}


@pytest.mark.timeout(900)
def test_peers_benchmark_runs_both_sides(tmp_path: Path) -> None:
    """Installs Keystone, Placement and uWSGI into ~/.cache/twinstack-peers/venv on first use (about 2 minutes;
    later runs reuse it), then measures every figure on Twinstack and on the peer without an error."""
    out = tmp_path / "peers.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.peers", "--tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=840, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures["peers"]) == {"keystone", "openstack-placement", "uwsgi"}
    rows = {row["figure"]: row for row in figures["rows"]}
    compared = [row for name, row in rows.items() if not name.startswith("Scheduler")]
    assert len(compared) == 5, rows
    for row in compared:
        assert row["twinstack_errors"] == 0 and row["peer_errors"] == 0, row
        assert row["twinstack"] > 0 and row["peer"] > 0 and row["ratio"] > 0, row
    assert any(name.startswith("Scheduler") and row["twinstack"] > 0 for name, row in rows.items())


def test_build_transactions_benchmark_counts_a_builds_work(smoke_dir: Path) -> None:
    [figure] = run("build_transactions", smoke_dir)
    assert figure["servers"] == 5 and figure["database"] == "sqlite", figure
    assert 0 < figure["create_transactions_per_server"] < figure["transactions_per_server"], figure
    assert figure["statements_per_server"] >= figure["transactions_per_server"], figure
    assert figure["plane_cpu_ms_per_server"] > 0, figure
    assert abs(sum(figure["by_origin"].values()) - figure["transactions_per_server"]) < 1e-6, figure


def test_api_create_benchmark_reads_the_servers_cpu(smoke_dir: Path) -> None:
    figure = run("api_create", smoke_dir)
    assert figure["creates"] == 10 and figure["database"] == "sqlite", figure
    assert figure["server_cpu_ms_per_create"] > 0 and figure["latency_p50_ms"] > 0, figure
