"""Small scenarios written on the fly for the simulator's tests, and a way to run them in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

from twinstack.sim.offline.run import RunResult, check, simulate
from twinstack.sim.offline.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def write(folder: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run(path: Path) -> RunResult:
    loaded = load_scenario(path)
    check(loaded)
    return simulate(loaded, keep_plane=True)


def run_text(folder: Path, *parts: str) -> RunResult:
    """Run the scenario made of ``parts`` (each dedented on its own, so indented pieces can be mixed)."""
    return run(write(folder, "".join(textwrap.dedent(part).strip("\n") + "\n" for part in parts)))
