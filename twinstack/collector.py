"""The garbage collector of a process that serves: tuned for a large heap that lives as long as the process.

A serving process holds a big, stable heap (the app's routes, SQLAlchemy's compiled statements, the scheduler's
view of thousands of hosts) and makes a great many short-lived containers per request, nearly all freed by their
reference counts. With CPython's defaults (a young collection every 700 container allocations, a full one every
hundred of those) the collector walks that stable heap again and again, under the interpreter's lock: with 5,000
simulated hosts and 10,000 servers, 8 users listing servers saw their p99 at 650-860 ms and 17-18 ms of CPU a
page; with the start-up heap frozen and collections spaced out, 410 ms and 12 ms (benchmarks/README.md, round 5).
"""

from __future__ import annotations

import gc

SERVING_THRESHOLDS = (20_000, 10, 10)
"""Container allocations (net of frees) before a young collection, and young (then middle) collections before an
older one. A request's garbage is freed by reference counting; what the collector is for here is cycles, and
those are few and small."""


def settle_for_serving() -> None:
    """Collect what start-up left, move every object alive now out of the collector's reach for good (the
    permanent generation: it is never walked again, nor freed), and space the collections out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
