"""Placement's capacity maths: what an inventory can hold and which amounts fit in it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinstack.core.errors import BadRequest
from twinstack.core.scheduler.placement import InventorySpec, capacity, check_inventory, fits, free, unit_problem


def test_capacity_is_total_less_reserved_times_the_allocation_ratio() -> None:
    assert capacity(InventorySpec(total=16, reserved=2, allocation_ratio=4.0)) == 56
    assert capacity(InventorySpec(total=1024)) == 1024
    assert InventorySpec(total=10, reserved=10).capacity == 0


def test_capacity_rounds_down_a_fractional_ratio() -> None:
    assert capacity(InventorySpec(total=3, allocation_ratio=1.5)) == 4
    assert capacity(InventorySpec(total=7, reserved=1, allocation_ratio=0.9)) == 5


def test_an_amount_fits_while_used_plus_amount_stays_within_capacity() -> None:
    vcpu = InventorySpec(total=4, allocation_ratio=2.0)
    assert fits(vcpu, used=0, amount=8)
    assert fits(vcpu, used=6, amount=2)
    assert not fits(vcpu, used=6, amount=3)
    assert free(vcpu, used=6) == 2


def test_amounts_must_respect_min_unit_max_unit_and_step_size() -> None:
    disk = InventorySpec(total=1000, min_unit=10, max_unit=100, step_size=5)
    assert fits(disk, 0, 10)
    assert fits(disk, 0, 100)
    assert not fits(disk, 0, 5)
    assert not fits(disk, 0, 105)
    assert not fits(disk, 0, 12)
    assert unit_problem(disk, 5) == "the amount 5 is below min_unit 10"
    assert unit_problem(disk, 105) == "the amount 105 is above max_unit 100"
    assert unit_problem(disk, 12) == "the amount 12 is not a multiple of step_size 5"
    assert unit_problem(disk, 55) is None


def test_reserved_above_total_is_refused_and_equal_only_from_1_26() -> None:
    with pytest.raises(BadRequest, match="greater than total"):
        check_inventory("VCPU", InventorySpec(total=4, reserved=5))
    check_inventory("VCPU", InventorySpec(total=4, reserved=4), reserved_may_equal_total=True)
    with pytest.raises(BadRequest, match="greater than or equal to total"):
        check_inventory("VCPU", InventorySpec(total=4, reserved=4), reserved_may_equal_total=False)


def test_min_unit_above_max_unit_is_refused() -> None:
    with pytest.raises(BadRequest, match="min_unit"):
        check_inventory("DISK_GB", InventorySpec(total=100, min_unit=20, max_unit=10))


inventories = st.builds(
    InventorySpec,
    total=st.integers(1, 10_000),
    reserved=st.integers(0, 100),
    min_unit=st.integers(1, 4),
    max_unit=st.integers(4, 10_000),
    step_size=st.integers(1, 4),
    allocation_ratio=st.sampled_from([0.5, 1.0, 1.5, 2.0, 16.0]),
)


@given(inventories, st.integers(0, 20_000), st.integers(1, 20_000))
def test_fits_is_exactly_capacity_and_unit_rules(inv: InventorySpec, used: int, amount: int) -> None:
    expected = (
        used + amount <= int((inv.total - inv.reserved) * inv.allocation_ratio)
        and inv.min_unit <= amount <= inv.max_unit
        and amount % inv.step_size == 0
    )
    assert fits(inv, used, amount) is expected


@given(inventories, st.lists(st.integers(1, 50), max_size=30))
def test_greedy_fitting_never_exceeds_capacity(inv: InventorySpec, amounts: list[int]) -> None:
    used = 0
    for amount in amounts:
        if fits(inv, used, amount):
            used += amount
    assert used <= max(capacity(inv), 0)
