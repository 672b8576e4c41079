"""``twinstack simulate``: load and check every scenario first, run, then write the output folder at once.

Nothing is written until every run has finished, and then atomically (see :mod:`outputs`): a malformed
scenario or a failing run leaves no folder behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twinstack.sim.offline.explore import bisect_sweep, parse_sweep, parse_target
from twinstack.sim.offline.outputs import run_files, slug, to_csv, to_json, write_atomically
from twinstack.sim.offline.progress import Progress
from twinstack.sim.offline.report import SweepInfo, render
from twinstack.sim.offline.run import RunResult, check, simulate
from twinstack.sim.offline.scenario import LoadedScenario, load_variants


def _run(loaded: LoadedScenario, show_progress: bool) -> RunResult:
    progress = Progress(loaded.name, loaded.scenario.duration, enabled=show_progress)
    return simulate(loaded, progress)


def simulate_files(paths: list[Path], out: Path | None, show_progress: bool = True) -> Path:
    """Run every scenario of ``paths`` (with their variants); one run: its report, several: a comparison."""
    loaded = [scenario for path in paths for scenario in load_variants(path)]
    for scenario in loaded:
        check(scenario)
    results = [_run(scenario, show_progress) for scenario in loaded]
    if len(results) == 1:
        files = run_files(results[0])
        title = f"Twinstack capacity simulation: {results[0].name}"
    else:
        files = {"summary.json": to_json([r.summary for r in results])}
        for result in results:
            files.update(run_files(result, f"runs/{slug(result.name)}/"))
        title = "Twinstack capacity simulation: " + " vs ".join(r.name for r in results)
    files["report.html"] = render(results, title)
    target = out or Path("sim-results") / slug(results[0].name if len(results) == 1
                                                else "compare-" + "-".join(r.name for r in results))
    write_atomically(target, files)
    return target


def sweep_file(path: Path, sweep: str, target_text: str, out: Path | None, full: bool = False,
               show_progress: bool = True) -> tuple[Path, float | None]:
    """Find the smallest value of the swept parameter meeting the target; the report carries the curve and the
    run at the answer (or at the largest value tried, if none meets it)."""
    spec, target = parse_sweep(sweep), parse_target(target_text)
    for scenario in load_variants(path)[:1]:
        check(scenario)
    results: dict[str, RunResult] = {}

    def evaluate(loaded: LoadedScenario) -> dict[str, object]:
        result = _run(loaded, show_progress)
        results[loaded.name] = result
        target.value(result.summary)  # an unknown metric fails on the first run, not after the sweep
        return result.summary

    answer, runs = bisect_sweep(path, spec, target, evaluate, full)
    values = sorted(runs)
    info = SweepInfo(spec.parameter, target.metric, str(target),
                     [(v, target.value(runs[v]), target.met(runs[v])) for v in values], answer)
    shown_value = answer if answer is not None else values[-1]
    shown = next(r for r in results.values() if r.summary is runs[shown_value])
    files = run_files(shown, "answer/")
    files["sweep.json"] = to_json({"parameter": spec.parameter, "target": str(target), "answer": answer,
                                   "points": [{"value": v, "metric": m, "meets": ok} for v, m, ok in info.points]})
    files["sweep.csv"] = to_csv([{"value": v, target.metric: m, "meets": ok} for v, m, ok in info.points])
    files["report.html"] = render([shown], f"Twinstack sweep: {shown.name}", info)
    out_dir = out or Path("sim-results") / slug(f"sweep-{spec.parameter}-{path.stem}")
    write_atomically(out_dir, files)
    return out_dir, answer


def fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
