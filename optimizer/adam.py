"""Adam-family optimizers: Adam, Adamax, Nadam and FTML, with MXNet 1.9's formulas
(python/mxnet/optimizer/optimizer.py and the adam_update / ftml_update kernels)."""

from __future__ import annotations

import math
from typing import Any

from hybrix.optimizer.optimizer import (
    Optimizer,
    clip,
    clip_python,
    register,
    scalar,
    zeros_like,
)

__all__ = ["FTML", "Adam", "Adamax", "Nadam"]


@register
class Adam(Optimizer):
    """Adam; the bias correction is folded into the learning rate, as MXNet does::

    lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
    grad = clip(rescale_grad * grad + wd * weight, clip_gradient)
    mean = beta1 * mean + (1 - beta1) * grad
    var = beta2 * var + (1 - beta2) * grad**2
    weight = weight - lr_t * mean / (sqrt(var) + epsilon)
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        lazy_update: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index: Any, weight: Any) -> Any:
        return (zeros_like(weight), zeros_like(weight))

    def _scalars(self, index: Any) -> tuple[float, ...]:
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        return (lr, wd)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        mean, var = state
        grad = rescale.astype(weight.dtype) * grad + wd * weight
        grad = clip(jnp, grad, self.clip_gradient)
        mean = self.beta1 * mean + (1 - self.beta1) * grad
        var = self.beta2 * var + (1 - self.beta2) * jnp.square(grad)
        return weight - lr * mean / (jnp.sqrt(var) + self.epsilon), (mean, var)


@register
class Adamax(Optimizer):
    """AdaMax (Adam with the infinity norm)::

    grad = clip(rescale_grad * grad + wd * weight, clip_gradient)
    m = beta1 * m + (1 - beta1) * grad
    u = maximum(beta2 * u, abs(grad))
    weight = weight - lr / (1 - beta1**t) * m / u
    """

    def __init__(
        self,
        learning_rate: float = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index: Any, weight: Any) -> Any:
        return (zeros_like(weight), zeros_like(weight))

    def _scalars(self, index: Any) -> tuple[float, ...]:
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        return (lr / (1.0 - self.beta1**t), wd)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        m, u = state
        grad = clip_python(
            jnp, rescale.astype(weight.dtype) * grad + wd * weight, self.clip_gradient
        )
        m = self.beta1 * m + (1 - self.beta1) * grad
        u = jnp.maximum(self.beta2 * u, jnp.abs(grad))
        return weight - lr * m / u, (m, u)


@register
class Nadam(Optimizer):
    """Nesterov Adam with MXNet's warming momentum schedule.

    NOTE: as in MXNet, `m_schedule` is one running product shared by all parameters: it
    advances once per parameter update, in the order the updates happen.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        schedule_decay: float = 0.004,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.0

    def create_state(self, index: Any, weight: Any) -> Any:
        return (zeros_like(weight), zeros_like(weight))

    def _scalars(self, index: Any) -> tuple[float, ...]:
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        momentum_t = self.beta1 * (1.0 - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1.0 - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t
        m_schedule_next = self.m_schedule * momentum_t_1
        v_correction = 1.0 - pow(self.beta2, t)
        return (lr, wd, momentum_t, momentum_t_1, self.m_schedule, m_schedule_next, v_correction)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        momentum_t, momentum_t_1 = scalar(scalars, 2, weight), scalar(scalars, 3, weight)
        m_schedule, m_schedule_next = scalar(scalars, 4, weight), scalar(scalars, 5, weight)
        v_correction = scalar(scalars, 6, weight)
        m, v = state
        grad = clip_python(
            jnp, rescale.astype(weight.dtype) * grad + wd * weight, self.clip_gradient
        )
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        grad_prime = grad / (1 - m_schedule)
        m_prime = m / (1 - m_schedule_next)
        v_prime = v / v_correction
        m_bar = (1 - momentum_t) * grad_prime + momentum_t_1 * m_prime
        return weight - lr * m_bar / (jnp.sqrt(v_prime) + self.epsilon), (m, v)


@register
class FTML(Optimizer):
    """Follow the Moving Leader (MXNet's ftml_update)::

    grad = clip(rescale_grad * grad + wd * weight, clip_gradient)
    v = beta2 * v + (1 - beta2) * grad**2
    d_t = (1 - beta1**t) / lr * (sqrt(v / (1 - beta2**t)) + epsilon)
    z = beta1 * z + (1 - beta1) * grad - (d_t - beta1 * d) * weight
    weight = -z / d_t
    """

    def __init__(
        self, beta1: float = 0.6, beta2: float = 0.999, epsilon: float = 1e-8, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index: Any, weight: Any) -> Any:
        return (zeros_like(weight), zeros_like(weight), zeros_like(weight))  # d, v, z

    def _scalars(self, index: Any) -> tuple[float, ...]:
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        return (lr, wd, 1.0 - self.beta1**t, 1.0 - self.beta2**t)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        correction1, correction2 = scalar(scalars, 2, weight), scalar(scalars, 3, weight)
        d, v, z = state
        grad = clip(jnp, rescale.astype(weight.dtype) * grad + wd * weight, self.clip_gradient)
        v = self.beta2 * v + (1 - self.beta2) * jnp.square(grad)
        d_t = correction1 / lr * (jnp.sqrt(v / correction2) + self.epsilon)
        z = self.beta1 * z + (1 - self.beta1) * grad - (d_t - self.beta1 * d) * weight
        return -z / d_t, (d_t, v, z)
