"""Learning rate schedules (MXNet 1.9's mx.lr_scheduler): factor, multi-factor, poly and
cosine decay, each with an optional linear or constant warmup.

A scheduler is called with `num_update`, the largest number of updates any weight has had,
and returns the learning rate. Like MXNet's, Factor and MultiFactor schedulers keep state
(they decay `base_lr` in place as updates pass each step), so call them with growing counts.
"""

from __future__ import annotations

import logging
import math

from hybrix.ir import HybrixError

__all__ = [
    "CosineScheduler",
    "FactorScheduler",
    "LRScheduler",
    "MultiFactorScheduler",
    "PolyScheduler",
]


class SchedulerError(HybrixError, ValueError):
    """A scheduler argument out of range."""


class LRScheduler:
    """Base class: warmup over the first `warmup_steps` updates, then the subclass's decay.

    Args:
        base_lr: the learning rate after warmup (an Optimizer overwrites it with its own).
        warmup_steps: updates spent warming up.
        warmup_begin_lr: the rate warmup starts from.
        warmup_mode: 'linear' (equal increments up to base_lr) or 'constant'.
    """

    def __init__(
        self,
        base_lr: float = 0.01,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
        warmup_mode: str = "linear",
    ) -> None:
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int):
            raise SchedulerError(f"warmup_steps must be an int, got {warmup_steps!r}")
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise SchedulerError(
                f"Base lr ({base_lr}) has to be higher than warmup_begin_lr ({warmup_begin_lr})"
            )
        if self.warmup_steps < 0:
            raise SchedulerError(f"Warmup steps has to be positive or 0, got {warmup_steps}")
        if warmup_mode not in ("linear", "constant"):
            raise SchedulerError(
                f"Supports only linear and constant modes of warmup, got {warmup_mode!r}"
            )
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update: int) -> float:
        if self.warmup_mode == "linear":
            increase = (
                (self.warmup_final_lr - self.warmup_begin_lr)
                * float(num_update)
                / float(self.warmup_steps)
            )
            return self.warmup_begin_lr + increase
        return self.warmup_begin_lr

    def __call__(self, num_update: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define __call__")


class FactorScheduler(LRScheduler):
    """Multiply the rate by `factor` every `step` updates, not below `stop_factor_lr`:
    base_lr * factor**floor((num_update - 1) / step)."""

    def __init__(
        self,
        step: int,
        factor: float = 1,
        stop_factor_lr: float = 1e-8,
        base_lr: float = 0.01,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
        warmup_mode: str = "linear",
    ) -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise SchedulerError(f"Schedule step must be greater or equal than 1 round, got {step}")
        if factor > 1.0:
            raise SchedulerError(f"Factor must be no more than 1 to make lr reduce, got {factor}")
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # NOTE: a loop rather than an if, for resuming at a large num_update (MXNet's note).
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info(
                    "Update[%d]: now learning rate arrived at %0.5e, will not change in the future",
                    num_update,
                    self.base_lr,
                )
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by `factor` each time num_update passes a value in `step`."""

    def __init__(
        self,
        step: list[int],
        factor: float = 1,
        base_lr: float = 0.01,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
        warmup_mode: str = "linear",
    ) -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or not step:
            raise SchedulerError(f"step must be a non-empty list of ints, got {step!r}")
        for i, value in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise SchedulerError(f"Schedule step must be an increasing integer list: {step}")
            if value < 1:
                raise SchedulerError(f"Schedule step must be greater or equal than 1 round: {step}")
        if factor > 1.0:
            raise SchedulerError(f"Factor must be no more than 1 to make lr reduce, got {factor}")
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind <= len(self.step) - 1:
            if num_update > self.step[self.cur_step_ind]:
                self.count = self.step[self.cur_step_ind]
                self.cur_step_ind += 1
                self.base_lr *= self.factor
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
            else:
                return self.base_lr
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay after warmup, reaching `final_lr` at `max_update`:
    final_lr + (base_lr - final_lr) * (1 - (nup - warmup_steps) / (max_update - warmup_steps))**pwr
    """

    def __init__(
        self,
        max_update: int,
        base_lr: float = 0.01,
        pwr: float = 2,
        final_lr: float = 0,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
        warmup_mode: str = "linear",
    ) -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            fraction = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * pow(
                1 - fraction, self.power
            )
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Cosine decay after warmup, reaching `final_lr` at `max_update`:
    final_lr + (base_lr - final_lr) * (1 + cos(pi * (nup - warmup_steps) / max_steps)) / 2
    """

    def __init__(
        self,
        max_update: int,
        base_lr: float = 0.01,
        final_lr: float = 0,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
        warmup_mode: str = "linear",
    ) -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            angle = math.pi * (num_update - self.warmup_steps) / self.max_steps
            self.base_lr = (
                self.final_lr + (self.base_lr_orig - self.final_lr) * (1 + math.cos(angle)) / 2
            )
        return self.base_lr


def _check_max_update(max_update: int) -> None:
    if not isinstance(max_update, int):
        raise SchedulerError(f"max_update must be an int, got {max_update!r}")
    if max_update < 1:
        raise SchedulerError(f"maximum number of updates must be strictly positive: {max_update}")
