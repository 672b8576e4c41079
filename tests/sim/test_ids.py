"""A simulation's server ids: uuid4-shaped, unique, and the same sequence for the same seed."""

from __future__ import annotations

import uuid

from twinstack.sim.ids import SeededUuids


def test_ids_are_version_4_uuids_in_canonical_form() -> None:
    ids = SeededUuids(7)
    for _ in range(2000):
        text = ids()
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_one_seed_gives_one_sequence_and_another_seed_another() -> None:
    first, again, other = SeededUuids("servers-1"), SeededUuids("servers-1"), SeededUuids("servers-2")
    drawn = [first() for _ in range(1000)]
    assert drawn == [again() for _ in range(1000)]
    assert len(set(drawn)) == 1000
    assert not set(drawn) & {other() for _ in range(1000)}
