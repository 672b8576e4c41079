"""Trace replay: the shipped example trace replays in full; a bad row is refused with its line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.sim.simulate_support import SCENARIOS, run, write
from twinstack.sim.offline.run import check
from twinstack.sim.offline.scenario import ScenarioError, load_scenario


def test_the_shipped_trace_replays_every_row(tmp_path: Path) -> None:
    with (SCENARIOS / "traces" / "example.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    result = run(SCENARIOS / "trace-replay.yaml")
    requests = result.summary["requests"]
    assert requests["arrivals"] == len(rows) == 1373
    assert requests["accepted"] + requests["refused"] + requests["failed"] == len(rows)
    never_deleted = sum(1 for row in rows if not row["lifetime"])
    assert requests["active_at_end"] >= never_deleted - requests["refused"] - requests["failed"]
    shapes = {(int(r["vcpus"]), int(r["ram_mb"])) for r in rows if r["vcpus"]}
    assert (16, 65536) in shapes  # raw resource rows are in the trace, and were replayed with the rest


def test_a_trace_row_out_of_order_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("submit_time,flavor,lifetime\n10,m1.small,1h\n5,m1.small,\n")
    path = write(tmp_path, """
        name: t
        duration: 1h
        datacenter: {hosts: 2}
        workload: [{kind: trace, file: t.csv}]
        """)
    with pytest.raises(ScenarioError) as error:
        check(load_scenario(path))
    assert error.value.line == 3 and str(error.value).startswith(f"{tmp_path / 't.csv'}:3:")
