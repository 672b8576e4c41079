"""A progress line on stderr while a simulation runs: simulated time, events per second, ETA.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line every tenth of the run.
Wall-clock figures only ever go here, never into the outputs, which must be the same bit for bit.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h{rest // 60:02d}m" if days else f"{hours:02d}h{rest // 60:02d}m{rest % 60:02d}s"


class Progress:
    def __init__(self, label: str, total: float, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.enabled and self.stream.isatty()
        self.started = time.perf_counter()
        self._shown = 0.0
        self._tenth = -1

    def update(self, now: float, events: int) -> None:
        if not self.enabled:
            return
        wall = time.perf_counter()
        fraction = min(1.0, now / self.total) if self.total else 1.0
        if self.tty:
            if wall - self._shown < 0.2:
                return
            self._shown = wall
            self.stream.write("\r" + self._line(fraction, events, wall) + "\x1b[K")
            self.stream.flush()
        elif int(fraction * 10) > self._tenth:
            self._tenth = int(fraction * 10)
            self.stream.write(self._line(fraction, events, wall) + "\n")
            self.stream.flush()

    def _line(self, fraction: float, events: int, wall: float) -> str:
        elapsed = wall - self.started
        rate = events / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        width = 24
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        return (f"{self.label} [{bar}] {fraction * 100:5.1f}% sim {_clock(fraction * self.total)}"
                f" | {rate:,.0f} events/s | ETA {eta:,.0f}s")

    def finish(self, events: int, lifecycles: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{self.label}: {_clock(self.total)} simulated in {elapsed:.1f}s wall, {events:,} events"
                          f" ({events / max(elapsed, 1e-9):,.0f}/s), {lifecycles:,} requests"
                          f" ({lifecycles / max(elapsed, 1e-9):,.0f}/s)\n")
        self.stream.flush()
