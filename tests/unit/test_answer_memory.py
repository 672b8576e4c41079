"""An agent answers a redelivered command from memory for a window of time, then forgets it."""

from __future__ import annotations

from twinstack.core.clock import ManualClock
from twinstack.rpc.answers import AnswerMemory


def test_an_answer_is_remembered_within_the_window_and_forgotten_after_it() -> None:
    clock = ManualClock(0.0)
    memory: AnswerMemory[str] = AnswerMemory(clock, window=60.0)
    memory.remember("c1", "spawned")
    clock.advance(59.0)
    memory.remember("c2", "destroyed")
    assert memory.get("c1") == "spawned"
    clock.advance(2.0)
    memory.remember("c3", "rebooted")  # forgetting happens as new answers come in
    assert memory.get("c1") is None
    assert memory.get("c2") == "destroyed" and memory.get("c3") == "rebooted"
    assert len(memory) == 2


def test_a_long_run_holds_only_the_window_of_answers() -> None:
    clock = ManualClock(0.0)
    memory: AnswerMemory[int] = AnswerMemory(clock, window=100.0)
    for n in range(10_000):
        clock.advance(1.0)
        memory.remember(f"c{n}", n)
    assert len(memory) == 101
    assert memory.get("c9999") == 9999 and memory.get("c9898") is None
