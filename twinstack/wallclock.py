"""The wall clock, for a real cloud; lives outside core so core cannot reach for time by itself."""

from __future__ import annotations

import time


class WallClock:
    def now(self) -> float:
        return time.time()
