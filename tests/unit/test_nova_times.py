"""Nova's two timestamp forms, as the compute API writes them for every server of a page.

The formatting is cached per whole second and splits fractions itself (a page of 100 servers formats 400 of
them): these pin it to what the standard library's datetime gives for the same moment, rounding included.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from twinstack.api.compute.common import nova_datetime, nova_time
from twinstack.api.compute.server_views import host_id

EDGES = [0.0, 1.0, 1.4999995, 1.4999996, 59.9999995, 59.9999996, 1_764_000_000.999_999_5,
         1_764_000_000.999_999_4, 1_764_000_000.000_000_5, 1_764_000_000.5, 1_893_456_000.123_456_789]


def by_datetime(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, dt.UTC)


def sample() -> list[float]:
    chosen = random.Random(7)
    return EDGES + [chosen.uniform(0, 2_000_000_000) for _ in range(20_000)] + [
        float(chosen.randrange(1_700_000_000, 1_800_000_000)) + chosen.randrange(1_000_000) / 1e6 + offset
        for offset in (0.0, 5e-7, -5e-7) for _ in range(2_000)]


def test_created_and_updated_read_as_datetime_writes_them() -> None:
    for moment in sample():
        assert nova_time(moment) == by_datetime(moment).strftime("%Y-%m-%dT%H:%M:%SZ"), moment


def test_raw_timestamps_carry_the_microseconds_datetime_rounds_to() -> None:
    for moment in sample():
        assert nova_datetime(moment) == by_datetime(moment).strftime("%Y-%m-%dT%H:%M:%S.%f"), moment


def test_a_datetime_is_shown_in_utc() -> None:
    paris = dt.datetime(2026, 11, 28, 16, 0, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert nova_datetime(paris) == "2026-11-28T15:00:00.000250"


@pytest.mark.parametrize("moment", [None])
def test_no_moment_is_no_time(moment: None) -> None:
    assert nova_time(moment) is None
    assert nova_datetime(moment) is None


def test_host_id_hides_the_host_per_project() -> None:
    assert host_id("p1", None) == host_id("p1", "") == ""
    assert host_id("p1", "compute-1") == host_id("p1", "compute-1")
    assert host_id("p1", "compute-1") != host_id("p2", "compute-1")
    assert len(host_id("p1", "compute-1")) == 56
