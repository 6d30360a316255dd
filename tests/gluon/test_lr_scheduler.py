"""Learning rate schedulers against MXNet 1.9's documented formulas."""

from __future__ import annotations

import math

import pytest

from hybrix import lr_scheduler
from hybrix.ir import HybrixError


def test_factor_scheduler_steps_and_floor():
    sched = lr_scheduler.FactorScheduler(step=2, factor=0.5, stop_factor_lr=0.1, base_lr=1.0)
    values = [sched(n) for n in range(1, 11)]
    # base_lr * factor**floor((n - 1) / step), floored at stop_factor_lr
    assert values == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1]


def test_factor_scheduler_resumes_at_a_large_count():
    sched = lr_scheduler.FactorScheduler(step=10, factor=0.1, base_lr=1.0)
    assert sched(35) == pytest.approx(1e-3)


def test_multifactor_scheduler():
    sched = lr_scheduler.MultiFactorScheduler(step=[5, 10], factor=0.1, base_lr=1.0)
    values = [sched(n) for n in range(1, 13)]
    assert values[:5] == [1.0] * 5
    assert values[5:10] == pytest.approx([0.1] * 5)
    assert values[10:] == pytest.approx([0.01] * 2)


def test_poly_scheduler():
    sched = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    for n in (0, 3, 5, 10):
        assert sched(n) == pytest.approx(0.1 + 0.9 * (1 - n / 10) ** 2)
    assert sched(20) == pytest.approx(0.1)  # stays at the last value


def test_cosine_scheduler():
    sched = lr_scheduler.CosineScheduler(max_update=10, base_lr=1.0, final_lr=0.0)
    assert sched(0) == pytest.approx(1.0)
    assert sched(5) == pytest.approx(0.5)
    assert sched(10) == pytest.approx(0.0)
    assert sched(3) == pytest.approx((1 + math.cos(math.pi * 0.3)) / 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda **w: lr_scheduler.FactorScheduler(step=100, base_lr=1.0, **w),
        lambda **w: lr_scheduler.MultiFactorScheduler(step=[100], base_lr=1.0, **w),
        lambda **w: lr_scheduler.PolyScheduler(max_update=100, base_lr=1.0, **w),
        lambda **w: lr_scheduler.CosineScheduler(max_update=100, base_lr=1.0, **w),
    ],
)
def test_warmup_linear_and_constant(make):
    linear = make(warmup_steps=4, warmup_begin_lr=0.2)
    assert [linear(n) for n in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert linear(4) == pytest.approx(1.0)
    constant = make(warmup_steps=4, warmup_begin_lr=0.2, warmup_mode="constant")
    assert [constant(n) for n in range(4)] == pytest.approx([0.2] * 4)


def test_poly_after_warmup_counts_from_the_end_of_warmup():
    sched = lr_scheduler.PolyScheduler(max_update=12, base_lr=1.0, pwr=1, warmup_steps=2)
    assert sched(7) == pytest.approx(1 - 5 / 10)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: lr_scheduler.FactorScheduler(step=0), "greater or equal than 1"),
        (lambda: lr_scheduler.FactorScheduler(step=2, factor=2.0), "no more than 1"),
        (lambda: lr_scheduler.MultiFactorScheduler(step=[5, 3]), "increasing"),
        (lambda: lr_scheduler.PolyScheduler(max_update=0), "strictly positive"),
        (lambda: lr_scheduler.CosineScheduler(10, warmup_mode="cubic"), "linear and constant"),
        (lambda: lr_scheduler.CosineScheduler(10, base_lr=0.1, warmup_begin_lr=1), "higher"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(HybrixError, match=message):
        make()
