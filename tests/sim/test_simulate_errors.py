"""Malformed scenarios are refused with the line at fault, and leave no output folder behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sim.simulate_support import write
from twinstack.cli import app
from twinstack.sim.offline import command

GOOD = """
name: ok
duration: 2h
datacenter: {hosts: 2}
workload:
  - kind: poisson
    rate: 10/h
"""


@pytest.mark.parametrize(("text", "line", "words"), [
    ("name: x\nduration: 1d\ndatacenter: {hosts: 2}\nworkload:\n  - kind: poisson\n    rate: 1/h\n"
     "    lifetime: {kind: lognormal, median: 1h}\n", 7, "sigma: Field required"),
    ("name: x\nduration: 1d\ndatacenter: {hosts: 2}\nworkload:\n  - kind: poisson\n    rate: fast\n", 6,
     "is not a rate"),
    ("name: x\nduration: 1d\ndatacenter: {hosts: 2}\nworkload:\n  - {kind: poisson, rate: 1, flavors: {m9: 1}}\n",
     5, "not in the catalog"),
    ("name: x\nduration: 1d\ndatacenter: {hosts: 2}\nworkload:\n  - kind: poisson\n    rate: [1\n", 7,
     "not valid YAML"),
    ("name: x\nduration: soon\ndatacenter: {hosts: 2}\nworkload: [{kind: burst, at: 1, count: 1}]\n", 2,
     "not a duration"),
    ("name: x\nduration: 1d\ndatacenter: {hosts: 2}\nworkload: [{kind: burst, at: 1, count: 1}]\nfailures:\n"
     "  rack_power_loss: [{rack: r0, at: 1h, duraton: 1h}]\n", 6, "Extra inputs"),
])
def test_a_malformed_scenario_names_its_line_and_writes_nothing(tmp_path: Path, text: str, line: int,
                                                                words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["simulate", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert f"bad.yaml:{line}:" in result.output and words in result.output, result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_a_run_failing_midway_leaves_no_folder_and_keeps_the_previous_one(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    out = tmp_path / "out"
    command.simulate_files([path], out, show_progress=False)
    before = (out / "summary.json").read_bytes()

    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("the report could not be drawn")

    monkeypatch.setattr(command, "render", broken)
    with pytest.raises(RuntimeError):
        command.simulate_files([path], out, show_progress=False)
    assert (out / "summary.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scenario.yaml"]  # no staging folder left
    with pytest.raises(RuntimeError):
        command.simulate_files([path], tmp_path / "fresh", show_progress=False)
    assert not (tmp_path / "fresh").exists()
