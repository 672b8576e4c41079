"""What a host agent remembers of the commands it answered, so that a redelivered command is answered again.

Why a window and not every answer: commands carry ids so that a repeat (a bus redelivering after a lost
acknowledgement, a conductor retrying) is answered, not redone; but a repeat only comes while its sender still
waits, and no sender waits longer than its command timeout. Kept forever, the answers were most of an
offline run's memory (a million lifecycles: two answers each).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

from twinstack.core.clock import Clock

A = TypeVar("A")

DEFAULT_WINDOW_SECONDS = 3600.0
"""Longer than the conductor waits for any answer by default (builds: 10 minutes)."""


class AnswerMemory(Generic[A]):
    """Answers by command id, each kept ``window`` seconds of ``clock`` time after it was given.

    Safe to share between threads (the real agent answers from its worker threads)."""

    def __init__(self, clock: Clock, window: float = DEFAULT_WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self._answers: dict[str, A] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def get(self, command_id: str) -> A | None:
        return self._answers.get(command_id)

    def remember(self, command_id: str, answer: A) -> None:
        now = self._clock.now()
        order, answers, oldest = self._order, self._answers, now - self._window
        with self._lock:
            while order and order[0][0] < oldest:
                answers.pop(order.popleft()[1], None)
            if command_id not in answers:
                order.append((now, command_id))
            answers[command_id] = answer

    def __len__(self) -> int:
        return len(self._answers)
