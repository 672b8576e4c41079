"""A run keeps the cyclic garbage collector asleep: what it makes must be freed by reference counting alone (or
the run's memory would grow with its length), and the collector is left as the run found it."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.sim.simulate_support import run_text
from tests.sim.test_simulate_conservation import BUSY


def _cyclic_garbage_after(tmp_path: Path, duration: str) -> list[str]:
    """What only the collector would free once a run of BUSY for ``duration`` is done (its result kept alive)."""
    result = run_text(tmp_path, BUSY.replace("duration: 1d", f"duration: {duration}"))
    assert result.summary["requests"]["arrivals"] > 0
    gc.unfreeze()  # the run froze what it left, garbage included
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_the_garbage_only_the_collector_frees_does_not_grow_with_the_run(tmp_path: Path) -> None:
    # failures, a rack losing power, spawn failures, groups: every path a lifecycle takes; three times the
    # lifecycles leave the very same few cycles (a workload's generator, made once per stream), none per lifecycle
    _cyclic_garbage_after(tmp_path, "2h")  # what loading a scenario leaves the first time (imports) is not the run's
    short = _cyclic_garbage_after(tmp_path, "1d")
    long = _cyclic_garbage_after(tmp_path, "3d")
    assert len(short) < 50
    assert long == short


def test_the_collector_is_left_as_the_run_found_it(tmp_path: Path) -> None:
    assert gc.isenabled()
    run_text(tmp_path, BUSY.replace("duration: 1d", "duration: 2h"))
    assert gc.isenabled()
    gc.disable()
    try:
        run_text(tmp_path, BUSY.replace("duration: 1d", "duration: 2h"))
        assert not gc.isenabled()
    finally:
        gc.enable()
