"""Per-coordinate adaptive optimizers: AdaGrad, RMSProp (plain and centered) and AdaDelta,
with MXNet 1.9's formulas (AdaGrad and AdaDelta are Python-side in MXNet; RMSProp is the
rmsprop_update / rmspropalex_update kernels)."""

from __future__ import annotations

from typing import Any

from hybrix.optimizer.optimizer import (
    Optimizer,
    clip,
    clip_python,
    register,
    scalar,
    zeros_like,
)

__all__ = ["AdaDelta", "AdaGrad", "RMSProp"]


@register
class AdaGrad(Optimizer):
    """AdaGrad::

    grad = clip(rescale_grad * grad, clip_gradient)
    history = history + grad**2
    weight = weight - lr * (grad / sqrt(history + eps) + wd * weight)
    """

    def __init__(self, eps: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index: Any, weight: Any) -> Any:
        return zeros_like(weight)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        grad = clip_python(jnp, rescale.astype(weight.dtype) * grad, self.clip_gradient)
        history = state + jnp.square(grad)
        div = grad / jnp.sqrt(history + self.float_stable_eps)
        return weight + (div + weight * wd) * -lr, history


@register
class RMSProp(Optimizer):
    """RMSProp: Tieleman & Hinton's, or Graves's centered version (`centered=True`)::

    grad = clip(rescale_grad * grad + wd * weight, clip_gradient)
    n = (1 - gamma1) * grad**2 + gamma1 * n
    plain:     weight = weight - lr * grad / sqrt(n + epsilon)
    centered:  g = (1 - gamma1) * grad + gamma1 * g
               delta = gamma2 * delta - lr * grad / sqrt(n - g**2 + epsilon)
               weight = weight + delta
    then weight is clipped to [-clip_weights, clip_weights] when clip_weights is set.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        gamma1: float = 0.9,
        gamma2: float = 0.9,
        epsilon: float = 1e-8,
        centered: bool = False,
        clip_weights: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index: Any, weight: Any) -> Any:
        if self.centered:
            return (zeros_like(weight), zeros_like(weight), zeros_like(weight))  # n, g, delta
        return (zeros_like(weight),)

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        grad = clip(jnp, rescale.astype(weight.dtype) * grad + wd * weight, self.clip_gradient)
        n = (1 - self.gamma1) * jnp.square(grad) + self.gamma1 * state[0]
        if not self.centered:
            new_weight = weight - lr * grad / jnp.sqrt(n + self.epsilon)
            return clip(jnp, new_weight, self.clip_weights), (n,)
        g = (1 - self.gamma1) * grad + self.gamma1 * state[1]
        delta = self.gamma2 * state[2] - lr * grad / jnp.sqrt(n - jnp.square(g) + self.epsilon)
        return clip(jnp, weight + delta, self.clip_weights), (n, g, delta)


@register
class AdaDelta(Optimizer):
    """AdaDelta (no learning rate, as in MXNet)::

    grad = clip(rescale_grad * grad, clip_gradient)
    acc_g = rho * acc_g + (1 - rho) * grad**2
    delta = sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * grad
    acc_delta = rho * acc_delta + (1 - rho) * delta**2
    weight = weight - (delta + wd * weight)
    """

    def __init__(self, rho: float = 0.90, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index: Any, weight: Any) -> Any:
        return (zeros_like(weight), zeros_like(weight))  # accumulated g, accumulated delta

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        wd = scalar(scalars, 1, weight)
        acc_g, acc_delta = state
        grad = clip_python(jnp, rescale.astype(weight.dtype) * grad, self.clip_gradient)
        acc_g = self.rho * acc_g + (1 - self.rho) * grad * grad
        delta = jnp.sqrt(acc_delta + self.epsilon) / jnp.sqrt(acc_g + self.epsilon) * grad
        acc_delta = self.rho * acc_delta + (1 - self.rho) * delta * delta
        return weight - (delta + wd * weight), (acc_g, acc_delta)
