"""Ids for a simulation: shaped as uuid4, drawn from a seeded RNG.

Why not ``uuid.uuid4()``: it reads the OS's random source and builds a UUID object per id (about 6 us); an
offline run makes a million servers, each with an id and a reservation id. Drawn from a seeded RNG they cost a
third of that and are the same in every run of a scenario, which makes runs easier to compare.
"""

from __future__ import annotations

import random

_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)
"""Version 4 in time_hi_and_version, the RFC 4122 variant in clock_seq_hi, as uuid.UUID(version=4) sets them."""


class SeededUuids:
    """A callable answering a new uuid4-shaped string each call, the same sequence for the same seed."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)

    def __call__(self) -> str:
        digits = f"{self._rng.getrandbits(128) & _VERSION_MASK | _VERSION_4:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
